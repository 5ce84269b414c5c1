import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { InputError } from '../../src/errors';
import { djangoApparel } from '../../src/datasets/django-apparel';
import { col, defineSource } from '../../src/sources/columns';
import type { SourceSpec } from '../../src/sources/types';
import { checkHeader, describeRowErrors, validateRecord } from '../../src/sources/validate';

function source(name: string): SourceSpec {
  const spec = djangoApparel.sources.find((s) => s.name === name);
  assert.ok(spec, `no source ${name}`);
  return spec;
}

const orders = source('orders');
const orderDetails = source('order_details');
const products = source('products');
const customers = source('customers');
const ORDERS_HEADER = ['order_id', 'order_date', 'customer_id', 'province_id', 'city_id'];

/** Runs checkHeader and returns the InputError it throws. */
function headerError(spec: SourceSpec, header: string[], file: string): InputError {
  try {
    checkHeader(spec, header, file);
  } catch (err) {
    assert.ok(err instanceof InputError, `expected an InputError, got ${String(err)}`);
    assert.equal(err.type, 'SourceHeaderMismatch');
    return err;
  }
  assert.fail(`checkHeader accepted ${JSON.stringify(header)}`);
}

/** Validates a record expected to fail and returns the described message. */
function rowMessage(spec: SourceSpec, file: string, row: number, values: Record<string, unknown>): string {
  const result = validateRecord(spec, { row, values });
  assert.equal(result.ok, false, `expected row ${row} to be rejected`);
  if (result.ok) throw new Error('unreachable');
  return describeRowErrors(file, row, result.errors);
}

void describe('checkHeader', () => {
  void test('accepts the exact columns, in any order, after trimming', () => {
    checkHeader(orders, ORDERS_HEADER, 'orders.csv');
    checkHeader(orders, [...ORDERS_HEADER].reverse(), 'orders.csv');
    checkHeader(orders, ORDERS_HEADER.map((c) => ` ${c}\t`), 'orders.csv');
  });

  void test('missing column', () => {
    const err = headerError(orders, ORDERS_HEADER.slice(0, 4), 'orders.csv');
    assert.equal(err.message, 'orders.csv: header does not match source "orders": missing column(s) city_id');
    assert.deepEqual(err.details.missing, ['city_id']);
  });

  void test('extra column', () => {
    const err = headerError(orders, [...ORDERS_HEADER, 'note'], 'orders.csv');
    assert.equal(err.message, 'orders.csv: header does not match source "orders": unexpected column(s) note');
    assert.deepEqual(err.details.unexpected, ['note']);
  });

  void test('renamed column: missing plus unexpected', () => {
    const err = headerError(orders, ['order_id', 'order_date', 'customer_id', 'province_id', 'town_id'], 'orders.csv');
    assert.equal(err.message, 'orders.csv: header does not match source "orders": missing column(s) city_id; unexpected column(s) town_id');
  });

  void test('renamed by case only: compared case-sensitively, with a hint', () => {
    const err = headerError(orders, ['Order_ID', 'order_date', 'customer_id', 'province_id', 'city_id'], 'orders.csv');
    assert.equal(
      err.message,
      'orders.csv: header does not match source "orders": missing column(s) order_id; unexpected column(s) Order_ID; did you mean: Order_ID -> order_id?',
    );
  });

  void test('duplicated column', () => {
    const err = headerError(orders, [...ORDERS_HEADER, 'customer_id'], 'orders.csv');
    assert.equal(err.message, 'orders.csv: header does not match source "orders": duplicated column(s) customer_id');
    assert.deepEqual(err.details.duplicated, ['customer_id']);
  });

  void test('everything at once, odd names quoted, blank names shown as (blank)', () => {
    const err = headerError(orderDetails, ['order_detail_id', 'order_id', 'order_id', 'qty', 'price\nx', '', 'unit_sales'], 'in/order_details.csv');
    assert.equal(
      err.message,
      'in/order_details.csv: header does not match source "order_details": missing column(s) product_id, item_price; ' +
        'unexpected column(s) "price\\nx", (blank); duplicated column(s) order_id',
    );
  });

  void test('a long list is cut short', () => {
    const extra = Array.from({ length: 30 }, (_, i) => `extra_${i}`);
    const err = headerError(orders, [...ORDERS_HEADER, ...extra], 'orders.csv');
    assert.match(err.message, /unexpected column\(s\) extra_0, extra_1, .*extra_19 and 10 more$/);
    assert.equal((err.details.unexpected as string[]).length, 30);
  });
});

void describe('validateRecord', () => {
  void test('a valid CSV record is coerced to typed values', () => {
    const result = validateRecord(orderDetails, {
      row: 1,
      values: { order_detail_id: '10000', order_id: '1', product_id: '38', qty: '2', item_price: '40000', unit_sales: '80000' },
    });
    assert.deepEqual(result, {
      ok: true,
      // numerics stay exact decimal text (issue 9: never through a lossy JavaScript number)
      row: { order_detail_id: 10000, order_id: 1, product_id: 38, qty: 2, item_price: '40000', unit_sales: '80000' },
    });
  });

  void test('timestamps from text, bigints from Parquet, blanks in optional columns, extra values ignored', () => {
    const ok = validateRecord(orders, {
      row: 1,
      values: { order_id: '1', order_date: '2022-01-31 23:59:59.500', customer_id: '171', province_id: '10', city_id: '184' },
    });
    assert.ok(ok.ok);
    assert.equal((ok.row.order_date as Date).toISOString(), '2022-01-31T23:59:59.500Z');
    const customer = validateRecord(customers, { row: 3, values: { customer_id: 3n, first_name: ' Ann ', last_name: '', gender: null, extra: 'x' } });
    assert.deepEqual(customer, { ok: true, row: { customer_id: 3, first_name: 'Ann', last_name: null, gender: null } });
  });

  void test('wrong type names file, row, column and value', () => {
    assert.equal(
      rowMessage(orderDetails, 'order_details.csv', 17, {
        order_detail_id: '10016',
        order_id: '9',
        product_id: '3',
        qty: 'abc',
        item_price: '40000',
        unit_sales: '40000',
      }),
      'order_details.csv row 17: column qty: expected an integer (got "abc")',
    );
    assert.equal(
      rowMessage(orderDetails, 'order_details.csv', 18, {
        order_detail_id: '10017',
        order_id: '9',
        product_id: '3',
        qty: '1.5',
        item_price: '40000',
        unit_sales: '60000',
      }),
      'order_details.csv row 18: column qty: expected an integer (got "1.5")',
    );
  });

  void test('every broken column is reported, not just the first', () => {
    const result = validateRecord(products, {
      row: 5,
      values: { product_id: 'x', product_name: 'Hoodie', size: 'L', price: 'cheap', product_category_id: '' },
    });
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.deepEqual(result.errors, [
      { column: 'product_id', value: 'x', message: 'expected an integer' },
      { column: 'price', value: 'cheap', message: 'expected a number' },
      { column: 'product_category_id', value: '', message: 'a value is required' },
    ]);
    assert.equal(
      describeRowErrors('products.json', 5, result.errors),
      'products.json row 5: column product_id: expected an integer (got "x"); column price: expected a number (got "cheap"); ' +
        'column product_category_id: a value is required (got (blank))',
    );
  });

  void test('blank required field (empty, whitespace or null)', () => {
    const base = { product_id: 1, product_name: 'Hoodie', size: 'L', price: 1000, product_category_id: 1 };
    assert.equal(
      rowMessage(products, 'products.json', 2, { ...base, product_name: '' }),
      'products.json row 2: column product_name: a value is required (got (blank))',
    );
    assert.equal(
      rowMessage(products, 'products.json', 3, { ...base, size: '   ' }),
      'products.json row 3: column size: a value is required (got "   ")',
    );
    assert.equal(
      rowMessage(customers, 'customers.parquet', 4, { customer_id: 4n, first_name: null, last_name: 'Lee', gender: 'Female' }),
      'customers.parquet row 4: column first_name: a value is required (got (blank))',
    );
  });

  void test('impossible date 2022-02-30', () => {
    assert.equal(
      rowMessage(orders, 'orders.csv', 42, {
        order_id: '42',
        order_date: '2022-02-30 00:00:00.000',
        customer_id: '1',
        province_id: '1',
        city_id: '1',
      }),
      'orders.csv row 42: column order_date: expected a date (YYYY-MM-DD[ HH:MM[:SS[.fff]]]) (got "2022-02-30 00:00:00.000")',
    );
    assert.match(
      rowMessage(orders, 'orders.csv', 43, { order_id: '43', order_date: '30/01/2022', customer_id: '1', province_id: '1', city_id: '1' }),
      /^orders\.csv row 43: column order_date: expected a date .* \(got "30\/01\/2022"\)$/,
    );
  });

  void test('unit_sales must equal qty × item_price', () => {
    assert.equal(
      rowMessage(orderDetails, 'order_details.csv', 17, {
        order_detail_id: '10016',
        order_id: '9',
        product_id: '3',
        qty: '2',
        item_price: '40000',
        unit_sales: '50000',
      }),
      'order_details.csv row 17: column unit_sales: unit_sales 50000 is not qty × item_price = 80000 (got "50000")',
    );
  });

  void test('cross-column messages coexist with several rules; excel numbers and dates pass', () => {
    const spec = defineSource({
      name: 'events',
      file: 'events.xlsx',
      format: 'excel',
      columns: { id: col.int(), at: col.timestamp(), amount: col.numeric(), note: col.optional(col.text()) },
      primaryKey: ['id'],
      refine: (row) =>
        Number(row.amount) < 0
          ? [
              { column: 'amount', message: 'amount must not be negative' },
              { column: 'note', message: 'a negative amount needs a note' },
            ]
          : [],
    });
    const at = new Date(Date.UTC(2024, 0, 2));
    assert.deepEqual(validateRecord(spec, { row: 1, values: { id: 1, at, amount: 2.5, note: null } }), {
      ok: true,
      row: { id: 1, at, amount: '2.5', note: null },
    });
    assert.equal(
      rowMessage(spec, 'events.xlsx', 9, { id: 2, at, amount: -1, note: '' }),
      'events.xlsx row 9: column amount: amount must not be negative (got -1); column note: a negative amount needs a note (got (blank))',
    );
    // an Excel error cell is never accepted as text
    assert.equal(
      rowMessage(spec, 'events.xlsx', 10, { id: 3, at, amount: 1, note: { error: '#N/A' } }),
      'events.xlsx row 10: column note: expected text (got {"error":"#N/A"})',
    );
  });

  void test('long values are shortened in messages', () => {
    const message = rowMessage(orders, 'orders.csv', 7, { order_id: 'x'.repeat(500), order_date: '2022-01-01', customer_id: '1', province_id: '1', city_id: '1' });
    assert.ok(message.length < 200, message);
    assert.match(message, /^orders\.csv row 7: column order_id: expected an integer \(got "x{20,}\.\.\.\)$/);
  });
});
