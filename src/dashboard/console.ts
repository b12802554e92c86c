/**
 * The operator's views (browser script, compiled to dist/dashboard/console.js): the overview, one list
 * across every collection, an operation's detail with retry/cancel/delete, and bulk cancel with a
 * confirmation that states the count. Everything comes from the operator API (/longrun/v1). The URL's
 * hash holds the view, its filters and the selected operation, so links can be shared and Back works.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the operator API's JSON (its shapes are in the OpenAPI document) */
import type uPlotType from 'uplot';

declare const uPlot: typeof uPlotType;

interface Summary {
  key: string;
  id: string;
  family: string;
  collection: string;
  type: string;
  status: string;
  statusDetail: string | null;
  percentComplete: number | null;
  createdDateTime: string;
  handler: string | null;
  attempts: number;
  maxAttempts: number;
  createdBy: string | null;
  error: { code: string | null; message: string | null } | null;
}

const API = '/longrun/v1';
const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);
const STATUSES = ['notStarted', 'running', 'succeeded', 'failed', 'canceled'];
const FILTERS = ['family', 'status', 'type', 'handler', 'collection', 'id', 'createdAfter'] as const;
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
let refresh: ReturnType<typeof setTimeout> | undefined;
let charts: uPlotType[] = [];
let nextLink: string | undefined;

const token = () => sessionStorage.getItem('longrun.token') ?? '';
const esc = (t: unknown) => String(t ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const time = (t: string | null | undefined) => (t ? t.slice(0, 19).replace('T', ' ') : '-');

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(path, {
    method,
    headers: {
      authorization: `Bearer ${token()}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const parsed = text ? JSON.parse(text) : undefined;
  if (!res.ok && res.status !== 404) say(parsed?.error?.message ?? `The server answered ${res.status}.`);
  return { status: res.status, body: parsed };
}

function say(text: string): void {
  $('console-message').textContent = text;
}

/** `#/view?params` → the view and its parameters. */
function route(): { view: string; params: URLSearchParams; arg?: string } {
  const hash = location.hash.replace(/^#\/?/, '') || 'overview';
  const [path, query = ''] = hash.split('?');
  const [view, arg] = path.split('/');
  return { view, params: new URLSearchParams(query), arg: arg ? decodeURIComponent(arg) : undefined };
}

function showView(view: string): void {
  for (const v of ['overview', 'operations', 'detail', 'collection']) $(`view-${v}`).hidden = v !== view;
  for (const a of Array.from(document.querySelectorAll<HTMLAnchorElement>('#nav a'))) {
    if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function render(): Promise<void> {
  clearTimeout(refresh);
  if (!token()) return;
  const { view, params, arg } = route();
  say('');
  if (view === 'operations') {
    showView('operations');
    return renderOperations(params);
  }
  if (view === 'operation' && arg) {
    showView('detail');
    return renderDetail(arg);
  }
  if (view === 'collection') return showView('collection');
  showView('overview');
  return renderOverview();
}

/** Repaints `fn` every `ms` while the same view is shown: live figures without a stream per collection. */
function again(fn: () => Promise<void>, ms: number): void {
  const hash = location.hash;
  refresh = setTimeout(() => {
    if (location.hash === hash) void fn();
  }, ms);
}

function countsTable(
  id: string,
  label: string,
  rows: { name: string; counts: Record<string, number>; total: number }[],
  param: string,
) {
  const head = `<thead><tr><th scope="col">${label}</th>${STATUSES.map((s) => `<th scope="col">${s}</th>`).join('')}<th scope="col">total</th></tr></thead>`;
  const link = (name: string, status: string | undefined, n: number) =>
    n === 0
      ? '0'
      : `<a href="#/operations?${new URLSearchParams({ [param]: name, ...(status ? { status } : {}) })}" data-count="${esc(name)}:${status ?? 'total'}">${n}</a>`;
  const body = rows
    .map(
      (r) =>
        `<tr><th scope="row">${esc(r.name)}</th>${STATUSES.map((s) => `<td>${link(r.name, s, r.counts[s] ?? 0)}</td>`).join('')}<td>${link(r.name, undefined, r.total)}</td></tr>`,
    )
    .join('');
  $(id).innerHTML =
    head + `<tbody>${body || `<tr><td colspan="${STATUSES.length + 2}">None yet.</td></tr>`}</tbody>`;
}

async function renderOverview(): Promise<void> {
  const { status, body } = await call('GET', `${API}/overview`);
  if (status !== 200) return;
  countsTable(
    'family-counts',
    'family',
    body.families.map((f: any) => ({ ...f, name: f.family })),
    'family',
  );
  countsTable(
    'handler-counts',
    'handler',
    body.handlers.map((h: any) => ({ ...h, name: h.handler })),
    'handler',
  );
  const t = body.lastHour.totals;
  const d = body.lastDay.totals;
  $('totals').textContent =
    `Last hour: ${t.created} created, ${t.finished} finished (${t.failed} failed), p50 ${t.durationP50Ms ?? '-'} ms, p95 ${t.durationP95Ms ?? '-'} ms. ` +
    `Last day: ${d.created} created, ${d.finished} finished (${d.failed} failed), p50 ${d.durationP50Ms ?? '-'} ms, p95 ${d.durationP95Ms ?? '-'} ms.`;
  $('failures').innerHTML =
    body.latestFailures
      .map(
        (f: Summary) =>
          `<li><a href="#/operation/${encodeURIComponent(f.key)}">${esc(f.id)}</a> <span class="muted">${esc(f.collection)} · ${esc(f.handler ?? '')} · ${time(f.createdDateTime)}</span> <span class="error">${esc(f.error?.code ?? '')} ${esc(f.error?.message ?? '')}</span></li>`,
      )
      .join('') || '<li>No failures.</li>';
  const day = route().params.get('window') === 'day';
  for (const a of Array.from(document.querySelectorAll<HTMLAnchorElement>('#chart-window a'))) {
    if ((a.dataset.window === 'day') === day) a.setAttribute('aria-current', 'true');
    else a.removeAttribute('aria-current');
  }
  drawCharts(day ? body.lastDay : body.lastHour);
  again(renderOverview, 3000);
}

/**
 * A window's buckets as series (counts of empty buckets as zero, their durations as gaps), drawn with
 * uPlot in the page's colours, so the charts follow light and dark.
 */
let lastWindow: Parameters<typeof drawCharts>[0] | undefined;

function drawCharts(w: { fromDateTime: string; bucketSeconds: number; buckets: any[] }): void {
  lastWindow = w;
  const step = w.bucketSeconds;
  const start = Math.floor(Date.parse(w.fromDateTime) / 1000 / step) * step;
  const xs: number[] = [];
  for (let x = start; x <= Date.now() / 1000; x += step) xs.push(x);
  const at = new Map<number, any>(w.buckets.map((b) => [Date.parse(b.startDateTime) / 1000, b]));
  const count = (f: (b: any) => number) => xs.map((x) => (at.has(x) ? f(at.get(x)) : 0));
  const series = (f: (b: any) => number | null) => xs.map((x) => (at.has(x) ? f(at.get(x)) : null));
  const css = getComputedStyle(document.documentElement);
  const color = (name: string) => css.getPropertyValue(name).trim();
  const axes = [
    { stroke: color('--fg'), grid: { stroke: color('--line') }, ticks: { stroke: color('--line') } },
    { stroke: color('--fg'), grid: { stroke: color('--line') }, ticks: { stroke: color('--line') } },
  ];
  const width = Math.max(320, $('chart-throughput').clientWidth || 480);
  for (const c of charts) c.destroy();
  charts = [
    new uPlot(
      {
        width,
        height: 200,
        axes,
        series: [
          {},
          { label: 'created', stroke: color('--accent'), width: 2 },
          { label: 'finished', stroke: color('--ok'), width: 2 },
          { label: 'failed', stroke: color('--bad'), width: 2 },
        ],
      },
      [xs, count((b) => b.created), count((b) => b.finished), count((b) => b.failed)],
      $('chart-throughput'),
    ),
    new uPlot(
      {
        width,
        height: 200,
        axes,
        series: [
          {},
          { label: 'p50 ms', stroke: color('--accent'), width: 2, spanGaps: true, points: { show: true } },
          { label: 'p95 ms', stroke: color('--run'), width: 2, spanGaps: true, points: { show: true } },
        ],
      },
      [xs, series((b) => b.durationP50Ms), series((b) => b.durationP95Ms)],
      $('chart-duration'),
    ),
  ];
}

function filterFromForm(): URLSearchParams {
  const p = new URLSearchParams();
  const value = (id: string) => $<HTMLInputElement>(id).value.trim();
  const pairs: [string, string][] = [
    ['family', value('f-family')],
    ['status', value('f-status')],
    ['type', value('f-type')],
    ['handler', value('f-handler')],
    ['collection', value('f-collection')],
    ['id', value('f-id')],
    ['createdAfter', value('f-created') ? new Date(value('f-created')).toISOString() : ''],
  ];
  for (const [k, v] of pairs) if (v) p.set(k, v);
  return p;
}

function formFromFilter(p: URLSearchParams): void {
  const set = (id: string, v: string | null) => ($<HTMLInputElement>(id).value = v ?? '');
  set('f-family', p.get('family'));
  set('f-status', p.get('status'));
  set('f-type', p.get('type'));
  set('f-handler', p.get('handler'));
  set('f-collection', p.get('collection'));
  set('f-id', p.get('id'));
  const created = p.get('createdAfter');
  set('f-created', created ? new Date(created).toISOString().slice(0, 16) : '');
}

function apiFilter(p: URLSearchParams): URLSearchParams {
  const q = new URLSearchParams();
  for (const k of FILTERS) if (p.get(k)) q.set(k, p.get(k)!);
  return q;
}

function row(o: Summary): string {
  const pct = o.percentComplete;
  return `<tr data-key="${esc(o.key)}" data-id="${esc(o.id)}"><td><a href="#/operation/${encodeURIComponent(o.key)}">${esc(o.id)}</a></td><td>${esc(o.family)}</td><td>${esc(o.collection)}</td><td>${esc(o.type)}</td><td><span class="status ${esc(o.status)}">${esc(o.status)}</span></td><td>${pct === null ? '-' : `<progress max="100" value="${pct}" aria-label="progress ${pct}%"></progress> ${pct}%`}</td><td>${esc(o.handler ?? '-')}</td><td>${o.attempts}/${o.maxAttempts}</td><td>${time(o.createdDateTime)}</td></tr>`;
}

async function renderOperations(p: URLSearchParams, more = false): Promise<void> {
  formFromFilter(p);
  const q = apiFilter(p);
  q.set('top', '50');
  const { status, body } = await call('GET', more && nextLink ? nextLink : `${API}/operations?${q}`);
  if (status !== 200) return;
  const tbody = $('all-ops').querySelector('tbody')!;
  const html = body.value.map(row).join('');
  if (more) tbody.insertAdjacentHTML('beforeend', html);
  else tbody.innerHTML = html || `<tr><td colspan="9">No operations match.</td></tr>`;
  nextLink = body.nextLink ? new URL(body.nextLink).pathname + new URL(body.nextLink).search : undefined;
  $('all-next').hidden = !nextLink;
  // Live rows: the first page is read again while it is shown (and no further page was asked for).
  if (!more) again(() => renderOperations(p), 1500);
}

async function renderDetail(key: string): Promise<void> {
  const { status, body } = await call('GET', `${API}/operations/${encodeURIComponent(key)}`);
  if (status === 404) {
    $('op-title').textContent = 'Operation not found';
    $('op-facts').innerHTML = '';
    return;
  }
  if (status !== 200) return;
  $('op-title').textContent = `Operation ${body.id}`;
  const facts: [string, unknown][] = [
    ['Status', `<span class="status ${esc(body.status)}">${esc(body.status)}</span>`],
    ['Status detail', esc(body.statusDetail ?? '-')],
    [
      'Error',
      body.error
        ? `<span class="error" id="op-error">${esc(body.error.code ?? '')} ${esc(body.error.message ?? '')}</span>`
        : '-',
    ],
    ['Collection', `${esc(body.collection)} (${esc(body.family)})`],
    ['Type', esc(body.type)],
    ['Handler', esc(body.handler ?? '-')],
    ['Attempts', `${body.attempts} of ${body.maxAttempts}`],
    ['Lease', body.leaseOwner ? `${esc(body.leaseOwner)} until ${time(body.leaseExpiresDateTime)}` : '-'],
    ['Next run', time(body.nextRunDateTime)],
    ['Checkpoint', body.checkpoint === null ? '-' : `<code>${esc(JSON.stringify(body.checkpoint))}</code>`],
    ['Idempotency key', esc(body.idempotencyKey ?? '-')],
    ['Created by', esc(body.createdBy ?? '-')],
    ['Created', time(body.createdDateTime)],
    ['Finished', time(body.finishedDateTime)],
  ];
  $('op-facts').innerHTML = facts.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('');
  $('op-attempts').querySelector('tbody')!.innerHTML =
    body.attemptList
      .map(
        (a: any) =>
          `<tr><td>${a.number}</td><td>${esc(a.worker)}</td><td>${time(a.startedDateTime)}</td><td>${time(a.endedDateTime)}</td><td>${a.durationMs ?? '-'}</td><td>${esc(a.outcome ?? 'running')}</td><td class="error">${esc(a.error?.message ?? '')}</td></tr>`,
      )
      .join('') || '<tr><td colspan="7">No attempts yet.</td></tr>';
  $('op-history').innerHTML = body.history
    .map((e: any) => `<li>${time(e.at)} ${esc(e.kind)} → ${esc(e.toStatus)} (${esc(e.actor)})</li>`)
    .join('');
  $('op-json').textContent = JSON.stringify(body.operation, null, 2);
  const terminal = TERMINAL.has(body.status);
  $('op-retry').hidden = !(body.handler && (body.status === 'failed' || body.status === 'canceled'));
  $('op-cancel').hidden = terminal;
  $('op-delete').hidden = !terminal;
  $('view-detail').dataset.key = key;
  if (!terminal) again(() => renderDetail(key), 500);
}

async function bulkCancel(): Promise<void> {
  const filter = Object.fromEntries(apiFilter(filterFromForm()));
  const dry = await call('POST', `${API}/operations/bulk`, { action: 'cancel', filter, dryRun: true });
  if (dry.status !== 200) return;
  const n = dry.body.matched as number;
  if (n === 0) return say('No unfinished operations match this filter: nothing to cancel.');
  $('confirm-text').textContent = `Cancel ${n} operation${n === 1 ? '' : 's'} that match this filter?`;
  const dialog = $<HTMLDialogElement>('confirm');
  dialog.returnValue = '';
  dialog.showModal();
  dialog.addEventListener(
    'close',
    async () => {
      if (dialog.returnValue !== 'yes') return say('Nothing was canceled.');
      const done = await call('POST', `${API}/operations/bulk`, { action: 'cancel', filter });
      if (done.status === 200) {
        void render(); // clears the message first: it says what happened after
        say(
          `Canceled ${done.body.done} of ${done.body.matched}${done.body.more ? ' (more remain: run it again)' : ''}.`,
        );
      }
    },
    { once: true },
  );
}

let wired = false;

/** Called once signed in: wires the views and shows the one the URL names (the overview by default). */
export function startConsole(): void {
  $('nav').hidden = false;
  if (!wired) {
    wired = true;
    window.addEventListener('hashchange', () => void render());
    // Canvas colours are read when drawn: draw again when the system switches between light and dark.
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
      if (lastWindow && !$('view-overview').hidden) drawCharts(lastWindow);
    });
    $('all-filters').addEventListener('submit', (e) => {
      e.preventDefault();
      location.hash = `#/operations?${filterFromForm()}`;
    });
    $('all-next').addEventListener('click', () => void renderOperations(route().params, true));
    $('bulk-cancel').addEventListener('click', () => void bulkCancel());
    $('confirm-yes').addEventListener('click', () => $<HTMLDialogElement>('confirm').close('yes'));
    $('confirm-no').addEventListener('click', () => $<HTMLDialogElement>('confirm').close('no'));
    const key = () => $('view-detail').dataset.key!;
    $('op-retry').addEventListener('click', async () => {
      const { status, body } = await call('POST', `${API}/operations/${encodeURIComponent(key())}/retry`);
      if (status === 201) {
        location.hash = `#/operation/${encodeURIComponent(body.key)}`;
        say(`Retrying as operation ${body.id}.`);
      }
    });
    $('op-cancel').addEventListener('click', async () => {
      if ((await call('POST', `${API}/operations/${encodeURIComponent(key())}/cancel`)).status === 200)
        void render();
    });
    $('op-delete').addEventListener('click', async () => {
      if ((await call('DELETE', `${API}/operations/${encodeURIComponent(key())}`)).status === 204) {
        say('Deleted.');
        history.back();
      }
    });
  }
  void render();
}

export function stopConsole(): void {
  clearTimeout(refresh);
  $('nav').hidden = true;
}
