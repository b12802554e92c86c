/** The store contract against SqliteStore on a real file (a fresh one per test). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { OperationStore } from '../src/store/store.js';
import { storeContract } from './store-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'longrun-store-'));
const files = new WeakMap<OperationStore, string>();
let n = 0;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

storeContract(
  'sqlite',
  async () => {
    const file = join(dir, `store-${++n}.db`);
    const store = new SqliteStore({ file });
    files.set(store, file);
    return store;
  },
  {
    sibling: async (store) => {
      const file = files.get(store)!;
      const other = new SqliteStore({ file });
      files.set(other, file);
      return other;
    },
  },
);
