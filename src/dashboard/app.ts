/**
 * The dashboard's script (runs in the browser; compiled by tsc to dist/dashboard/app.js). Sign in with a
 * pasted token (kept in sessionStorage), pick a collection, filter, page through it server-side, watch
 * rows change live from the collection's event stream, open an operation to see its JSON, the changes
 * seen while the page was open, and cancel or delete it.
 */
import { startConsole, stopConsole } from './console.js';

interface Operation {
  '@odata.type'?: string;
  id: string;
  status?: string;
  createdDateTime?: string;
  lastActionDateTime?: string;
  resourceLocation?: string | null;
  statusDetail?: string | null;
  percentageComplete?: number | null;
  percentageCompleted?: number | null;
}

const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const rows = new Map<string, Operation>();
const timeline = new Map<string, string[]>();
let stream: AbortController | undefined;
let collection = '';
let openId: string | undefined;

const token = () => sessionStorage.getItem('longrun.token') ?? '';

async function api(method: string, path: string): Promise<Response> {
  const res = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${token()}`, prefer: 'include-unknown-enum-members' },
  });
  if (res.status === 401) signOut('Your token was refused; sign in again.');
  return res;
}

function show(message: string): void {
  $('message').textContent = message;
}

function signOut(message = ''): void {
  sessionStorage.removeItem('longrun.token');
  stream?.abort();
  $('main').hidden = true;
  $('signout').hidden = true;
  $('signin').hidden = false;
  stopConsole();
  show(message);
}

function progressOf(op: Operation): number | undefined {
  const p = op.percentageComplete ?? op.percentageCompleted;
  return typeof p === 'number' ? p : undefined;
}

function shortType(op: Operation): string {
  return (op['@odata.type'] ?? '#microsoft.graph.longRunningOperation').replace('#microsoft.graph.', '');
}

function filterText(): string | undefined {
  const parts: string[] = [];
  const status = $<HTMLSelectElement>('status').value;
  if (status) parts.push(`status eq '${status}'`);
  const after = $<HTMLInputElement>('after').value;
  if (after) parts.push(`createdDateTime ge ${new Date(after).toISOString()}`);
  return parts.length ? parts.join(' and ') : undefined;
}

/** Type is filtered on the page shown: the API has no filter on @odata.type. */
function matchesType(op: Operation): boolean {
  const type = $<HTMLInputElement>('type').value.trim();
  return !type || shortType(op).toLowerCase().includes(type.toLowerCase());
}

function matchesFilter(op: Operation): boolean {
  const status = $<HTMLSelectElement>('status').value;
  return (!status || op.status === status) && matchesType(op);
}

function renderRow(op: Operation, tr = document.createElement('tr')): HTMLTableRowElement {
  tr.dataset.id = op.id;
  tr.tabIndex = 0;
  const p = progressOf(op);
  const cells = [
    op.id,
    shortType(op),
    `<span class="status ${op.status ?? ''}">${op.status ?? '-'}</span>`,
    p === undefined ? '-' : `<progress max="100" value="${p}"></progress> ${p}%`,
    op.createdDateTime?.slice(0, 19).replace('T', ' ') ?? '',
    op.lastActionDateTime?.slice(0, 19).replace('T', ' ') ?? '',
    op.resourceLocation ?? '',
  ];
  tr.innerHTML = cells
    .map(
      (c, i) =>
        `<td class="${['id', 'type', 'st', 'progress', 'created', 'last', 'resource'][i]}">${i === 2 || i === 3 ? c : escape(c)}</td>`,
    )
    .join('');
  return tr;
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function upsert(op: Operation, prepend: boolean): void {
  const body = $('ops').querySelector('tbody')!;
  const existing = body.querySelector<HTMLTableRowElement>(`tr[data-id="${CSS.escape(op.id)}"]`);
  rows.set(op.id, op);
  if (existing) renderRow(op, existing);
  else if (matchesFilter(op)) {
    const tr = renderRow(op);
    if (prepend) body.prepend(tr);
    else body.append(tr);
    if (rows.size === 1) show('');
  }
  if (openId === op.id) renderDetail(op);
}

async function load(url?: string): Promise<void> {
  collection = $<HTMLInputElement>('custom').value.trim() || $<HTMLSelectElement>('collection').value;
  let target = url;
  if (!target) {
    const params = new URLSearchParams({ $top: '50', $orderby: 'createdDateTime desc' });
    const filter = filterText();
    if (filter) params.set('$filter', filter);
    target = `${collection}?${params}`;
    $('ops').querySelector('tbody')!.replaceChildren();
    rows.clear();
    subscribe();
  }
  const res = await api('GET', target);
  if (res.status === 403) return show('Your token may not read this collection.');
  if (!res.ok) return show(`The server answered ${res.status}.`);
  const page = (await res.json()) as { value: Operation[]; '@odata.nextLink'?: string };
  for (const op of page.value.filter(matchesType)) upsert(op, false);
  const next = $<HTMLButtonElement>('next');
  next.hidden = !page['@odata.nextLink'];
  next.dataset.link = page['@odata.nextLink']
    ? new URL(page['@odata.nextLink']).pathname + new URL(page['@odata.nextLink']).search
    : '';
  show(rows.size === 0 ? 'No operations match.' : '');
}

/** The collection's event stream over fetch (EventSource can't send the token), resuming with Last-Event-ID. */
function subscribe(): void {
  stream?.abort();
  const controller = (stream = new AbortController());
  const path = collection.split('?')[0];
  let lastId: string | undefined;
  void (async () => {
    while (!controller.signal.aborted) {
      try {
        const headers: Record<string, string> = {
          authorization: `Bearer ${token()}`,
          prefer: 'include-unknown-enum-members',
        };
        if (lastId) headers['last-event-id'] = lastId;
        const res = await fetch(`${path}/events`, { headers, signal: controller.signal });
        if (!res.ok || !res.body) return;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let data = '';
            for (const line of block.split('\n')) {
              if (line.startsWith('id:')) lastId = line.slice(3).trim();
              else if (line.startsWith('data:')) data += line.slice(5).trim();
            }
            if (!data) continue;
            const op = JSON.parse(data) as Operation;
            if (!op.status) continue; // a deletion
            const entry = `${new Date().toLocaleTimeString()}  ${op.status}${progressOf(op) === undefined ? '' : ` ${progressOf(op)}%`}${op.statusDetail ? `  ${op.statusDetail}` : ''}`;
            timeline.set(op.id, [...(timeline.get(op.id) ?? []), entry]);
            upsert(op, true);
          }
        }
      } catch {
        if (controller.signal.aborted) return;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
}

function operationPath(id: string): string {
  return `${collection.split('?')[0]}/${encodeURIComponent(id)}`;
}

function renderDetail(op: Operation): void {
  $('detail-title').textContent = op.id;
  $('json').textContent = JSON.stringify(op, null, 2);
  const items = timeline.get(op.id) ?? ['(changes appear here while the page is open)'];
  $('timeline').replaceChildren(
    ...items.map((t) => Object.assign(document.createElement('li'), { textContent: t })),
  );
  $('cancel').hidden = TERMINAL.has(op.status ?? '') || op.status === 'unknownFutureValue';
  $('delete').hidden = !TERMINAL.has(op.status ?? '');
}

async function openDetail(id: string): Promise<void> {
  const res = await api('GET', operationPath(id));
  if (!res.ok) return show(`The server answered ${res.status}.`);
  openId = id;
  const history = await api('GET', `${operationPath(id)}/history`);
  if (history.ok) {
    const events = (
      (await history.json()) as { value: { at: string; to: string; actor: string; kind: string }[] }
    ).value;
    timeline.set(
      id,
      events.map((e) => `${e.at.slice(0, 19).replace('T', ' ')}  ${e.kind} → ${e.to}  (${e.actor})`),
    );
  }
  renderDetail((await res.json()) as Operation);
  $<HTMLDialogElement>('detail').showModal();
}

function start(): void {
  $('signin').hidden = true;
  $('signout').hidden = false;
  $('main').hidden = false;
  void load();
  startConsole();
}

$('signin').addEventListener('submit', (e) => {
  e.preventDefault();
  const value = $<HTMLInputElement>('token').value.trim();
  if (!value) return;
  sessionStorage.setItem('longrun.token', value);
  $<HTMLInputElement>('token').value = '';
  start();
});
$('signout').addEventListener('click', () => signOut());
$('filters').addEventListener('submit', (e) => {
  e.preventDefault();
  void load();
});
$('next').addEventListener('click', () => void load($('next').dataset.link));
const tbody = $('ops').querySelector('tbody')!;
tbody.addEventListener('click', (e) => {
  const id = (e.target as HTMLElement).closest('tr')?.dataset.id;
  if (id) void openDetail(id);
});
tbody.addEventListener('keydown', (e) => {
  const tr = (e.target as HTMLElement).closest('tr');
  if (!tr) return;
  if (e.key === 'Enter') void openDetail(tr.dataset.id!);
  if (e.key === 'ArrowDown') (tr.nextElementSibling as HTMLElement | null)?.focus();
  if (e.key === 'ArrowUp') (tr.previousElementSibling as HTMLElement | null)?.focus();
});
$('close').addEventListener('click', () => $<HTMLDialogElement>('detail').close());
$('detail').addEventListener('close', () => (openId = undefined));
$('cancel').addEventListener('click', async () => {
  if (!openId) return;
  const res = await api('POST', `${operationPath(openId)}/cancel`);
  show(res.status === 202 ? `Cancel requested for ${openId}.` : `Cancel refused (${res.status}).`);
});
$('delete').addEventListener('click', async () => {
  if (!openId) return;
  const id = openId;
  const res = await api('DELETE', operationPath(id));
  if (res.status === 204) {
    $<HTMLDialogElement>('detail').close();
    tbody.querySelector(`tr[data-id="${CSS.escape(id)}"]`)?.remove();
    rows.delete(id);
    show(`Deleted ${id}.`);
  } else show(`Delete refused (${res.status}).`);
});

if (token()) start();
