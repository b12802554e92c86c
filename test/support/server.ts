/** Starts a real longrun node on a free port with a real SQLite file in a fresh temp folder. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLongrun, type Longrun, type LongrunOptions } from '../../src/longrun.js';

export interface TestServer {
  node: Longrun;
  url: string;
  dir: string;
  dbFile: string;
  /** fetch relative to the server's root, JSON bodies encoded for you. */
  request(
    method: string,
    path: string,
    init?: { body?: unknown; headers?: Record<string, string> },
  ): Promise<Response>;
  close(): Promise<void>;
}

export async function startTestServer(options: Omit<LongrunOptions, 'dbFile'> = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'longrun-test-'));
  const dbFile = join(dir, 'longrun.db');
  const node = await createLongrun({ dbFile, ...options });
  const url = await node.listen(0, '127.0.0.1');
  return {
    node,
    url,
    dir,
    dbFile,
    request: (method, path, init = {}) => {
      const headers: Record<string, string> = { ...init.headers };
      let body: string | undefined;
      if (init.body !== undefined) {
        body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
        headers['content-type'] ??= 'application/json';
      }
      return fetch(url + path, { method, headers, body });
    },
    async close() {
      await node.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
