import ExcelJS from 'exceljs';
import path from 'node:path';

// An independent computation of the Superstore marts straight from the three workbooks (exceljs, plain loops, no
// pipeline code, no SQL), following the rules written in docs/superstore.md. Money is summed in integer units of
// 1/10000 so totals are exact, as PostgreSQL's numeric sums are.

export const WORKBOOK = {
  orders: 'Dataset Superstore Orders - BI Engineer.xlsx',
  customers: 'Dataset Superstore Customers - BI Engineer.xlsx',
  categories: 'Dataset Superstore Categories - BI Engineer.xlsx',
};

async function sheet(file: string): Promise<Record<string, unknown>[]> {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.readFile(file);
  const ws = wb.worksheets[0]!;
  const header = (ws.getRow(1).values as unknown[]).slice(1).map(String);
  const rows: Record<string, unknown>[] = [];
  ws.eachRow((row, n) => {
    if (n > 1) rows.push(Object.fromEntries(header.map((h, i) => [h, (row.values as unknown[])[i + 1]])));
  });
  return rows;
}

const units = (v: unknown) => Math.round(Number(v) * 10_000);
const money = (u: number) => u / 10_000;
const round2 = (x: number) => Math.round(x * 100) / 100;
const day = (v: unknown) => (v as Date).toISOString().slice(0, 10);

interface Totals {
  sales: number;
  profit: number;
  quantity: number;
  orders: Set<string>;
  customers: Set<string>;
}
const totals = (): Totals => ({ sales: 0, profit: 0, quantity: 0, orders: new Set(), customers: new Set() });

export interface KpiRow {
  key: string;
  sales: number;
  profit: number;
  quantity: number;
  orders: number;
  customers: number;
  profit_margin_pct: number | null;
  average_order_value: number | null;
  growth_pct: number | null;
}

export interface RfmRow {
  customer_id: string;
  customer_name: string;
  recency_days: number;
  frequency: number;
  monetary: number;
  r_score: number;
  f_score: number;
  m_score: number;
  rfm_segment: string;
}

export interface ExpectedSuperstore {
  lines: number;
  sales: number;
  profit: number;
  years: KpiRow[];
  months: KpiRow[];
  /** "year|dimension|member" -> sales, profit, quantity, orders, customers */
  byDimension: Map<string, { sales: number; profit: number; quantity: number; orders: number; customers: number }>;
  asOf: string;
  rfm: RfmRow[];
  /** product id -> its names, for ids with more than one */
  nameConflicts: Map<string, string[]>;
  /** product id -> order lines */
  productLines: Map<string, number>;
}

/** The standard recency x frequency segment map (docs/superstore.md). */
export function rfmSegment(r: number, f: number): string {
  if (r === 5 && f >= 4) return 'Champions';
  if (r >= 3 && r <= 4 && f >= 4) return 'Loyal';
  if (r >= 4 && f >= 2 && f <= 3) return 'Potential Loyalist';
  if (r === 5 && f === 1) return 'New';
  if (r === 4 && f === 1) return 'Promising';
  if (r === 3 && f === 3) return 'Need Attention';
  if (r === 3) return 'About to Sleep';
  if (f === 5) return 'Cannot Lose Them';
  if (f >= 3) return 'At Risk';
  if (r === 1 && f === 1) return 'Lost';
  return 'Hibernating';
}

/** Score 1..5 = ceil(5 * share of customers whose value is no better than this one's); `better(a, b)` a beats b. */
function scores<T>(items: T[], value: (t: T) => number, higherIsBetter: boolean): Map<T, number> {
  const out = new Map<T, number>();
  for (const t of items) {
    const v = value(t);
    const notBetter = items.filter((o) => (higherIsBetter ? value(o) <= v : value(o) >= v)).length;
    out.set(t, Math.ceil((5 * notBetter) / items.length));
  }
  return out;
}

function kpis(buckets: Map<string, Totals>, previousKey: (key: string) => string): KpiRow[] {
  return [...buckets.keys()].sort().map((key) => {
    const t = buckets.get(key)!;
    const prev = buckets.get(previousKey(key));
    const orders = t.orders.size;
    return {
      key,
      sales: money(t.sales),
      profit: money(t.profit),
      quantity: t.quantity,
      orders,
      customers: t.customers.size,
      profit_margin_pct: t.sales === 0 ? null : round2((100 * t.profit) / t.sales),
      average_order_value: orders === 0 ? null : round2(money(t.sales) / orders),
      growth_pct: prev && prev.sales !== 0 ? round2((100 * (t.sales - prev.sales)) / prev.sales) : null,
    };
  });
}

export async function expectedSuperstore(dir: string): Promise<ExpectedSuperstore> {
  const [orders, customers, categories] = await Promise.all([
    sheet(path.join(dir, WORKBOOK.orders)),
    sheet(path.join(dir, WORKBOOK.customers)),
    sheet(path.join(dir, WORKBOOK.categories)),
  ]);
  const customer = new Map(customers.map((c) => [String(c['Customer ID']), { name: String(c['Customer Name']), segment: String(c.Segment) }]));
  // One row per product id: the name first in byte order (JavaScript's default sort compares UTF-16 units, the
  // same order as bytes for these names).
  const names = new Map<string, string[]>();
  const product = new Map<string, { category: string; sub: string; name: string }>();
  for (const c of categories) {
    const id = String(c['Product ID']);
    const name = String(c['Product Name']);
    names.set(id, [...(names.get(id) ?? []), name].sort());
    const known = product.get(id);
    if (!known || name < known.name) product.set(id, { category: String(c.Category), sub: String(c['Sub-Category']), name });
  }

  const years = new Map<string, Totals>();
  const months = new Map<string, Totals>();
  const dims = new Map<string, Totals>();
  let sales = 0;
  let profit = 0;
  let latest = '';
  const productLines = new Map<string, number>();
  for (const o of orders) {
    productLines.set(String(o['Product ID']), (productLines.get(String(o['Product ID'])) ?? 0) + 1);
    const date = day(o['Order Date']);
    if (date > latest) latest = date;
    const s = units(o.Sales);
    const p = units(o.Profit);
    sales += s;
    profit += p;
    const prod = product.get(String(o['Product ID']))!;
    const members: [string, string][] = [
      ['segment', customer.get(String(o['Customer ID']))!.segment],
      ['region', String(o.Region)],
      ['category', prod.category],
      ['sub_category', prod.sub],
      ['ship_mode', String(o['Ship Mode'])],
    ];
    const buckets = [
      [years, date.slice(0, 4)],
      [months, date.slice(0, 7)],
      ...members.map(([d, m]) => [dims, `${date.slice(0, 4)}|${d}|${m}`] as const),
    ] as const;
    for (const [map, key] of buckets) {
      const t = map.get(key) ?? totals();
      t.sales += s;
      t.profit += p;
      t.quantity += Number(o.Quantity);
      t.orders.add(String(o['Order ID']));
      t.customers.add(String(o['Customer ID']));
      map.set(key, t);
    }
  }

  // RFM as of the last day of the month of the latest order
  const [ly, lm] = latest.split('-').map(Number) as [number, number];
  const asOf = new Date(Date.UTC(ly, lm, 0)).toISOString().slice(0, 10);
  const perCustomer = new Map<string, { last: string; orders: Set<string>; monetary: number }>();
  for (const o of orders) {
    const id = String(o['Customer ID']);
    const c = perCustomer.get(id) ?? { last: '', orders: new Set<string>(), monetary: 0 };
    const date = day(o['Order Date']);
    if (date > c.last) c.last = date;
    c.orders.add(String(o['Order ID']));
    c.monetary += units(o.Sales);
    perCustomer.set(id, c);
  }
  const ids = [...perCustomer.keys()];
  const recency = (id: string) => (Date.parse(asOf) - Date.parse(perCustomer.get(id)!.last)) / 86_400_000;
  const r = scores(ids, recency, false);
  const f = scores(ids, (id) => perCustomer.get(id)!.orders.size, true);
  const m = scores(ids, (id) => perCustomer.get(id)!.monetary, true);
  const rfm = ids.sort().map((id) => ({
    customer_id: id,
    customer_name: customer.get(id)!.name,
    recency_days: recency(id),
    frequency: perCustomer.get(id)!.orders.size,
    monetary: money(perCustomer.get(id)!.monetary),
    r_score: r.get(id)!,
    f_score: f.get(id)!,
    m_score: m.get(id)!,
    rfm_segment: rfmSegment(r.get(id)!, f.get(id)!),
  }));

  const previousMonth = (k: string) => {
    const [y, mo] = k.split('-').map(Number) as [number, number];
    return new Date(Date.UTC(y, mo - 2, 1)).toISOString().slice(0, 7);
  };
  return {
    lines: orders.length,
    sales: money(sales),
    profit: money(profit),
    years: kpis(years, (k) => String(Number(k) - 1)),
    months: kpis(months, previousMonth),
    byDimension: new Map(
      [...dims].map(([k, t]) => [k, { sales: money(t.sales), profit: money(t.profit), quantity: t.quantity, orders: t.orders.size, customers: t.customers.size }]),
    ),
    asOf,
    rfm,
    nameConflicts: new Map([...names].filter(([, n]) => n.length > 1)),
    productLines,
  };
}
