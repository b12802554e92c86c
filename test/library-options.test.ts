/**
 * Every bad library option fails where it is given (createLongrun, defineHandler, start, jwtAuth,
 * operation, wait), with a LongrunOptionError whose message names the option and the rule, never an
 * internal TypeError or a silent acceptance. createLongrun checks everything before it opens a store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLongrun, defineHandler, jwtAuth, LongrunOptionError, Type } from '../src/index.js';

const ok = { name: 'ok', run: async () => undefined };

async function optionError(fn: () => unknown): Promise<LongrunOptionError> {
  let error: unknown;
  try {
    await fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(LongrunOptionError);
  return error as LongrunOptionError;
}

describe('defineHandler', () => {
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    ['empty name', { name: '' }, 'name', /non-empty string/],
    ['blank name', { name: '  ' }, 'name', /non-empty string/],
    ['reserved name', { name: 'longrun.scenario' }, 'name', /reserved/],
    ['bogus type', { type: 'bogus' }, 'type', /must be one of .*richLongRunningOperation/],
    ['abstract type', { type: 'industryData.validateOperation' }, 'type', /must be one of/],
    ['maxAttempts 0', { maxAttempts: 0 }, 'maxAttempts', /integer from 1 to 1000/],
    ['maxAttempts 1.5', { maxAttempts: 1.5 }, 'maxAttempts', /integer/],
    ['negative timeoutMs', { timeoutMs: -5 }, 'timeoutMs', /integer of at least 1/],
    ['input not a schema', { input: { reportId: 'string' } }, 'input', /TypeBox schema/],
    ['run missing', { run: undefined }, 'run', /must be a function/],
    ['unknown option', { retries: 3 }, 'retries', /is not an option/],
  ];
  for (const [what, patch, option, rule] of cases) {
    it(`refuses ${what}, naming '${option}'`, async () => {
      const e = await optionError(() => defineHandler({ ...ok, ...patch } as never));
      expect(e.option).toBe(option);
      expect(e.message).toContain(`defineHandler: '${option}'`);
      expect(e.message).toMatch(rule);
    });
  }
});

describe('createLongrun', () => {
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    ['duplicate handler names', { handlers: [ok, { ...ok }] }, 'handlers[1].name', /unique/],
    ['an empty handler name', { handlers: [{ ...ok, name: '' }] }, 'handlers[0].name', /non-empty/],
    ['a bogus handler type', { handlers: [{ ...ok, type: 'bogus' }] }, 'handlers[0].type', /must be one of/],
    ['maxAttempts 0', { handlers: [{ ...ok, maxAttempts: 0 }] }, 'handlers[0].maxAttempts', /from 1/],
    ['handlers not an array', { handlers: ok }, 'handlers', /array/],
    ['concurrency 0', { worker: { concurrency: 0 } }, 'worker.concurrency', /at least 1|from 1/],
    ['a negative prefetch', { worker: { prefetch: -1 } }, 'worker.prefetch', /from 0 to 10000|at least 0/],
    ['negative leaseMs', { worker: { leaseMs: -1 } }, 'worker.leaseMs', /at least 300/],
    ['a misspelled worker option', { worker: { concurency: 2 } }, 'worker.concurency', /not an option/],
    ['a misspelled option', { handler: [ok] }, 'handler', /is not an option/],
    ['an empty dbFile', { dbFile: '' }, 'dbFile', /non-empty/],
    ['a relative publicUrl', { publicUrl: 'api.example.com' }, 'publicUrl', /absolute http\(s\) URL/],
    ['a negative retryAfterSeconds', { retryAfterSeconds: -1 }, 'retryAfterSeconds', /from 0 to 3600/],
    ['maxWaitSeconds too large', { maxWaitSeconds: 10_000 }, 'maxWaitSeconds', /from 0 to 3600/],
    ['a bogus auth', { auth: 'jwt' }, 'auth', /jwtAuth\(/],
    ['a short dataKey', { dataKey: new Uint8Array(16) }, 'dataKey', /32 bytes/],
    ['a bad limit', { limits: { maxConnections: 0 } }, 'limits.maxConnections', /at least 1/],
    ['a bogus log level', { logger: { level: 'loud' } }, 'logger.level', /one of/],
    ['a short retention', { retention: { retentionMs: 1000 } }, 'retention.retentionMs', /at least/],
    [
      'an action naming no handler',
      { handlers: [ok], actions: [{ method: 'POST', path: '/x', handler: 'nope' }] },
      'actions[0].handler',
      /registered handler \(ok\)/,
    ],
    [
      'an action with a bad method',
      { handlers: [ok], actions: [{ method: 'GET', path: '/x', handler: 'ok' }] },
      'actions[0].method',
      /one of POST, PUT, PATCH, DELETE/,
    ],
    [
      'an action path without a leading slash',
      { handlers: [ok], actions: [{ method: 'POST', path: 'x', handler: 'ok' }] },
      'actions[0].path',
      /starting with '\/'/,
    ],
    [
      'an action path with an empty segment',
      { handlers: [ok], actions: [{ method: 'POST', path: '/a//b', handler: 'ok' }] },
      'actions[0].path',
      /non-empty segments/,
    ],
    [
      "an action on longrun's own routes",
      { handlers: [ok], actions: [{ method: 'POST', path: '/operations', handler: 'ok' }] },
      'actions[0].path',
      /longrun's own routes/,
    ],
    [
      'an action on a built-in Graph action',
      {
        handlers: [ok],
        actions: [
          { method: 'POST', path: '/sites/{id}/contentTypes/addCopyFromContentTypeHub', handler: 'ok' },
        ],
      },
      'actions[0].path',
      /longrun's own routes/,
    ],
    [
      'two actions on one route',
      {
        handlers: [ok],
        actions: [
          { method: 'POST', path: '/a/{x}', handler: 'ok' },
          { method: 'POST', path: '/a/{y}', handler: 'ok' },
        ],
      },
      'actions[1].path',
      /must not repeat/,
    ],
    [
      'an action permission with spaces',
      { handlers: [ok], actions: [{ method: 'POST', path: '/a', handler: 'ok', permission: 'a b' }] },
      'actions[0].permission',
      /permission name/,
    ],
    [
      'an action collection that is not one',
      { handlers: [ok], actions: [{ method: 'POST', path: '/a', handler: 'ok', collection: '/nope' }] },
      'actions[0].collection',
      /operations collection/,
    ],
  ];
  for (const [what, options, option, rule] of cases) {
    it(`refuses ${what}, naming '${option}'`, async () => {
      const e = await optionError(() => createLongrun(options as never));
      expect(e.option).toBe(option);
      expect(e.message).toContain(`createLongrun: '${option}'`);
      expect(e.message).toMatch(rule);
    });
  }
});

describe('jwtAuth', () => {
  const issuer = 'https://issuer.example';
  const audience = 'api://x';
  it('needs exactly one key source', async () => {
    expect((await optionError(() => jwtAuth({ issuer, audience }))).message).toMatch(
      /'secret \| publicKey \| jwksUrl' must be given, exactly one/,
    );
    const two = await optionError(() =>
      jwtAuth({ secret: 'x'.repeat(40), jwksUrl: 'https://k', issuer, audience }),
    );
    expect(two.message).toMatch(/exactly one of them; got "secret, jwksUrl"/);
  });
  it('needs an issuer and an audience', async () => {
    const secret = 'x'.repeat(40);
    expect((await optionError(() => jwtAuth({ secret, audience } as never))).option).toBe('issuer');
    expect((await optionError(() => jwtAuth({ secret, issuer, audience: '' }))).option).toBe('audience');
  });
  it('refuses a short secret when the node is created', async () => {
    await expect(createLongrun({ auth: jwtAuth({ secret: 'short', issuer, audience }) })).rejects.toThrow(
      /jwtAuth: The auth secret must be at least 32 bytes/,
    );
  });
});

describe('start, operation and wait', () => {
  const dir = mkdtempSync(join(tmpdir(), 'longrun-opts-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const setup = async () =>
    createLongrun({
      dbFile: join(dir, `${Math.random().toString(36).slice(2)}.db`),
      worker: false,
      retention: false,
      handlers: [
        defineHandler({ name: 'h', input: Type.Object({ n: Type.Number() }), run: async () => undefined }),
      ],
    });

  it('names each bad start option', async () => {
    const n = await setup();
    try {
      const cases: [Record<string, unknown>, string, RegExp][] = [
        [{ id: '' }, 'options.id', /non-empty/],
        [{ id: 'a/b' }, 'options.id', /'\/'/],
        [{ type: 'bogus' }, 'options.type', /must be one of/],
        [
          { type: 'attackSimulationOperation', collection: '/sites/s1/operations' },
          'options.type',
          /collection holds/,
        ],
        [{ maxAttempts: 0 }, 'options.maxAttempts', /from 1 to 1000/],
        [{ timeoutMs: -1 }, 'options.timeoutMs', /at least 1/],
        [{ collection: '/nope' }, 'options.collection', /operations collection/],
        [{ version: 'v2' }, 'options.version', /one of v1.0, beta/],
        [{ idempotencyKey: '' }, 'options.idempotencyKey', /non-empty/],
        [{ retries: 1 }, 'options.retries', /not an option/],
      ];
      for (const [options, option, rule] of cases) {
        const e = await optionError(() => n.start('h', { n: 1 }, options as never));
        expect(e.option, JSON.stringify(options)).toBe(option);
        expect(e.message).toContain(`start: '${option}'`);
        expect(e.message).toMatch(rule);
      }
      const unknown = await optionError(() => n.start('nope' as never, { n: 1 } as never));
      expect(unknown.message).toMatch(/start: 'name' must be a registered handler \(h\); got "nope"/);
      // Nothing was stored by any of them.
      const listed = await fetch(`${await n.listen()}/v1.0/operations/$count`);
      expect(await listed.text()).toBe('0');
    } finally {
      await n.close();
    }
  });

  it('names a bad location and a bad wait timeout', async () => {
    const n = await setup();
    try {
      expect((await optionError(() => n.operation('/v1.0/operations'))).option).toBe('location');
      expect((await optionError(() => n.operation('https://x/v3/operations/a'))).option).toBe('location');
      expect((await optionError(() => n.operation(''))).option).toBe('location');
      const op = await n.start('h', { n: 1 });
      expect((await optionError(() => op.wait({ timeoutMs: -1 }))).option).toBe('timeoutMs');
    } finally {
      await n.close();
    }
  });
});
