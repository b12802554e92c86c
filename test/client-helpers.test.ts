/** The client's pure helpers: URL resolution, Retry-After, backoff and the retry rule. */
import { describe, expect, it } from 'vitest';
import {
  backoffDelay,
  isTerminalStatus,
  mayRetry,
  parseRetryAfter,
  resolveUrl,
} from '../src/client/index.js';

describe('resolveUrl', () => {
  const graph = 'https://graph.microsoft.com/v1.0';
  it.each([
    [
      'absolute, untouched',
      graph,
      'https://other.example/x/op?aadgdc=DUB02P',
      'https://other.example/x/op?aadgdc=DUB02P',
    ],
    [
      'rooted with the version',
      graph,
      '/v1.0/users/u/authentication/operations/o',
      `${graph}/users/u/authentication/operations/o`,
    ],
    ['rooted with another version', graph, '/beta/sites/x', 'https://graph.microsoft.com/beta/sites/x'],
    ['rooted without a version', graph, "/teams('t')/operations('o')", `${graph}/teams('t')/operations('o')`],
    [
      'relative',
      graph,
      "employeeExperience/engagementAsyncOperations('a=b')",
      `${graph}/employeeExperience/engagementAsyncOperations('a=b')`,
    ],
    ['trailing slash on the base', `${graph}/`, 'operations/a', `${graph}/operations/a`],
    [
      'function call with quotes and =',
      'https://graph.microsoft.com/beta',
      "/sites/getOperationStatus(operationId='JXMn=')",
      "https://graph.microsoft.com/beta/sites/getOperationStatus(operationId='JXMn=')",
    ],
    [
      'base with a mount path',
      'http://h/graph/v1.0',
      '/v1.0/operations/a',
      'http://h/graph/v1.0/operations/a',
    ],
    [
      'base with a mount path, full path given',
      'http://h/graph/v1.0',
      '/graph/v1.0/operations/a',
      'http://h/graph/v1.0/operations/a',
    ],
    ['version-like prefix is not a version', graph, '/v1.0x/a', `${graph}/v1.0x/a`],
    ['base without a path', 'http://h:8080', '/operations/a', 'http://h:8080/operations/a'],
    [
      'opaque id with a colon, relative',
      graph,
      'operations/refresh:Dir_1',
      `${graph}/operations/refresh:Dir_1`,
    ],
  ])('%s', (_name, base, ref, expected) => {
    expect(resolveUrl(base, ref)).toBe(expected);
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds', () => {
    expect(parseRetryAfter('0', null)).toBe(0);
    expect(parseRetryAfter(' 30 ', null)).toBe(30_000);
  });
  it('reads an HTTP-date against the response Date, else the local clock', () => {
    const date = 'Wed, 21 Oct 2015 07:28:00 GMT';
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:05 GMT', date)).toBe(5000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:05 GMT', null, Date.parse(date) + 2000)).toBe(3000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', date)).toBe(0);
  });
  it('ignores absent or unreadable values', () => {
    expect(parseRetryAfter(null, null)).toBeUndefined();
    expect(parseRetryAfter('soon', null)).toBeUndefined();
    expect(parseRetryAfter('-5', null)).toBeUndefined();
  });
});

describe('backoffDelay', () => {
  it('draws in [0, min(cap, initial·2^attempt)]', () => {
    expect([0, 1, 2, 3, 10].map((n) => backoffDelay(n, 1000, 30_000, () => 1))).toEqual([
      1000, 2000, 4000, 8000, 30_000,
    ]);
    expect(backoffDelay(3, 1000, 30_000, () => 0)).toBe(0);
    expect(backoffDelay(1, 1000, 30_000, () => 0.5)).toBe(1000);
  });
});

describe('mayRetry', () => {
  it('retries idempotent requests on 429, 503, 504 and network errors', () => {
    for (const failure of [429, 503, 504, 'network'] as const)
      expect(mayRetry(true, failure, false)).toBe(true);
    expect(mayRetry(true, 500, true)).toBe(false);
  });
  it('retries other POSTs only on 429/503 with Retry-After', () => {
    expect(mayRetry(false, 429, true)).toBe(true);
    expect(mayRetry(false, 503, true)).toBe(true);
    expect(mayRetry(false, 503, false)).toBe(false);
    expect(mayRetry(false, 504, true)).toBe(false);
    expect(mayRetry(false, 'network', false)).toBe(false);
  });
});

it('isTerminalStatus', () => {
  expect(['succeeded', 'failed', 'canceled'].every(isTerminalStatus)).toBe(true);
  expect(['notStarted', 'running', 'unknownFutureValue', null].some(isTerminalStatus)).toBe(false);
});
