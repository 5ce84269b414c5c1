import { col, defineSource, type SourceDefinition } from '../sources/columns';
import type { ColumnSpec } from '../sources/types';
import { defineDataset, layersOf } from './define';
import type { DatasetSpec } from './types';

// The Superstore retailer's monthly delivery: three workbooks as the shared folder holds them, headers as people
// wrote them ("Row ID", "Sub-Category") naming snake_case staging columns (col.headed). See docs/superstore.md.

const { int, numeric, text, date, optional } = col;

/** One of the three workbooks, "Dataset Superstore <title> - BI Engineer.xlsx", its columns named by their headers. */
const workbook = (name: string, title: string, headers: Record<string, ColumnSpec>, rest: Pick<SourceDefinition, 'primaryKey' | 'refine'>) =>
  defineSource({ name, file: `Dataset Superstore ${title} - BI Engineer.xlsx`, format: 'excel', columns: col.headed(headers), ...rest });

const sources = [
  workbook('orders', 'Orders', {
    'Row ID': int(), 'Order ID': text(), 'Order Date': date(), 'Ship Date': date(), 'Ship Mode': text(), 'Customer ID': text(),
    Country: text(), City: text(), State: text(), 'Postal Code': optional(text()), Region: text(), 'Product ID': text(),
    Sales: numeric(), Quantity: int(), Discount: numeric(), Profit: numeric(),
  }, {
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
  workbook('customers', 'Customers', { 'Customer ID': text(), 'Customer Name': text(), Segment: text() }, { primaryKey: ['customer_id'] }),
  // A product id may come with several names (a data-quality finding, see docs/superstore.md): one row per name.
  workbook('categories', 'Categories', { 'Product ID': text(), Category: text(), 'Sub-Category': text(), 'Product Name': text() }, {
    primaryKey: ['product_id', 'product_name'],
  }),
];

const layer = layersOf('superstore');
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
    layer('dimensions', DW, ['dim_date', 'dim_customer', 'dim_product', 'dim_geography', 'dim_ship_mode'], ['dim_customer_history', 'dim_product_history']),
    layer('facts', DW, ['fct_sales'], ['fct_sales_reconciles_with_staging']),
    layer('marts', MART, ['sales_kpi_yearly', 'sales_kpi_monthly', 'sales_kpi_by_dimension', 'rfm_customers'], ['sales_kpis_reconcile_with_fact', 'rfm_customers_reconcile_with_fact']),
    // A layer of its own: it reads rfm_customers as built by this run (models of one layer build side by side).
    layer('segments', MART, ['rfm_segments'], ['rfm_segments_reconcile_with_customers'], 'marts'),
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
