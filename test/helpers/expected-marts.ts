import ExcelJS from 'exceljs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

// An independent computation of both Django Apparel datamarts straight from the raw files:
// plain string splitting and JSON.parse, no pipeline code, no SQL. Tests compare the marts against it.

function parseCsv(text: string): Record<string, string>[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/).filter((l) => l.length > 0);
  const header = lines[0]!.split(',');
  return lines.slice(1).map((l) => {
    const cells = l.split(',');
    return Object.fromEntries(header.map((h, i) => [h, cells[i]!]));
  });
}

function pandasColumns(text: string): Record<string, unknown>[] {
  const obj = JSON.parse(text) as Record<string, Record<string, unknown>>;
  const cols = Object.keys(obj);
  const keys = Object.keys(obj[cols[0]!]!).sort((a, b) => Number(a) - Number(b));
  return keys.map((k) => Object.fromEntries(cols.map((c) => [c, obj[c]![k]])));
}

async function sheetRows(file: string): Promise<Record<string, unknown>[]> {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.readFile(file);
  const ws = wb.worksheets[0]!;
  const header = (ws.getRow(1).values as unknown[]).slice(1).map(String);
  const out: Record<string, unknown>[] = [];
  ws.eachRow((row, n) => {
    if (n === 1) return;
    const v = row.values as unknown[];
    out.push(Object.fromEntries(header.map((h, i) => [h, v[i + 1]])));
  });
  return out;
}

export interface ExpectedMonth {
  month: string; // YYYY-MM
  total_revenue: number;
  total_orders: number;
  total_quantity: number;
  average_order_value: number;
}

export interface ExpectedCityProduct {
  city_id: number;
  city_name: string;
  province_name: string;
  product_id: number;
  product_name: string;
  size: string;
  product_category_name: string;
  total_quantity: number;
  total_sales: number;
  total_orders: number;
}

export async function expectedMarts(dir: string): Promise<{ months: ExpectedMonth[]; cityProducts: ExpectedCityProduct[]; lines: number; sales: number }> {
  const orders = parseCsv(await readFile(path.join(dir, 'orders.csv'), 'utf8'));
  const details = parseCsv(await readFile(path.join(dir, 'order_details.csv'), 'utf8'));
  const products = pandasColumns(await readFile(path.join(dir, 'products.json'), 'utf8'));
  const categories = pandasColumns(await readFile(path.join(dir, 'product_categories.json'), 'utf8'));
  const cities = await sheetRows(path.join(dir, 'cities.xlsx'));
  const provinces = await sheetRows(path.join(dir, 'provinces.xlsx'));

  const orderById = new Map(orders.map((o) => [o.order_id!, o]));
  const productById = new Map(products.map((p) => [String(p.product_id), p]));
  const categoryById = new Map(categories.map((c) => [String(c.product_category_id), String(c.product_category_name)]));
  const cityById = new Map(cities.map((c) => [String(c.city_id), c]));
  const provinceById = new Map(provinces.map((p) => [String(p.province_id), String(p.province_names)]));

  const months = new Map<string, { revenue: number; orders: Set<string>; qty: number }>();
  const cityProducts = new Map<string, ExpectedCityProduct & { orders: Set<string> }>();
  let sales = 0;
  for (const d of details) {
    const order = orderById.get(d.order_id!)!;
    const month = order.order_date!.slice(0, 7);
    const qty = Number(d.qty);
    const unitSales = Number(d.unit_sales);
    sales += unitSales;
    const m = months.get(month) ?? { revenue: 0, orders: new Set<string>(), qty: 0 };
    m.revenue += unitSales;
    m.orders.add(d.order_id!);
    m.qty += qty;
    months.set(month, m);

    const key = `${order.city_id}|${d.product_id}`;
    let cp = cityProducts.get(key);
    if (!cp) {
      const city = cityById.get(order.city_id!)!;
      const product = productById.get(d.product_id!)!;
      cp = {
        city_id: Number(order.city_id),
        city_name: String(city.city_names),
        province_name: provinceById.get(String(city.province_id))!,
        product_id: Number(d.product_id),
        product_name: String(product.product_name),
        size: String(product.size),
        product_category_name: categoryById.get(String(product.product_category_id))!,
        total_quantity: 0,
        total_sales: 0,
        total_orders: 0,
        orders: new Set<string>(),
      };
      cityProducts.set(key, cp);
    }
    cp.total_quantity += qty;
    cp.total_sales += unitSales;
    cp.orders.add(d.order_id!);
  }
  return {
    lines: details.length,
    sales,
    months: [...months.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([month, m]) => ({
        month,
        total_revenue: m.revenue,
        total_orders: m.orders.size,
        total_quantity: m.qty,
        average_order_value: Math.round((m.revenue / m.orders.size) * 100) / 100,
      })),
    cityProducts: [...cityProducts.values()]
      .map(({ orders: o, ...rest }) => ({ ...rest, total_orders: o.size }))
      .sort((a, b) => a.city_id - b.city_id || a.product_id - b.product_id),
  };
}
