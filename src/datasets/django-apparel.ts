import { col, defineSource } from '../sources/columns';
import { defineDataset, layersOf } from './define';
import type { DatasetSpec } from './types';

const sources = [
  defineSource({
    name: 'product_categories',
    file: 'product_categories.json',
    format: 'json',
    columns: { product_category_id: col.int(), product_category_name: col.text() },
    primaryKey: ['product_category_id'],
  }),
  defineSource({
    name: 'products',
    file: 'products.json',
    format: 'json',
    columns: {
      product_id: col.int(),
      product_name: col.text(),
      size: col.text(),
      price: col.numeric(),
      product_category_id: col.int(),
    },
    primaryKey: ['product_id'],
  }),
  defineSource({
    name: 'customers',
    file: 'customers.parquet',
    format: 'parquet',
    columns: { customer_id: col.int(), first_name: col.text(), last_name: col.optional(col.text()), gender: col.optional(col.text()) },
    primaryKey: ['customer_id'],
  }),
  defineSource({
    name: 'provinces',
    file: 'provinces.xlsx',
    format: 'excel',
    columns: { province_id: col.int(), province_names: col.text() },
    primaryKey: ['province_id'],
  }),
  defineSource({
    name: 'cities',
    file: 'cities.xlsx',
    format: 'excel',
    columns: { city_id: col.int(), city_names: col.text(), province_id: col.int() },
    primaryKey: ['city_id'],
  }),
  defineSource({
    name: 'orders',
    file: 'orders.csv',
    format: 'csv',
    columns: {
      order_id: col.int(),
      order_date: col.timestamp(),
      customer_id: col.int(),
      province_id: col.int(),
      city_id: col.int(),
    },
    primaryKey: ['order_id'],
    database: { periodColumn: 'order_date' },
  }),
  defineSource({
    name: 'order_details',
    file: 'order_details.csv',
    format: 'csv',
    columns: {
      order_detail_id: col.int(),
      order_id: col.int(),
      product_id: col.int(),
      qty: col.int(),
      item_price: col.numeric(),
      unit_sales: col.numeric(),
    },
    primaryKey: ['order_detail_id'],
    database: { periodVia: { table: 'orders', foreignKey: 'order_id', key: 'order_id', column: 'order_date' } },
    refine: (row) => {
      const issues: { column: string; message: string }[] = [];
      // ints arrive as numbers (bigints beyond 2^53), numerics as their exact decimal text
      const qty = Number(row.qty);
      const price = Number(row.item_price);
      const sales = Number(row.unit_sales);
      if (qty <= 0) issues.push({ column: 'qty', message: 'quantity must be positive' });
      if (price < 0) issues.push({ column: 'item_price', message: 'price must not be negative' });
      if (Math.abs(qty * price - sales) > 0.005) {
        issues.push({ column: 'unit_sales', message: `unit_sales ${String(row.unit_sales)} is not qty × item_price = ${qty * price}` });
      }
      return issues;
    },
  }),
];

const schemas = { staging: 'staging', warehouse: 'warehouse', mart: 'mart' };
const layer = layersOf('django-apparel');

export const djangoApparel: DatasetSpec = defineDataset({
  name: 'django-apparel',
  description: 'Django Apparel online clothing store: 7 source tables into a sales star schema and two datamarts',
  schemas,
  partitionsQuery: 'models/django-apparel/partitions.sql',
  defaultSource: 'dataset',
  generator: 'dataset/generate/django-apparel.ts',
  sources,
  relations: [
    // an order line is part of its order: rejected with it
    { child: 'order_details', columns: ['order_id'], parent: 'orders', parentColumns: ['order_id'], onParentRejected: 'quarantine' },
    // references to dimensions: unknown member, counted as orphans
    { child: 'order_details', columns: ['product_id'], parent: 'products', parentColumns: ['product_id'], onParentRejected: 'keep' },
    { child: 'orders', columns: ['customer_id'], parent: 'customers', parentColumns: ['customer_id'], onParentRejected: 'keep' },
    { child: 'orders', columns: ['city_id'], parent: 'cities', parentColumns: ['city_id'], onParentRejected: 'keep' },
    { child: 'orders', columns: ['province_id'], parent: 'provinces', parentColumns: ['province_id'], onParentRejected: 'keep' },
    { child: 'cities', columns: ['province_id'], parent: 'provinces', parentColumns: ['province_id'], onParentRejected: 'keep' },
    { child: 'products', columns: ['product_category_id'], parent: 'product_categories', parentColumns: ['product_category_id'], onParentRejected: 'keep' },
  ],
  layers: [
    layer('dimensions', schemas.warehouse, ['dim_date', 'dim_customers', 'dim_products', 'dim_locations']),
    layer('facts', schemas.warehouse, ['fct_transactions'], ['fct_transactions_reconciles_with_staging']),
    layer('marts', schemas.mart, ['dm_perfomance_product_by_cities_monthly', 'dm_perfomance_product_by_cities', 'dm_revenue_by_months'], [
      'dm_revenue_by_months_reconciles_with_fact',
      'dm_perfomance_product_by_cities_reconciles_with_fact',
      'dm_perfomance_product_by_cities_monthly_reconciles',
    ]),
  ],
  stream: { sources: ['orders', 'order_details'], unit: 'order_id', apply: 'models/django-apparel/stream/apply.sql', indexed: ['warehouse.fct_transactions'] },
  headlines: [
    {
      title: 'Revenue by month (mart.dm_revenue_by_months)',
      sql: `SELECT to_char(month, 'YYYY-MM') AS month, total_revenue, total_orders, total_quantity, average_order_value
            FROM mart.dm_revenue_by_months ORDER BY month`,
    },
    {
      title: 'Top 5 products by city (mart.dm_perfomance_product_by_cities)',
      sql: `SELECT city_name, province_name, product_name, size, total_quantity, total_sales, total_orders
            FROM mart.dm_perfomance_product_by_cities ORDER BY total_sales DESC, city_id, product_id LIMIT 5`,
    },
    {
      title: 'Totals',
      sql: `SELECT (SELECT count(*) FROM mart.dm_perfomance_product_by_cities) AS city_product_rows,
                   (SELECT sum(total_sales) FROM mart.dm_perfomance_product_by_cities) AS sales_by_city_product,
                   (SELECT sum(total_revenue) FROM mart.dm_revenue_by_months) AS revenue_by_month,
                   (SELECT sum(total_orders) FROM mart.dm_revenue_by_months) AS orders`,
    },
  ],
});
