import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeDelivery } from '../../dataset/generate/superstore';
import type { CategoryRow, CustomerRow, OrderLine } from '../../dataset/generate/superstore';

// Small monthly Superstore deliveries written by the tests: three workbooks with the real files' names, sheets and
// headers, holding exactly the customers, products and order lines a test describes.

export type Customers = Record<string, [name: string, segment: string]>;
export type Products = [id: string, name: string][];
export type Orders = [rowId: number, date: string, customerId: string, productId: string, sales: number, profit: number][];

export async function delivery(customers: Customers, products: Products, orders: Orders): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gudang-superstore-'));
  const customerRows: CustomerRow[] = Object.entries(customers).map(([customerId, [customerName, segment]]) => ({ customerId, customerName, segment }));
  const categoryRows: CategoryRow[] = products.map(([productId, productName]) => ({ productId, category: 'Furniture', subCategory: 'Chairs', productName }));
  const lines: OrderLine[] = orders.map(([rowId, date, customerId, productId, sales, profit]) => ({
    rowId,
    orderId: `T-${rowId}`,
    orderDate: new Date(`${date}T00:00:00Z`),
    shipDate: new Date(`${date}T00:00:00Z`),
    shipMode: 'Standard Class',
    customerId,
    country: 'United States',
    city: 'Henderson',
    state: 'Kentucky',
    postalCode: 42420,
    region: 'South',
    productId,
    sales,
    quantity: 1,
    discount: 0,
    profit,
  }));
  await writeDelivery(dir, { orders: lines, customers: customerRows, categories: categoryRows });
  return dir;
}
