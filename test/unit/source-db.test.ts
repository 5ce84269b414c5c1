import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { keyRanges, periodBounds } from '../../src/ingest/db/read';
import { trimDecimal, whereClause } from '../../src/ingest/db/source';
import { hasPassword, parseSourceDbUrl, resolveSourceDb, sourceDbLocator } from '../../src/sources/database';

void describe('source database locators', () => {
  void test('a locator never carries the password, in one canonical spelling', () => {
    assert.equal(sourceDbLocator('postgresql://shop:pw@db.local/shop'), 'postgres://shop@db.local:5432/shop');
    assert.equal(sourceDbLocator('mysql://root:x@127.0.0.1/shop'), 'mariadb://root@127.0.0.1:3306/shop');
    assert.equal(hasPassword('mariadb://root:x@127.0.0.1/shop'), true);
    assert.throws(() => parseSourceDbUrl('sqlite:///tmp/x'), /expected postgres:\/\/ or mariadb:\/\//);
    assert.throws(() => parseSourceDbUrl('postgres://u:secret@h/'), (e: Error) => !e.message.includes('secret') && /one database/.test(e.message));
  });

  void test('the worker finds the password in its own environment, and refuses one that came with the run', () => {
    const env = { GUDANG_SOURCE_DB_URL: 'postgres://other:o@h:5432/x mariadb://shop:pw@db:3306/shop' };
    assert.equal(resolveSourceDb('mariadb://shop@db:3306/shop', env).password, 'pw');
    assert.equal(resolveSourceDb('mariadb://shop@db:3307/shop', env).password, undefined);
    assert.equal(resolveSourceDb('mariadb://shop@db:3307/shop', { GUDANG_SOURCE_DB_PASSWORD: 'p2' }).password, 'p2');
    assert.throws(() => resolveSourceDb('mariadb://shop:pw@db:3306/shop', env), (e: Error) => !e.message.includes(':pw@') && /carries a password/.test(e.message));
  });
});

void describe('database reads', () => {
  void test('key ranges cover [min, max] without gaps or overlaps', () => {
    const r = keyRanges(10, 1009, 1000, 300);
    assert.equal(r.length, 4);
    assert.equal(r[0]!.byteStart, 10);
    assert.equal(r.at(-1)!.byteEnd, 1010);
    for (let i = 1; i < r.length; i++) assert.equal(r[i]!.byteStart, r[i - 1]!.byteEnd);
    assert.deepEqual(keyRanges(0, -1, 0, 300), [{ chunk: 0, byteStart: 0, byteEnd: 0 }]);
  });

  void test('a period read filters by its own date column or through its parent row', () => {
    assert.deepEqual(periodBounds('2022-12'), { starts: '2022-12-01 00:00:00', ends: '2023-01-01 00:00:00' });
    const own = whereClause('postgres', { table: 'orders', columns: ['order_id'], key: 'order_id', period: { ...periodBounds('2022-03'), column: 'order_date' } }, 1, 5);
    assert.equal(own, `WHERE t."order_id" >= 1 AND t."order_id" < 5 AND t."order_date" >= '2022-03-01 00:00:00' AND t."order_date" < '2022-04-01 00:00:00'`);
    const via = whereClause('mariadb', {
      table: 'order_details',
      columns: ['order_detail_id'],
      key: 'order_detail_id',
      period: { ...periodBounds('2022-03'), via: { table: 'orders', foreignKey: 'order_id', key: 'order_id', column: 'order_date' } },
    });
    assert.match(via, /^WHERE EXISTS \(SELECT 1 FROM `orders` p WHERE p\.`order_id` = t\.`order_id` AND p\.`order_date` >= '2022-03-01 00:00:00'/);
    assert.throws(() => whereClause('postgres', { table: 't', columns: [], key: 'k' }, 1.5, 2), /not a safe integer/);
    const wm = whereClause('postgres', { table: 'orders', columns: ['order_id'], key: 'order_id', watermark: { column: 'updated_at', above: "2022-03-01 10:00:00.123456", upTo: "2022-03-02 00:00:00" } });
    assert.equal(wm, `WHERE t."updated_at" > '2022-03-01 10:00:00.123456' AND t."updated_at" <= '2022-03-02 00:00:00'`);
    const quoted = whereClause('mariadb', { table: 'orders', columns: ['order_id'], key: 'order_id', watermark: { column: 'note', above: "it's a \\" } });
    assert.equal(quoted, "WHERE t.`note` > 'it''s a \\\\'", 'a watermark value is a quoted literal (backslash doubled for MariaDB)');
  });

  void test('decimals as the server prints them lose trailing fraction zeros (the form the CSV fast path takes)', () => {
    assert.deepEqual(['795000.00', '12.50', '-0.10', '7', '100', '0.00', '10.05'].map(trimDecimal), ['795000', '12.5', '-0.1', '7', '100', '0', '10.05']);
  });
});
