import { api, card, chart, control, el, fmt, guard, pager, period, setOptions, table } from './ui.js';

// Runs: recent runs per dataset (status, trigger, period, duration, rows), a chart of their durations, months
// loaded (ops.partitions), the steps and rejected rows of the selected run, and the stream's lag when one runs.

const STATUS_COLORS = { completed: '#0e7c3a', failed: '#ab091e', running: '#b25e09', cancelled: '#7b8794' };

export function runsPage(root) {
  const s = { dataset: '', status: '', from: '', to: '', limit: 20, offset: 0, selected: null, rejOffset: 0, pFrom: '', pTo: '', sFrom: '', sTo: '' };
  root.append(el('h2', { text: 'Runs' }));

  const r = card(root, { id: 'runs-list', title: 'Recent runs', wide: true });
  const datasetSelect = control(r.controls, { label: 'dataset', id: 'runs-dataset', options: [''], onChange: (v) => ((s.dataset = v), (s.offset = 0), loadRuns()) });
  control(r.controls, { label: 'status', id: 'runs-status', options: ['', 'running', 'completed', 'failed', 'cancelled'], onChange: (v) => ((s.status = v), (s.offset = 0), loadRuns()) });
  period(r.controls, { id: 'runs-period', kind: 'date', onChange: (p) => (Object.assign(s, p), (s.offset = 0), loadRuns()) });
  const rBody = el('div');
  r.body.append(rBody);

  const d = card(root, { id: 'runs-durations', title: 'Run durations', note: 'Same filters as the list above (dataset, status, started from/to).' });
  const dChart = chart(d.body, 'runs-durations');

  const p = card(root, { id: 'runs-partitions', title: 'Months loaded (ops.partitions)' });
  period(p.controls, { id: 'runs-partitions', kind: 'month', onChange: (x) => ((s.pFrom = x.from), (s.pTo = x.to), loadPartitions()) });
  const pChart = chart(p.body, 'runs-partitions');

  const st = card(root, { id: 'runs-steps', title: 'Steps of the selected run', wide: true });
  const stBody = el('div', { class: 'note', text: 'Select a run in the list.' });
  st.body.append(stBody);

  const rj = card(root, { id: 'runs-rejected', title: 'Rejected rows of the selected run', wide: true });
  const rjBody = el('div');
  rj.body.append(rjBody);

  const stream = card(root, { id: 'runs-stream', title: 'Stream: lag from a source commit to the marts', wide: true, note: 'Lag p50/p95/max over the last 100 batches, or over the batches committed in the period chosen.' });
  stream.root.hidden = true;
  period(stream.controls, { id: 'runs-stream-period', kind: 'date', onChange: (x) => ((s.sFrom = x.from), (s.sTo = x.to), loadStream()) });
  const streamTiles = el('div', { class: 'kpis' });
  stream.body.append(streamTiles);
  const streamChart = chart(stream.body, 'runs-stream-lag');
  const streamBody = el('div');
  stream.body.append(streamBody);

  const filters = () => ({ dataset: s.dataset, status: s.status, from: s.from, to: s.to });

  const loadDatasets = () =>
    guard(r, async () => {
      const { rows } = await api('/api/runs/datasets');
      setOptions(datasetSelect, ['', ...rows.map((x) => x.dataset)], s.dataset);
    });

  const loadRuns = () =>
    guard(r, async () => {
      const params = { ...filters(), limit: s.limit, offset: s.offset };
      r.setSource('/api/runs', params);
      const res = await api('/api/runs', params);
      table(
        rBody,
        'runs-table',
        [
          { key: 'started_at', label: 'started (UTC)', render: (x) => fmt.time(x.started_at) },
          { key: 'dataset', label: 'dataset' },
          { key: 'workflow_id', label: 'run', render: (x) => el('a', { href: x.web_ui_url, target: '_blank', rel: 'noopener', 'data-testid': 'run-link', text: x.workflow_id }) },
          { key: 'trigger', label: 'trigger', render: (x) => (x.from_step ? `${x.trigger} (from ${x.from_step})` : x.trigger) },
          { key: 'period', label: 'period' },
          { key: 'status', label: 'status', render: (x) => el('span', { class: `status-${x.status}`, text: x.status }) },
          { key: 'duration_ms', label: 'duration', num: true, render: (x) => fmt.ms(x.duration_ms) },
          { key: 'rows_read', label: 'read', num: true, render: (x) => fmt.num(x.rows_read) },
          { key: 'rows_loaded', label: 'loaded', num: true, render: (x) => fmt.num(x.rows_loaded) },
          { key: 'rows_rejected', label: 'rejected', num: true, render: (x) => fmt.num(x.rows_rejected) },
          { key: 'failed_step', label: 'failed step' },
          { key: 'error', label: 'error', class: 'err' },
        ],
        res.rows,
        { onRowClick: (x) => select(x), selected: (x) => s.selected?.run_id === x.run_id },
      );
      pager(rBody, 'runs', res, (offset) => ((s.offset = offset), loadRuns()));
      d.setSource('/api/runs', params);
      const byStatus = Object.keys(STATUS_COLORS).map((status) => ({
        name: status,
        type: 'scatter',
        itemStyle: { color: STATUS_COLORS[status] },
        data: res.rows.filter((x) => x.status === status).map((x) => [x.started_at, x.duration_ms / 1000, x.workflow_id]),
      }));
      dChart.setOption(
        {
          tooltip: { formatter: (q) => `${q.data[2]}<br>${fmt.time(q.data[0])}<br>${q.data[1].toFixed(1)} s (${q.seriesName})` },
          legend: { top: 0 },
          grid: { left: 60, right: 20, top: 40, bottom: 30 },
          xAxis: { type: 'time', axisLabel: { hideOverlap: true } },
          yAxis: { type: 'value', name: 'seconds' },
          series: byStatus,
        },
        true,
      );
      if (!s.selected && res.rows.length > 0) await select(res.rows[0], false);
    });

  async function select(run, reload = true) {
    s.selected = run;
    s.rejOffset = 0;
    await Promise.all([loadSteps(), loadRejected(), reload ? loadRuns() : null]);
  }

  const loadSteps = () =>
    guard(st, async () => {
      if (!s.selected) return;
      const path = `/api/runs/${encodeURIComponent(s.selected.run_id)}/steps`;
      st.setSource(path, {});
      const res = await api(path);
      const title = el('div', { class: 'note', 'data-testid': 'runs-steps-run' }, `${s.selected.workflow_id} (${s.selected.status}) `, el('a', { href: s.selected.web_ui_url, target: '_blank', rel: 'noopener', text: 'open in the Temporal Web UI' }));
      const holder = el('div');
      table(holder, 'runs-steps-table', [
        { key: 'seq', label: '#', num: true },
        { key: 'step', label: 'step' },
        { key: 'status', label: 'status', render: (x) => el('span', { class: `status-${x.status}`, text: x.status }) },
        { key: 'duration_ms', label: 'duration', num: true, render: (x) => fmt.ms(x.duration_ms) },
        { key: 'rows_in', label: 'rows in', num: true, render: (x) => fmt.num(x.rows_in) },
        { key: 'rows_out', label: 'rows out', num: true, render: (x) => fmt.num(x.rows_out) },
        { key: 'error', label: 'error', class: 'err' },
      ], res.rows);
      stBody.replaceChildren(title, holder);
    });

  const loadRejected = () =>
    guard(rj, async () => {
      if (!s.selected) return;
      const path = `/api/runs/${encodeURIComponent(s.selected.run_id)}/rejected`;
      const params = { limit: 20, offset: s.rejOffset };
      rj.setSource(path, params);
      const res = await api(path, params);
      table(rjBody, 'runs-rejected-table', [
        { key: 'source', label: 'source' },
        { key: 'file', label: 'file' },
        { key: 'row_number', label: 'row', num: true },
        { key: 'errors', label: 'errors', class: 'err' },
        { key: 'raw', label: 'row as read', render: (x) => JSON.stringify(x.raw) },
      ], res.rows);
      pager(rjBody, 'runs-rejected', res, (offset) => ((s.rejOffset = offset), loadRejected()));
    });

  const loadPartitions = () =>
    guard(p, async () => {
      const params = { dataset: s.dataset, from: s.pFrom, to: s.pTo };
      p.setSource('/api/partitions', params);
      const { rows } = await api('/api/partitions', params);
      const periods = [...new Set(rows.map((x) => x.period))].sort();
      const datasets = [...new Set(rows.map((x) => x.dataset))];
      pChart.setOption(
        {
          tooltip: { trigger: 'axis' },
          legend: { top: 0 },
          grid: { left: 70, right: 20, top: 40, bottom: 30 },
          xAxis: { type: 'category', data: periods },
          yAxis: { type: 'value', name: 'fact rows', axisLabel: { formatter: fmt.compact } },
          series: datasets.map((ds) => ({ name: ds, type: 'bar', data: periods.map((per) => rows.find((x) => x.dataset === ds && x.period === per)?.rows ?? null) })),
        },
        true,
      );
    });

  const loadStream = () =>
    guard(stream, async () => {
      const params = { from: s.sFrom, to: s.sTo };
      const res = await api('/api/stream', params);
      stream.root.hidden = !res.available;
      if (!res.available) return;
      stream.setSource('/api/stream', params);
      const tile = (x, key, label, value) =>
        el('div', { class: 'kpi', 'data-testid': `stream-${key}-${x.dataset}`, 'data-value': x[key] ?? '' }, el('div', { class: 'label', text: `${label} (${x.dataset})` }), el('div', { class: 'value', text: value }));
      streamTiles.replaceChildren(
        ...res.streams.flatMap((x) => [
          tile(x, 'status', 'status', x.status),
          tile(x, 'last_lag_ms', 'lag, last batch', fmt.ms(x.last_lag_ms === null ? null : Math.round(x.last_lag_ms))),
          tile(x, 'lag_p50_ms', `lag p50, ${x.window_batches} batches`, fmt.ms(x.lag_p50_ms === null ? null : Math.round(x.lag_p50_ms))),
          tile(x, 'lag_p95_ms', 'lag p95', fmt.ms(x.lag_p95_ms === null ? null : Math.round(x.lag_p95_ms))),
          tile(x, 'lag_max_ms', 'lag max', fmt.ms(x.lag_max_ms === null ? null : Math.round(x.lag_max_ms))),
          tile(x, 'since_applied_ms', 'last change applied', x.since_applied_ms === null ? 'never' : `${fmt.ms(Math.round(x.since_applied_ms))} ago`),
          tile(x, 'changes', `changes in ${fmt.num(x.batches)} batches`, fmt.num(x.changes)),
        ]),
      );
      const datasets = [...new Set(res.rows.map((x) => x.dataset))];
      streamChart.setOption(
        {
          tooltip: { trigger: 'axis' },
          legend: { top: 0 },
          grid: { left: 70, right: 20, top: 40, bottom: 30 },
          xAxis: { type: 'time' },
          yAxis: { type: 'value', name: 'lag (ms)' },
          series: datasets.map((ds) => ({ name: ds, type: 'line', showSymbol: false, data: res.rows.filter((x) => x.dataset === ds).map((x) => [x.committed_at, x.lag_ms]).reverse() })),
        },
        true,
      );
      table(streamBody, 'runs-stream-table', [
        { key: 'committed_at', label: 'committed (UTC)', render: (x) => fmt.time(x.committed_at) },
        { key: 'dataset', label: 'dataset' },
        { key: 'batch_id', label: 'batch', num: true },
        { key: 'transactions', label: 'transactions', num: true },
        { key: 'changes', label: 'changes', num: true },
        { key: 'lag_ms', label: 'lag', num: true, render: (x) => fmt.ms(Math.round(x.lag_ms)) },
        { key: 'apply_ms', label: 'apply', num: true, render: (x) => fmt.ms(Math.round(x.apply_ms)) },
      ], res.rows.slice(0, 10));
    });

  // The stream's lag moves without runs finishing: while its card is shown, it polls on its own.
  const timer = setInterval(() => {
    if (!root.isConnected || root.querySelector('[data-testid="runs-stream"]') !== stream.root) clearInterval(timer);
    else if (!stream.root.hidden) void loadStream();
  }, 2000);

  return {
    refresh: async () => {
      await loadDatasets();
      if (s.selected) {
        // keep the selection, with its latest figures
        const res = await api('/api/runs', { ...filters(), limit: s.limit, offset: s.offset }).catch(() => null);
        s.selected = res?.rows.find((x) => x.run_id === s.selected.run_id) ?? s.selected;
      }
      await Promise.all([loadRuns(), loadPartitions(), loadStream(), loadSteps(), loadRejected()]);
    },
  };
}
