import { col, defineSource } from '../sources/columns';
import { defineDataset } from './define';
import type { DatasetSpec, ModelSpec } from './types';

// The Superstore retailer's monthly delivery: three workbooks as the shared folder holds them, headers as people
// wrote them ("Row ID", "Sub-Category") mapped to snake_case staging columns with col.from. See docs/superstore.md.

const { from } = col;

const sources = [
  defineSource({
    name: 'orders',
    file: 'Dataset Superstore Orders - BI Engineer.xlsx',
    format: 'excel',
    columns: {
      row_id: from('Row ID', col.int()),
      order_id: from('Order ID', col.text()),
      order_date: from('Order Date', col.date()),
      ship_date: from('Ship Date', col.date()),
      ship_mode: from('Ship Mode', col.text()),
      customer_id: from('Customer ID', col.text()),
      country: from('Country', col.text()),
      city: from('City', col.text()),
      state: from('State', col.text()),
      postal_code: from('Postal Code', col.optional(col.text())),
      region: from('Region', col.text()),
      product_id: from('Product ID', col.text()),
      sales: from('Sales', col.numeric()),
      quantity: from('Quantity', col.int()),
      discount: from('Discount', col.numeric()),
      profit: from('Profit', col.numeric()),
    },
    primaryKey: ['row_id'],
    refine: (row) => {
      const issues: { column: string; message: string }[] = [];
      if ((row.quantity as number) <= 0) issues.push({ column: 'quantity', message: 'quantity must be positive' });
      const discount = row.discount as number;
      if (discount < 0 || discount >= 1) issues.push({ column: 'discount', message: 'discount must be a fraction in [0, 1)' });
      if ((row.ship_date as Date) < (row.order_date as Date)) issues.push({ column: 'ship_date', message: 'ship date is before the order date' });
      return issues;
    },
  }),
  defineSource({
    name: 'customers',
    file: 'Dataset Superstore Customers - BI Engineer.xlsx',
    format: 'excel',
    columns: {
      customer_id: from('Customer ID', col.text()),
      customer_name: from('Customer Name', col.text()),
      segment: from('Segment', col.text()),
    },
    primaryKey: ['customer_id'],
  }),
  defineSource({
    name: 'categories',
    file: 'Dataset Superstore Categories - BI Engineer.xlsx',
    format: 'excel',
    columns: {
      product_id: from('Product ID', col.text()),
      category: from('Category', col.text()),
      sub_category: from('Sub-Category', col.text()),
      product_name: from('Product Name', col.text()),
    },
    // A product id may come with several names (a data-quality finding, see docs/superstore.md): one row per name.
    primaryKey: ['product_id', 'product_name'],
  }),
];

const model = (layer: string, name: string, schema: string): ModelSpec => ({
  name,
  file: `models/superstore/${layer}/${name}.sql`,
  table: `${schema}.${name}`,
});
const test = (name: string) => `models/superstore/tests/${name}.sql`;

const DW = 'superstore_dw';
const MART = 'superstore_mart';

export const superstore: DatasetSpec = defineDataset({
  name: 'superstore',
  description: 'Superstore retailer: 3 monthly workbooks into a star schema with customer and product history (SCD2), sales KPI and RFM marts',
  schemas: { staging: 'superstore_staging', warehouse: DW, mart: MART },
  partitionsQuery: 'models/superstore/partitions.sql',
  findingsQuery: 'models/superstore/findings.sql',
  defaultSource: 'dataset/superstore',
  generator: 'dataset/generate/superstore.ts',
  sources,
  layers: [
    {
      name: 'dimensions',
      models: [
        model('dimensions', 'dim_date', DW),
        model('dimensions', 'dim_customer', DW),
        model('dimensions', 'dim_product', DW),
        model('dimensions', 'dim_geography', DW),
        model('dimensions', 'dim_ship_mode', DW),
      ],
      tests: [test('dim_customer_history'), test('dim_product_history')],
    },
    {
      name: 'facts',
      models: [model('facts', 'fct_sales', DW)],
      tests: [test('fct_sales_reconciles_with_staging')],
    },
    {
      name: 'marts',
      models: [
        model('marts', 'sales_kpi_yearly', MART),
        model('marts', 'sales_kpi_monthly', MART),
        model('marts', 'sales_kpi_by_dimension', MART),
        model('marts', 'rfm_customers', MART),
      ],
      tests: [test('sales_kpis_reconcile_with_fact'), test('rfm_customers_reconcile_with_fact')],
    },
    {
      // A layer of its own: it reads rfm_customers as built by this run (models of one layer build side by side).
      name: 'segments',
      models: [model('marts', 'rfm_segments', MART)],
      tests: [test('rfm_segments_reconcile_with_customers')],
    },
  ],
  headlines: [
    {
      title: 'Sales by year (superstore_mart.sales_kpi_yearly)',
      sql: `SELECT year, sales, profit, profit_margin_pct, orders, customers, average_order_value, sales_yoy_growth_pct
            FROM superstore_mart.sales_kpi_yearly ORDER BY year`,
    },
    {
      title: 'RFM segments at the latest as_of (superstore_mart.rfm_segments)',
      sql: `SELECT as_of, rfm_segment, customers, customers_share_pct, monetary, monetary_share_pct
            FROM superstore_mart.rfm_segments
            WHERE as_of = (SELECT max(as_of) FROM superstore_mart.rfm_segments)
            ORDER BY customers DESC, rfm_segment`,
    },
    {
      title: 'History (superstore_dw.dim_customer, dim_product)',
      sql: `SELECT (SELECT count(*) FROM superstore_dw.dim_customer WHERE customer_key <> -1) AS customer_versions,
                   (SELECT count(*) FROM superstore_dw.dim_customer WHERE is_current AND customer_key <> -1) AS customers,
                   (SELECT count(*) FROM superstore_dw.dim_product WHERE product_key <> -1) AS product_versions,
                   (SELECT count(*) FROM superstore_dw.dim_product WHERE is_current AND product_key <> -1) AS products,
                   (SELECT count(*) FROM superstore_dw.fct_sales) AS order_lines`,
    },
  ],
});
