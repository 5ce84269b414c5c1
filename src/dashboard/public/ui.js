// Small DOM helpers shared by the pages: the API client, cards with their filters and CSV link, ECharts set-up,
// tables and pagers. Charts are drawn by Apache ECharts only (window.echarts, served from node_modules).

/** GET an API endpoint; params with empty values are left out. Throws the server's message on an error. */
export async function api(path, params = {}) {
  const res = await fetch(url(path, params));
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || `${path}: HTTP ${res.status}`);
  return body;
}

export function url(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) node.append(c);
  return node;
}

export const fmt = {
  compact: (v) => new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 }).format(v),
  num: (v, digits = 0) => (v === null || v === undefined ? '' : Number(v).toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })),
  money: (v) => fmt.num(v, 2),
  pct: (v) => (v === null || v === undefined ? '' : `${v > 0 ? '+' : ''}${Number(v).toFixed(2)}%`),
  ms: (v) => (v === null || v === undefined ? '' : v < 1000 ? `${v} ms` : v < 60000 ? `${(v / 1000).toFixed(1)} s` : `${Math.floor(v / 60000)} min ${Math.round((v % 60000) / 1000)} s`),
  time: (v) => (v ? new Date(v).toISOString().replace('T', ' ').slice(0, 19) : ''),
};

/**
 * A card: title, a CSV link (the same endpoint and parameters as the chart, with format=csv), a controls row, a
 * body. card.setSource(path, params) updates the CSV link; card.error(e) shows an error in the card.
 */
export function card(parent, { id, title, wide = false, note }) {
  const csv = el('a', { 'data-testid': `${id}-csv`, href: '#', download: `${id}.csv`, text: 'CSV' });
  const controls = el('div', { class: 'controls' });
  const body = el('div');
  const status = el('div', { class: 'error', 'data-testid': `${id}-error` });
  const root = el('section', { class: `card${wide ? ' wide' : ''}`, 'data-testid': id }, el('h3', {}, el('span', { text: title }), csv), controls, note ? el('div', { class: 'note', text: note }) : null, body, status);
  parent.append(root);
  return {
    root,
    controls,
    body,
    setSource(path, params) {
      csv.href = url(path, { ...params, format: 'csv' });
    },
    error(e) {
      status.textContent = e ? String(e.message || e) : '';
    },
  };
}

/** A labelled input or select in a card's controls row; onChange fires with the new value. */
export function control(parent, { label, id, type = 'text', options, value = '', onChange, placeholder }) {
  let input;
  if (options) {
    input = el('select', { 'data-testid': id });
    setOptions(input, options, value);
  } else {
    input = el('input', { type, 'data-testid': id, value, placeholder });
  }
  input.addEventListener(type === 'text' || type === 'search' ? 'input' : 'change', () => onChange(input.value));
  parent.append(el('label', {}, label, input));
  return input;
}

/** options: [value, text] pairs or plain values; '' means "all". */
export function setOptions(select, options, value) {
  select.replaceChildren(...options.map((o) => (Array.isArray(o) ? el('option', { value: o[0], text: o[1] }) : el('option', { value: o, text: o === '' ? 'all' : o }))));
  select.value = value ?? '';
}

/** Period filter: two inputs (month, number for years, or select of dates); calls onChange({ from, to }). */
export function period(parent, { id, kind, from = '', to = '', options, onChange }) {
  const state = { from, to };
  const make = (key) =>
    options
      ? control(parent, { label: key, id: `${id}-${key}`, options, value: state[key], onChange: (v) => ((state[key] = v), onChange({ ...state })) })
      : control(parent, { label: key, id: `${id}-${key}`, type: kind, value: state[key], onChange: (v) => ((state[key] = v), onChange({ ...state })) });
  return { from: make('from'), to: make('to'), state };
}

/** Every chart of the page shown, resized when the window or the page's layout changes. */
export const charts = new Set();

/** An ECharts instance in a div that resizes with the window. */
export function chart(parent, id, tall = false) {
  const div = el('div', { class: `chart${tall ? ' tall' : ''}`, 'data-testid': `${id}-chart` });
  parent.append(div);
  const instance = window.echarts.init(div, null, { renderer: 'canvas' });
  charts.add(instance);
  return instance;
}

/**
 * A table. columns: [{ key, label, num?, render?(row) }]. sort: { key, order } and onSort(key) make the headers
 * sortable (server-side sorting).
 */
export function table(parent, id, columns, rows, { sort, onSort, onRowClick, selected } = {}) {
  const head = el('tr', {}, ...columns.map((c) => el('th', { class: c.num ? 'num' : '', onclick: onSort && c.sortable !== false ? () => onSort(c.key) : undefined, text: `${c.label}${sort && sort.key === c.key ? (sort.order === 'asc' ? ' ▲' : ' ▼') : ''}` })));
  const body = rows.map((r) =>
    el(
      'tr',
      { class: selected && selected(r) ? 'selected' : '', onclick: onRowClick ? () => onRowClick(r) : undefined },
      ...columns.map((c) => {
        const v = c.render ? c.render(r) : r[c.key];
        return el('td', { class: c.class || (c.num ? 'num' : '') }, v instanceof Node ? v : String(v ?? ''));
      }),
    ),
  );
  const t = el('table', { 'data-testid': id }, el('thead', {}, head), el('tbody', {}, ...body));
  parent.replaceChildren(t);
  return t;
}

/** Previous/next pager for a server-paged list. */
export function pager(parent, id, { total, limit, offset }, onPage) {
  const last = Math.max(0, Math.ceil(total / limit) - 1);
  const page = Math.floor(offset / limit);
  parent.append(
    el(
      'div',
      { class: 'pager', 'data-testid': `${id}-pager` },
      el('button', { disabled: page <= 0, onclick: () => onPage(Math.max(0, offset - limit)), text: '‹ prev' }),
      el('span', { 'data-testid': `${id}-total`, 'data-total': total, text: `${total === 0 ? 0 : offset + 1}–${Math.min(total, offset + limit)} of ${fmt.num(total)}` }),
      el('button', { disabled: page >= last, onclick: () => onPage(offset + limit), text: 'next ›' }),
    ),
  );
}

/** Runs fn, showing its error in the card instead of throwing. */
export async function guard(c, fn) {
  try {
    c.error(null);
    return await fn();
  } catch (e) {
    c.error(e);
  }
}
