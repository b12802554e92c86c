/**
 * The memory bound on the states the PostgreSQL write path remembers (src/service/write-chain.ts): what a
 * client can make large must count, or many long keys could hold far more than the bound says.
 */
import { expect, it } from 'vitest';
import type { OperationRecord } from '../src/model/operation.js';
import { STATUS } from '../src/model/status.js';
import { rememberedBytes } from '../src/service/write-chain.js';

const record = (overrides: Partial<OperationRecord> = {}): OperationRecord => ({
  seq: 1,
  tenantId: 't',
  scope: 'operations',
  id: 'op',
  type: 'longRunningOperation',
  status: STATUS.running,
  createdDateTime: '2026-12-03T00:00:00Z',
  lastActionDateTime: '2026-12-03T00:00:00Z',
  resourceLocation: null,
  statusDetail: null,
  props: {},
  version: 1,
  handler: null,
  input: null,
  attempts: 0,
  maxAttempts: 1,
  runAt: null,
  leaseOwner: null,
  fencingToken: 0,
  cancelRequested: false,
  timeoutMs: null,
  idempotencyKey: null,
  requestHash: null,
  createdBy: null,
  terminalAt: null,
  checkpoint: null,
  ...overrides,
});

it('counts every text a client can make long: the key, props, details, locations, who created it', () => {
  const small = rememberedBytes(record());
  const long = 'x'.repeat(20_000);
  for (const field of [
    'tenantId',
    'scope',
    'id',
    'statusDetail',
    'resourceLocation',
    'idempotencyKey',
    'createdBy',
  ] as const)
    expect(rememberedBytes(record({ [field]: long }))).toBeGreaterThan(20_000);
  expect(rememberedBytes(record({ props: { note: long } }))).toBeGreaterThan(20_000);
  // Input and checkpoint are not kept, so they don't count.
  expect(rememberedBytes(record({ input: { long }, checkpoint: { long } }))).toBe(small);
});
