import { api, card, chart, control, el, fmt, guard, pager, period, setOptions, table } from './ui.js';

// Django Apparel: revenue/orders/quantity/AOV by month (one line per year), product performance by city (filters,
// top N, paged table) and a province x category heatmap.

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTHLY_MEASURES = [['total_revenue', 'revenue'], ['total_orders', 'orders'], ['total_quantity', 'quantity'], ['average_order_value', 'average order value']];
const MEASURES = [['total_sales', 'sales'], ['total_quantity', 'quantity'], ['total_orders', 'orders']];
const FILTERS = ['province', 'city', 'category', 'product', 'size'];
const PERF_NOTE = 'Period: months of the order date (mart.dm_perfomance_product_by_cities_monthly); without one, all-time figures (mart.dm_perfomance_product_by_cities).';

export function apparelPage(root) {
  const s = {
    monthly: { measure: 'total_revenue', from: '', to: '' },
    filters: Object.fromEntries(FILTERS.map((f) => [f, ''])),
    period: { from: '', to: '' },
    top: { by: 'product', metric: 'total_sales', n: '10' },
    table: { sort: 'total_sales', order: 'desc', limit: 25, offset: 0 },
    heat: { metric: 'total_sales' },
    members: [],
  };
  root.append(el('h2', { text: 'Django Apparel' }));

  // Revenue, orders, quantity and AOV by month, one series per year.
  const m = card(root, { id: 'apparel-monthly', title: 'Revenue, orders, quantity and AOV by month', wide: true });
  control(m.controls, { label: 'measure', id: 'apparel-monthly-measure', options: MONTHLY_MEASURES, value: s.monthly.measure, onChange: (v) => ((s.monthly.measure = v), loadMonthly()) });
  const mPeriod = period(m.controls, { id: 'apparel-monthly', kind: 'month', onChange: (p) => (Object.assign(s.monthly, p), loadMonthly()) });
  const mChart = chart(m.body, 'apparel-monthly');
  const mTotals = el('div', { class: 'note', 'data-testid': 'apparel-monthly-totals' });
  m.body.append(mTotals);

  // Filters shared by the product-performance views.
  const f = card(root, { id: 'apparel-filters', title: 'Product performance by city: filters', wide: true, note: PERF_NOTE });
  const selects = {};
  for (const name of FILTERS) selects[name] = control(f.controls, { label: name, id: `apparel-filter-${name}`, options: [''], onChange: (v) => setFilter(name, v) });
  const fPeriod = period(f.controls, {
    id: 'apparel-filter-period',
    kind: 'month',
    onChange: (x) => {
      Object.assign(s.period, x);
      s.table.offset = 0;
      void Promise.all([loadTop(), loadHeatmap(), loadProducts()]);
    },
  });
  f.root.querySelector('h3 a').remove();

  const t = card(root, { id: 'apparel-top', title: 'Top N' });
  control(t.controls, { label: 'by', id: 'apparel-top-by', options: ['product', 'city', 'province', 'category', 'size'], value: s.top.by, onChange: (v) => ((s.top.by = v), loadTop()) });
  control(t.controls, { label: 'measure', id: 'apparel-top-metric', options: MEASURES, value: s.top.metric, onChange: (v) => ((s.top.metric = v), loadTop()) });
  control(t.controls, { label: 'N', id: 'apparel-top-n', options: ['5', '10', '20', '50'], value: s.top.n, onChange: (v) => ((s.top.n = v), loadTop()) });
  const tChart = chart(t.body, 'apparel-top', true);

  const h = card(root, { id: 'apparel-heatmap', title: 'Province × category' });
  control(h.controls, { label: 'measure', id: 'apparel-heatmap-metric', options: MEASURES, value: s.heat.metric, onChange: (v) => ((s.heat.metric = v), loadHeatmap()) });
  const hChart = chart(h.body, 'apparel-heatmap', true);

  const p = card(root, { id: 'apparel-products', title: 'Product performance by city', wide: true });
  const pBody = el('div');
  p.body.append(pBody);

  function setFilter(name, value) {
    s.filters[name] = value;
    if (name === 'province') {
      s.filters.city = '';
      fillSelects();
    }
    s.table.offset = 0;
    void Promise.all([loadTop(), loadHeatmap(), loadProducts()]);
  }

  function fillSelects() {
    const of = (kind, parent) => s.members.filter((r) => r.kind === kind && (!parent || r.parent === parent)).map((r) => r.value);
    setOptions(selects.province, ['', ...of('province')], s.filters.province);
    setOptions(selects.city, ['', ...of('city', s.filters.province)], s.filters.city);
    setOptions(selects.category, ['', ...of('category')], s.filters.category);
    setOptions(selects.product, ['', ...new Set(of('product', s.filters.category))], s.filters.product);
    setOptions(selects.size, ['', ...of('size')], s.filters.size);
  }

  const loadFilters = () =>
    guard(f, async () => {
      const r = await api('/api/apparel/filters');
      s.members = r.rows;
      if (!s.monthly.from && r.months?.first) mPeriod.from.min = mPeriod.to.min = fPeriod.from.min = fPeriod.to.min = r.months.first;
      if (r.months?.last) mPeriod.from.max = mPeriod.to.max = fPeriod.from.max = fPeriod.to.max = r.months.last;
      fillSelects();
    });

  const loadMonthly = () =>
    guard(m, async () => {
      const params = { from: s.monthly.from, to: s.monthly.to };
      m.setSource('/api/apparel/monthly', params);
      const { rows } = await api('/api/apparel/monthly', params);
      const years = [...new Set(rows.map((r) => r.year))];
      const label = MONTHLY_MEASURES.find(([k]) => k === s.monthly.measure)[1];
      mChart.setOption(
        {
          tooltip: { trigger: 'axis' },
          legend: { data: years.map(String), top: 0 },
          grid: { left: 70, right: 20, top: 40, bottom: 30 },
          xAxis: { type: 'category', data: MONTHS },
          yAxis: { type: 'value', name: label, axisLabel: { formatter: fmt.compact } },
          series: years.map((y) => ({
            name: String(y),
            type: 'line',
            data: MONTHS.map((_, i) => rows.find((r) => r.year === y && r.month_of_year === i + 1)?.[s.monthly.measure] ?? null),
          })),
        },
        true,
      );
      const sum = (k) => rows.reduce((a, r) => a + Number(r[k]), 0);
      mTotals.dataset.revenue = sum('total_revenue').toFixed(2);
      mTotals.dataset.orders = String(sum('total_orders'));
      mTotals.dataset.months = String(rows.length);
      mTotals.textContent = `${rows.length} months: revenue ${fmt.money(sum('total_revenue'))}, ${fmt.num(sum('total_orders'))} orders, ${fmt.num(sum('total_quantity'))} items`;
    });

  const loadTop = () =>
    guard(t, async () => {
      const params = { ...s.filters, ...s.period, ...s.top };
      t.setSource('/api/apparel/top', params);
      const { rows } = await api('/api/apparel/top', params);
      const data = [...rows].reverse();
      tChart.setOption(
        {
          tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
          grid: { left: 170, right: 30, top: 10, bottom: 30 },
          xAxis: { type: 'value', axisLabel: { formatter: fmt.compact } },
          yAxis: { type: 'category', data: data.map((r) => r.member), axisLabel: { width: 160, overflow: 'truncate' } },
          series: [{ type: 'bar', name: s.top.metric, data: data.map((r) => r[s.top.metric]) }],
        },
        true,
      );
    });

  const loadHeatmap = () =>
    guard(h, async () => {
      const params = { ...s.filters, ...s.period, ...s.heat };
      h.setSource('/api/apparel/heatmap', params);
      const { rows } = await api('/api/apparel/heatmap', params);
      const provinces = [...new Set(rows.map((r) => r.province_name))];
      const categories = [...new Set(rows.map((r) => r.product_category_name))];
      const values = rows.map((r) => Number(r[s.heat.metric]));
      hChart.setOption(
        {
          tooltip: { position: 'top' },
          grid: { left: 150, right: 20, top: 10, bottom: 110 },
          xAxis: { type: 'category', data: categories, axisLabel: { rotate: 30 } },
          yAxis: { type: 'category', data: provinces },
          visualMap: { min: 0, max: Math.max(1, ...values), calculable: true, orient: 'horizontal', left: 'center', bottom: 0, formatter: fmt.compact },
          series: [{ type: 'heatmap', name: s.heat.metric, data: rows.map((r) => [categories.indexOf(r.product_category_name), provinces.indexOf(r.province_name), r[s.heat.metric]]) }],
        },
        true,
      );
    });

  const loadProducts = () =>
    guard(p, async () => {
      const params = { ...s.filters, ...s.period, ...s.table };
      p.setSource('/api/apparel/products', params);
      const r = await api('/api/apparel/products', params);
      table(
        pBody,
        'apparel-products-table',
        [
          { key: 'province_name', label: 'province' },
          { key: 'city_name', label: 'city' },
          { key: 'product_category_name', label: 'category' },
          { key: 'product_name', label: 'product' },
          { key: 'size', label: 'size' },
          { key: 'total_quantity', label: 'quantity', num: true, render: (x) => fmt.num(x.total_quantity) },
          { key: 'total_sales', label: 'sales', num: true, render: (x) => fmt.money(x.total_sales) },
          { key: 'total_orders', label: 'orders', num: true, render: (x) => fmt.num(x.total_orders) },
        ],
        r.rows,
        {
          sort: { key: s.table.sort, order: s.table.order },
          onSort: (key) => {
            s.table.order = s.table.sort === key && s.table.order === 'desc' ? 'asc' : 'desc';
            s.table.sort = key;
            s.table.offset = 0;
            void loadProducts();
          },
        },
      );
      pager(pBody, 'apparel-products', r, (offset) => ((s.table.offset = offset), loadProducts()));
    });

  return {
    refresh: () => Promise.all([loadFilters(), loadMonthly(), loadTop(), loadHeatmap(), loadProducts()]),
  };
}
