import { apparelPage } from './apparel.js';
import { runsPage } from './runs.js';
import { superstorePage } from './superstore.js';
import { api, charts } from './ui.js';

// The page router (#/apparel, #/superstore, #/runs) and the live refresh: /api/changes is polled every 2 s; when
// its token changes (a run started, finished, or loaded a month) the page shown reloads its data, without a reload
// of the page itself.

const PAGES = { apparel: apparelPage, superstore: superstorePage, runs: runsPage };
const POLL_MS = 2000;
const main = document.getElementById('page');
const live = document.getElementById('live');
let current = null;
let token = null;
window.gudangDashboard = { refreshes: 0, token: null };

async function show() {
  const name = (location.hash.replace(/^#\/?/, '') || 'apparel').split('?')[0];
  const make = PAGES[name] || PAGES.apparel;
  main.dataset.ready = 'false';
  for (const c of charts) c.dispose();
  charts.clear();
  main.replaceChildren();
  main.dataset.page = name;
  for (const a of document.querySelectorAll('header nav a')) a.classList.toggle('active', a.dataset.page === name);
  current = make(main);
  await refresh();
}

async function refresh() {
  const page = current;
  main.dataset.ready = 'false';
  await page.refresh();
  if (page !== current) return;
  for (const c of charts) c.resize();
  window.gudangDashboard.refreshes += 1;
  main.dataset.ready = 'true';
}

async function poll() {
  try {
    const res = await api('/api/changes');
    if (token !== null && res.token !== token) {
      token = res.token;
      await refresh();
      live.textContent = `updated ${new Date().toISOString().slice(11, 19)} UTC`;
    }
    token = res.token;
    window.gudangDashboard.token = token;
  } catch (e) {
    live.textContent = `offline: ${e.message}`;
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

window.addEventListener('hashchange', () => void show());
window.addEventListener('resize', () => charts.forEach((c) => c.resize()));
await show();
void poll();
