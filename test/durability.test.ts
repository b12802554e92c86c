import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServerProcess, waitForExit } from './support/process.js';

const dir = mkdtempSync(join(tmpdir(), 'longrun-durable-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('durability', () => {
  it('keeps a PATCH that got its 200 across SIGKILL and restart', async () => {
    const db = join(dir, 'ops.db');
    const first = await startServerProcess(['--db', db, '--auth', 'none']);
    const created = await fetch(`${first.url}/v1.0/operations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'durable-1' }),
    });
    expect(created.status).toBe(201);
    const patched = await fetch(`${first.url}/v1.0/operations/durable-1`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status: 'succeeded', resourceLocation: 'https://example.com/r' }),
    });
    expect(patched.status).toBe(200);
    first.child.kill('SIGKILL');
    await waitForExit(first.child);

    const second = await startServerProcess(['--db', db, '--auth', 'none']);
    try {
      const read = await (await fetch(`${second.url}/v1.0/operations/durable-1`)).json();
      expect(read).toMatchObject({ status: 'succeeded', resourceLocation: 'https://example.com/r' });
    } finally {
      second.child.kill('SIGTERM');
      expect(await waitForExit(second.child)).toBe(0);
    }
  });
});
