/**
 * `GET /metrics` against real servers: the exposition parses with a Prometheus text-format parser written
 * here (HELP/TYPE lines, samples with escaped labels, histogram invariants), the HTTP counters and
 * histograms move with traffic by family, method and status, the operations and queue gauges reflect the
 * store, and the engine counters (claims, retries, completions, handler durations, lease expiries) move
 * as workers run handlers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError, type HandlerDefinition } from '../src/engine/handler.js';
import { FAMILIES } from '../src/families/families.js';
import { ACTIONS } from '../src/http/actions/definitions.js';
import { familyLabel } from '../src/http/metrics.js';
import { startTestServer, type TestServer } from './support/server.js';

// ---------------------------------------------------------------------------------------------------------
// Prometheus text format 0.0.4

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Exposition {
  types: Map<string, string>;
  help: Map<string, string>;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})?\\s+(\\S+)(?:\\s+(-?\\d+))?$`);
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const start = LABEL.lastIndex;
    const m = LABEL.exec(text);
    if (!m || m.index !== start) throw new Error(`bad labels: {${text}}`);
    if (m[1] in labels) throw new Error(`duplicate label ${m[1]}`);
    labels[m[1]] = m[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    if (m[3] === '') break;
  }
  return labels;
}

/** Like Prometheus (Go's ParseFloat): Inf and NaN in any case (prom-client writes `Nan`). */
function parseValue(text: string): number {
  const lower = text.toLowerCase();
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  if (lower === 'nan') return NaN;
  const v = Number(text);
  if (text.trim() === '' || Number.isNaN(v)) throw new Error(`bad value ${text}`);
  return v;
}

function parseExposition(text: string): Exposition {
  const out: Exposition = { types: new Map(), help: new Map(), samples: [] };
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`).exec(line);
      if (!m) continue; // other comments are allowed
      if (m[1] === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3]))
          throw new Error(`bad type: ${line}`);
        if (out.types.has(m[2])) throw new Error(`second TYPE for ${m[2]}`);
        out.types.set(m[2], m[3]);
      } else out.help.set(m[2], m[3]);
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`bad sample line: ${line}`);
    out.samples.push({ name: m[1], labels: m[2] ? parseLabels(m[2]) : {}, value: parseValue(m[3]) });
  }
  // Every sample belongs to a declared family, and histograms are consistent.
  const familyOf = (name: string) =>
    out.types.has(name) ? name : name.replace(/_(bucket|sum|count|total|created)$/, '');
  for (const s of out.samples) {
    const family = familyOf(s.name);
    expect(out.types.has(family), `TYPE for ${s.name}`).toBe(true);
    if (out.types.get(family) === 'histogram' && s.name.endsWith('_bucket'))
      expect(s.labels.le).toBeDefined();
  }
  for (const [family, type] of out.types) {
    if (type !== 'histogram') continue;
    const series = new Map<string, Sample[]>();
    for (const s of out.samples.filter((x) => x.name === `${family}_bucket`)) {
      const { le: _le, ...rest } = s.labels;
      const key = JSON.stringify(rest);
      series.set(key, [...(series.get(key) ?? []), s]);
    }
    for (const [key, buckets] of series) {
      const values = buckets.map((b) => b.value);
      expect(values, `${family} ${key} buckets are cumulative`).toEqual([...values].sort((a, b) => a - b));
      expect(buckets[buckets.length - 1].labels.le).toBe('+Inf');
      const count = out.samples.find((x) => x.name === `${family}_count` && JSON.stringify(x.labels) === key);
      expect(count?.value).toBe(values[values.length - 1]);
    }
  }
  return out;
}

/** The value of one sample (0 when absent, as a counter that has not moved yet). */
function value(e: Exposition, name: string, labels: Record<string, string> = {}): number {
  const s = e.samples.find(
    (x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v),
  );
  return s?.value ?? 0;
}

async function scrape(server: TestServer): Promise<Exposition> {
  const res = await fetch(`${server.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

// ---------------------------------------------------------------------------------------------------------

describe('the test parser', () => {
  it('reads labels with escapes and rejects malformed lines', () => {
    const e = parseExposition(
      '# HELP x_total Things.\n# TYPE x_total counter\nx_total{a="q\\"uote",b="back\\\\slash"} 3\n',
    );
    expect(e.samples[0]).toEqual({ name: 'x_total', labels: { a: 'q"uote', b: 'back\\slash' }, value: 3 });
    expect(() => parseExposition('# TYPE y gauge\ny{a=1} 2\n')).toThrow();
    expect(() => parseExposition('# TYPE y gauge\ny two\n')).toThrow();
  });
});

describe('route families', () => {
  it('names every family by its collections and actions, and everything else other', () => {
    for (const family of FAMILIES) {
      for (const c of family.collections) {
        const path = c.segments.map((s) => (s.startsWith(':') ? 'x' : s)).join('/');
        expect(familyLabel(`/v1.0/${path}/abc?$select=id`)).toBe(family.name);
        expect(familyLabel(`/beta/${path}`)).toBe(family.name);
      }
    }
    for (const a of ACTIONS) {
      expect(
        familyLabel(`/${a.versions[0]}/${a.segments.map((s) => (s.startsWith(':') ? 'x' : s)).join('/')}`),
      ).toBe(a.family);
    }
    expect(familyLabel("/v1.0/users('alice')/authentication/operations")).toBe('authentication');
    for (const url of [
      '/healthz',
      '/metrics',
      '/v1.0/$metadata',
      '/v1.0/$batch',
      '/v2/operations',
      '/v1.0/nothing',
    ]) {
      expect(familyLabel(url), url).toBe('other');
    }
  });
});

describe('HTTP, operations and queue metrics', () => {
  let server: TestServer;
  beforeAll(async () => {
    const idle: HandlerDefinition = { name: 'idle', run: async () => {} };
    server = await startTestServer({ worker: false, retention: false, handlers: [idle] });
  });
  afterAll(() => server?.close());

  it('is public, parses, and carries the documented families', async () => {
    const e = await scrape(server);
    for (const [name, type] of [
      ['longrun_http_requests_total', 'counter'],
      ['longrun_http_request_duration_seconds', 'histogram'],
      ['longrun_operations', 'gauge'],
      ['longrun_queue_due', 'gauge'],
      ['longrun_queue_oldest_due_age_seconds', 'gauge'],
      ['longrun_engine_claims_total', 'counter'],
      ['longrun_engine_retries_total', 'counter'],
      ['longrun_engine_completions_total', 'counter'],
      ['longrun_engine_lease_expiries_total', 'counter'],
      ['longrun_handler_duration_seconds', 'histogram'],
      ['longrun_store_query_duration_seconds', 'histogram'],
      ['process_cpu_user_seconds_total', 'counter'],
    ]) {
      expect(e.types.get(name.replace(/_total$/, '')) ?? e.types.get(name), name).toBe(type);
      expect(e.help.get(name.replace(/_total$/, '')) ?? e.help.get(name)).toBeTruthy();
    }
  });

  it('counts requests and their latency by family, method and status', async () => {
    const before = await scrape(server);
    for (let i = 0; i < 3; i++) expect((await server.request('GET', '/v1.0/operations')).status).toBe(200);
    expect((await server.request('GET', '/v1.0/operations/missing')).status).toBe(404);
    expect((await server.request('POST', '/v1.0/sites/s1/operations', { body: {} })).status).toBe(201);
    expect((await server.request('POST', '/v1.0/sites/s1/operations', { body: '{bad' })).status).toBe(400);
    expect((await server.request('GET', '/beta/external/industryData/operations')).status).toBe(200);
    const after = await scrape(server);

    const delta = (name: string, labels: Record<string, string>) =>
      value(after, name, labels) - value(before, name, labels);
    const requests = 'longrun_http_requests_total';
    expect(delta(requests, { family: 'app', method: 'GET', status: '200' })).toBe(3);
    expect(delta(requests, { family: 'app', method: 'GET', status: '404' })).toBe(1);
    expect(delta(requests, { family: 'sites', method: 'POST', status: '201' })).toBe(1);
    expect(delta(requests, { family: 'sites', method: 'POST', status: '400' })).toBe(1);
    expect(delta(requests, { family: 'industryData', method: 'GET', status: '200' })).toBe(1);
    // The first scrape itself was counted (family other) once it was answered.
    expect(delta(requests, { family: 'other', method: 'GET', status: '200' })).toBe(1);
    const hist = 'longrun_http_request_duration_seconds';
    expect(delta(`${hist}_count`, { family: 'app', method: 'GET', status: '200' })).toBe(3);
    expect(delta(`${hist}_sum`, { family: 'app', method: 'GET', status: '200' })).toBeGreaterThan(0);
    expect(delta(`${hist}_bucket`, { family: 'app', method: 'GET', status: '404', le: '+Inf' })).toBe(1);
    expect(delta('longrun_store_query_duration_seconds_count', { method: 'insert' })).toBe(1);
    expect(delta('longrun_store_query_duration_seconds_count', { method: 'list' })).toBe(4);
    // The read of one operation (the GET of a missing one here) is timed too.
    expect(delta('longrun_store_query_duration_seconds_count', { method: 'read' })).toBe(1);
  });

  it('reports operations by status and type, and the due queue, from the store', async () => {
    const before = await scrape(server);
    const t0 = Date.now();
    for (let i = 0; i < 3; i++) await server.node.start('idle', { i });
    const op = await server.node.start('idle', {}, { collection: '/sites/s2/operations' });
    // A PATCH moves one operation to running, another one not run by a handler.
    const plain = (await (await server.request('POST', '/v1.0/operations', { body: {} })).json()) as {
      id: string;
    };
    await server.request('PATCH', `/v1.0/operations/${plain.id}`, { body: { status: 'running' } });
    await new Promise((r) => setTimeout(r, 30));
    const after = await scrape(server);

    const ops = (status: string, type: string) =>
      value(after, 'longrun_operations', { status, type }) -
      value(before, 'longrun_operations', { status, type });
    expect(ops('notStarted', 'longRunningOperation')).toBe(3);
    expect(ops('notStarted', 'richLongRunningOperation')).toBe(1);
    expect(ops('running', 'longRunningOperation')).toBe(1);
    expect(
      value(after, 'longrun_operations', { status: 'canceled', type: 'attackSimulationOperation' }),
    ).toBe(0);
    expect(
      after.samples.some(
        (s) => s.name === 'longrun_operations' && s.labels.type === 'industryData.validateOperation',
      ),
    ).toBe(false);

    expect(value(after, 'longrun_queue_due') - value(before, 'longrun_queue_due')).toBe(4);
    const age = value(after, 'longrun_queue_oldest_due_age_seconds');
    expect(age).toBeGreaterThanOrEqual(0.02);
    expect(age).toBeLessThanOrEqual((Date.now() - t0) / 1000 + 60);

    // Canceled work leaves the queue.
    await server.request('POST', `/v1.0/sites/s2/operations/${op.id}/cancel`);
    const later = await scrape(server);
    expect(value(later, 'longrun_queue_due')).toBe(value(after, 'longrun_queue_due') - 1);
    expect(value(later, 'longrun_operations', { status: 'canceled', type: 'richLongRunningOperation' })).toBe(
      1,
    );
  });

  it('counts a claim that takes over an expired lease', async () => {
    const { service } = server.node;
    const op = await server.node.start('idle', {}, { collection: '/operations' });
    const before = await scrape(server);
    // A worker claims (everything due, this operation among it) and then "dies": its leases run out and
    // another worker's claim takes those operations over.
    const claim = (workerId: string, leaseMs: number) =>
      service.claim({ workerId, limit: 100, leaseMs, handlers: ['idle'] });
    const first = await claim('dead-worker', 20);
    expect(first.map((r) => r.id)).toContain(op.id);
    await new Promise((r) => setTimeout(r, 40));
    const second = await claim('second-worker', 60_000);
    expect(second.map((r) => r.id).sort()).toEqual(first.map((r) => r.id).sort());
    const expiries = async () =>
      value(await scrape(server), 'longrun_engine_lease_expiries_total') -
      value(before, 'longrun_engine_lease_expiries_total');
    await eventually(async () => (await expiries()) === second.length);
    const after = await scrape(server);
    expect(value(after, 'longrun_engine_claims_total') - value(before, 'longrun_engine_claims_total')).toBe(
      first.length + second.length,
    );
    // A claim after a retry is not a takeover.
    await service.attemptWrite(second[0], { leaseOwner: null, runAt: Date.now() }, 'retry');
    const third = await claim('third-worker', 60_000);
    expect(third.map((r) => r.id)).toEqual([second[0].id]);
    await new Promise((r) => setTimeout(r, 50));
    expect(await expiries()).toBe(second.length);
  });
});

describe('engine metrics with a running worker', () => {
  let server: TestServer;
  const attempts = new Map<string, number>();
  beforeAll(async () => {
    const handlers: HandlerDefinition[] = [
      { name: 'ok', run: async () => ({ resourceLocation: 'https://example.test/done' }) },
      { name: 'broken', run: async () => Promise.reject(new PermanentError('broken on purpose')) },
      {
        name: 'flaky',
        maxAttempts: 3,
        run: async ({ operation }) => {
          const n = (attempts.get(operation.id) ?? 0) + 1;
          attempts.set(operation.id, n);
          if (n === 1) throw new Error('first attempt fails');
        },
      },
    ];
    server = await startTestServer({
      retention: false,
      handlers,
      worker: { pollIntervalMs: 20, retryBaseMs: 10, retryCapMs: 20 },
    });
  });
  afterAll(() => server?.close());

  it('counts claims, retries, completions by status and handler durations', async () => {
    const before = await scrape(server);
    const ok = await server.node.start('ok', {});
    const broken = await server.node.start('broken', {});
    const flaky = await server.node.start('flaky', {});
    const statusOf = async (id: string) =>
      ((await (await server.request('GET', `/v1.0/operations/${id}`)).json()) as { status: string }).status;
    await eventually(async () => (await statusOf(ok.id)) === 'succeeded');
    await eventually(async () => (await statusOf(broken.id)) === 'failed');
    await eventually(async () => (await statusOf(flaky.id)) === 'succeeded');
    const after = await scrape(server);

    const delta = (name: string, labels: Record<string, string> = {}) =>
      value(after, name, labels) - value(before, name, labels);
    expect(delta('longrun_engine_claims_total')).toBe(4);
    expect(delta('longrun_engine_retries_total')).toBe(1);
    expect(delta('longrun_engine_completions_total', { status: 'succeeded' })).toBe(2);
    expect(delta('longrun_engine_completions_total', { status: 'failed' })).toBe(1);
    expect(delta('longrun_engine_lease_expiries_total')).toBe(0);
    const durations = 'longrun_handler_duration_seconds_count';
    expect(delta(durations, { handler: 'ok', outcome: 'succeeded' })).toBe(1);
    expect(delta(durations, { handler: 'broken', outcome: 'failed' })).toBe(1);
    expect(delta(durations, { handler: 'flaky', outcome: 'retry' })).toBe(1);
    expect(delta(durations, { handler: 'flaky', outcome: 'succeeded' })).toBe(1);
    expect(delta('longrun_operations', { status: 'succeeded', type: 'longRunningOperation' })).toBe(2);
    expect(value(after, 'longrun_queue_due')).toBe(0);
  });
});
