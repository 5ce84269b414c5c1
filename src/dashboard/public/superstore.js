import { api, card, chart, control, el, fmt, guard, pager, period, setOptions, table } from './ui.js';

// Superstore: KPI cards with the change on the previous year, yearly and monthly trends, breakdowns by dimension;
// RFM: customers per segment (treemap), revenue share per segment, movement between two as_of dates, customers.

const KPI_LABELS = { sales: 'Sales', profit: 'Profit', profit_margin_pct: 'Margin %', orders: 'Orders', customers: 'Customers', average_order_value: 'AOV' };
const DIMENSIONS = [['segment', 'segment'], ['region', 'region'], ['category', 'category'], ['sub_category', 'sub-category'], ['ship_mode', 'ship mode']];
const MEASURES = ['sales', 'profit', 'orders', 'customers', 'quantity'];

export function superstorePage(root) {
  const s = { kpiYear: '', yFrom: '', yTo: '', mFrom: '', mTo: '', dim: 'segment', metric: 'sales', bFrom: '', bTo: '', asOf: '', mvFrom: '', mvTo: '', q: '', segment: '', sort: 'monetary', order: 'desc', offset: 0 };
  root.append(el('h2', { text: 'Superstore' }));
  const empty = el('div', { class: 'empty', 'data-testid': 'superstore-empty', hidden: true });
  empty.append(
    el('strong', { text: 'No Superstore data loaded. ' }),
    'The superstore_mart tables are missing or empty: run ',
    el('code', { text: 'npm run pipeline -- run --dataset superstore --source DIR --wait' }),
    ' and this page fills itself.',
  );
  root.append(empty);
  const cards = [];
  const add = (opts) => {
    const c = card(root, opts);
    cards.push(c);
    return c;
  };

  const k = add({ id: 'superstore-kpis', title: 'KPIs, with the change on the previous year', wide: true });
  const kYear = control(k.controls, { label: 'year', id: 'superstore-kpis-year', options: [''], onChange: (v) => ((s.kpiYear = v), loadKpis()) });
  const kBody = el('div', { class: 'kpis' });
  k.body.append(kBody);

  const y = add({ id: 'superstore-yearly', title: 'Yearly trend' });
  const yPeriod = period(y.controls, { id: 'superstore-yearly', options: [''], onChange: (p) => ((s.yFrom = p.from), (s.yTo = p.to), loadYearly()) });
  const yChart = chart(y.body, 'superstore-yearly');

  const m = add({ id: 'superstore-monthly', title: 'Monthly trend' });
  period(m.controls, { id: 'superstore-monthly', kind: 'month', onChange: (p) => ((s.mFrom = p.from), (s.mTo = p.to), loadMonthly()) });
  const mChart = chart(m.body, 'superstore-monthly');

  const b = add({ id: 'superstore-breakdown', title: 'Breakdown', wide: true });
  control(b.controls, { label: 'by', id: 'superstore-breakdown-dimension', options: DIMENSIONS, value: s.dim, onChange: (v) => ((s.dim = v), loadBreakdown()) });
  control(b.controls, { label: 'measure', id: 'superstore-breakdown-metric', options: MEASURES, value: s.metric, onChange: (v) => ((s.metric = v), loadBreakdown()) });
  const bPeriod = period(b.controls, { id: 'superstore-breakdown', options: [''], onChange: (p) => ((s.bFrom = p.from), (s.bTo = p.to), loadBreakdown()) });
  const bChart = chart(b.body, 'superstore-breakdown');

  const seg = add({ id: 'superstore-rfm-segments', title: 'RFM: customers per segment', note: 'Period: the snapshot date (as_of) of the RFM mart.' });
  const asOfSelect = control(seg.controls, { label: 'as of', id: 'superstore-rfm-as-of', options: [''], onChange: (v) => ((s.asOf = v), (s.offset = 0), loadSegments(), loadCustomers()) });
  const segChart = chart(seg.body, 'superstore-rfm-treemap');
  const share = add({ id: 'superstore-rfm-share', title: 'RFM: revenue share per segment', note: 'Same as_of as the treemap.' });
  const shareChart = chart(share.body, 'superstore-rfm-share');

  const mv = add({ id: 'superstore-rfm-movement', title: 'RFM: segment movement between two snapshots', wide: true });
  const mvPeriod = period(mv.controls, { id: 'superstore-rfm-movement', options: [''], onChange: (p) => ((s.mvFrom = p.from), (s.mvTo = p.to), loadMovement()) });
  const mvNote = el('div', { class: 'note', 'data-testid': 'superstore-rfm-movement-note' });
  mv.body.prepend(mvNote);
  const mvChart = chart(mv.body, 'superstore-rfm-movement', true);

  const c = add({ id: 'superstore-customers', title: 'RFM customers', wide: true, note: 'Same as_of as the treemap.' });
  control(c.controls, { label: 'search', id: 'superstore-customers-search', type: 'search', placeholder: 'name or id', onChange: (v) => ((s.q = v), (s.offset = 0), loadCustomers()) });
  const segSelect = control(c.controls, { label: 'segment', id: 'superstore-customers-segment', options: [''], onChange: (v) => ((s.segment = v), (s.offset = 0), loadCustomers()) });
  const cBody = el('div');
  c.body.append(cBody);

  const loadMeta = () =>
    guard(k, async () => {
      const meta = await api('/api/superstore/meta');
      empty.hidden = meta.loaded;
      for (const x of cards) x.root.hidden = !meta.loaded;
      if (!meta.loaded) return false;
      const years = meta.years.map(String);
      setOptions(kYear, ['', ...years].map((v) => [v, v || 'latest']), s.kpiYear);
      for (const sel of [yPeriod.from, yPeriod.to, bPeriod.from, bPeriod.to]) setOptions(sel, ['', ...years], sel === yPeriod.from ? s.yFrom : sel === yPeriod.to ? s.yTo : sel === bPeriod.from ? s.bFrom : s.bTo);
      setOptions(asOfSelect, ['', ...meta.as_of].map((v) => [v, v || 'latest']), s.asOf);
      if (!s.mvFrom && meta.as_of.length > 1) s.mvFrom = meta.as_of[meta.as_of.length - 2];
      if (!s.mvTo && meta.as_of.length > 0) s.mvTo = meta.as_of[meta.as_of.length - 1];
      setOptions(mvPeriod.from, meta.as_of, s.mvFrom);
      setOptions(mvPeriod.to, meta.as_of, s.mvTo);
      return true;
    });

  const loadKpis = () =>
    guard(k, async () => {
      const params = { year: s.kpiYear };
      k.setSource('/api/superstore/kpis', params);
      const res = await api('/api/superstore/kpis', params);
      kBody.replaceChildren(
        ...res.rows.map((x) =>
          el(
            'div',
            { class: 'kpi', 'data-testid': `kpi-${x.kpi}`, 'data-value': x.value },
            el('div', { class: 'label', text: `${KPI_LABELS[x.kpi]} ${x.year ?? ''}` }),
            el('div', { class: 'value', text: x.kpi === 'profit_margin_pct' ? `${fmt.num(x.value, 2)}%` : ['orders', 'customers'].includes(x.kpi) ? fmt.num(x.value) : fmt.money(x.value) }),
            el('div', { class: x.change_pct > 0 ? 'up' : x.change_pct < 0 ? 'down' : '', 'data-testid': `kpi-${x.kpi}-change`, text: x.change_pct === null ? 'no previous year' : `${fmt.pct(x.change_pct)} on ${x.year - 1}` }),
          ),
        ),
      );
    });

  const loadYearly = () =>
    guard(y, async () => {
      const params = { from: s.yFrom, to: s.yTo };
      y.setSource('/api/superstore/yearly', params);
      const { rows } = await api('/api/superstore/yearly', params);
      yChart.setOption(
        {
          tooltip: { trigger: 'axis' },
          legend: { top: 0 },
          grid: { left: 70, right: 60, top: 40, bottom: 30 },
          xAxis: { type: 'category', data: rows.map((r) => String(r.year)) },
          yAxis: [{ type: 'value', name: 'sales / profit', axisLabel: { formatter: fmt.compact } }, { type: 'value', name: 'margin %' }],
          series: [
            { name: 'sales', type: 'bar', data: rows.map((r) => r.sales) },
            { name: 'profit', type: 'bar', data: rows.map((r) => r.profit) },
            { name: 'margin %', type: 'line', yAxisIndex: 1, data: rows.map((r) => r.profit_margin_pct) },
          ],
        },
        true,
      );
    });

  const loadMonthly = () =>
    guard(m, async () => {
      const params = { from: s.mFrom, to: s.mTo };
      m.setSource('/api/superstore/monthly', params);
      const { rows } = await api('/api/superstore/monthly', params);
      mChart.setOption(
        {
          tooltip: { trigger: 'axis' },
          legend: { top: 0 },
          grid: { left: 70, right: 20, top: 40, bottom: 50 },
          dataZoom: [{ type: 'inside' }, { type: 'slider', height: 16, bottom: 8 }],
          xAxis: { type: 'category', data: rows.map((r) => r.month) },
          yAxis: { type: 'value', axisLabel: { formatter: fmt.compact } },
          series: [
            { name: 'sales', type: 'line', data: rows.map((r) => r.sales) },
            { name: 'profit', type: 'line', data: rows.map((r) => r.profit) },
          ],
        },
        true,
      );
    });

  const loadBreakdown = () =>
    guard(b, async () => {
      const params = { dimension: s.dim, metric: s.metric, from: s.bFrom, to: s.bTo };
      b.setSource('/api/superstore/breakdown', params);
      const { rows } = await api('/api/superstore/breakdown', params);
      bChart.setOption(
        {
          tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
          grid: { left: 70, right: 20, top: 20, bottom: 70 },
          xAxis: { type: 'category', data: rows.map((r) => r.member), axisLabel: { rotate: rows.length > 6 ? 30 : 0 } },
          yAxis: { type: 'value', name: s.metric, axisLabel: { formatter: fmt.compact } },
          series: [{ name: s.metric, type: 'bar', data: rows.map((r) => r[s.metric]) }],
        },
        true,
      );
    });

  const loadSegments = () =>
    guard(seg, async () => {
      const params = { as_of: s.asOf };
      seg.setSource('/api/superstore/rfm/segments', params);
      share.setSource('/api/superstore/rfm/segments', params);
      const { rows } = await api('/api/superstore/rfm/segments', params);
      setOptions(segSelect, ['', ...rows.map((r) => r.rfm_segment)], s.segment);
      segChart.setOption(
        {
          tooltip: { formatter: (q) => `${q.name}: ${fmt.num(q.value)} customers (${q.data.share}%)` },
          series: [{ type: 'treemap', roam: false, nodeClick: false, breadcrumb: { show: false }, label: { formatter: '{b}\n{c}' }, data: rows.map((r) => ({ name: r.rfm_segment, value: r.customers, share: r.customers_share_pct })) }],
        },
        true,
      );
      shareChart.setOption(
        {
          tooltip: { formatter: (q) => `${q.name}: ${fmt.money(q.value)} (${q.percent}%)` },
          series: [{ type: 'pie', radius: ['35%', '70%'], data: rows.map((r) => ({ name: r.rfm_segment, value: r.monetary })) }],
        },
        true,
      );
    });

  const loadMovement = () =>
    guard(mv, async () => {
      mvNote.textContent = '';
      if (!s.mvFrom || !s.mvTo) {
        mvChart.clear();
        mvNote.textContent = 'The RFM mart holds one snapshot (as_of) so far: a movement needs two.';
        return;
      }
      const params = { from: s.mvFrom, to: s.mvTo };
      mv.setSource('/api/superstore/rfm/movement', params);
      const { rows } = await api('/api/superstore/rfm/movement', params);
      const left = (n) => `${n} (${s.mvFrom})`;
      const right = (n) => `${n} (${s.mvTo})`;
      const nodes = [...new Set([...rows.map((r) => left(r.from_segment)), ...rows.map((r) => right(r.to_segment))])];
      mvChart.setOption(
        {
          tooltip: { trigger: 'item' },
          series: [{ type: 'sankey', emphasis: { focus: 'adjacency' }, data: nodes.map((name) => ({ name })), links: rows.map((r) => ({ source: left(r.from_segment), target: right(r.to_segment), value: r.customers })) }],
        },
        true,
      );
    });

  const loadCustomers = () =>
    guard(c, async () => {
      const params = { as_of: s.asOf, q: s.q, segment: s.segment, sort: s.sort, order: s.order, limit: 25, offset: s.offset };
      c.setSource('/api/superstore/rfm/customers', params);
      const res = await api('/api/superstore/rfm/customers', params);
      table(cBody, 'superstore-customers-table', [
        { key: 'customer_id', label: 'id' },
        { key: 'customer_name', label: 'name' },
        { key: 'rfm_segment', label: 'segment' },
        { key: 'recency_days', label: 'recency (days)', num: true },
        { key: 'frequency', label: 'orders', num: true },
        { key: 'monetary', label: 'sales', num: true, render: (x) => fmt.money(x.monetary) },
        { key: 'r_score', label: 'R', num: true, sortable: false },
        { key: 'f_score', label: 'F', num: true, sortable: false },
        { key: 'm_score', label: 'M', num: true, sortable: false },
      ], res.rows, {
        sort: { key: s.sort, order: s.order },
        onSort: (key) => {
          s.order = s.sort === key && s.order === 'desc' ? 'asc' : 'desc';
          s.sort = key;
          s.offset = 0;
          void loadCustomers();
        },
      });
      pager(cBody, 'superstore-customers', res, (offset) => ((s.offset = offset), loadCustomers()));
    });

  return {
    refresh: async () => {
      if (!(await loadMeta())) return;
      await Promise.all([loadKpis(), loadYearly(), loadMonthly(), loadBreakdown(), loadSegments(), loadMovement(), loadCustomers()]);
    },
  };
}
