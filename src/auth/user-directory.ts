/**
 * Which user principal name (UPN) belongs to which object id, so that /users/{upn}/... and /users/{oid}/...
 * (and /me) reach one user's operations, as in Graph. Backed by the store's shared, durable table when it
 * has one (every node, every restart), else by memory.
 *
 * Who may bind what (docs/decisions/0008):
 * - Identity is the object id. A token names its user by `oid` alone; its `upn` claim may add a pair.
 * - A UPN is learned only from the `upn` claim (never `preferred_username`), only for `@`-shaped names, and
 *   never for a key shaped like an object id.
 * - A token never rebinds a UPN already bound to another object id: the first binding wins. Only an
 *   operator's import (`longrun users import`, `--directory`) may move a UPN to another user.
 */
import type { Principal } from './principal.js';
import type { UserBindingSource, UserDirectoryStore } from '../store/users.js';

export interface UserPair {
  tenantId: string;
  upn: string;
  objectId: string;
}

export interface UserDirectory {
  /** Records the token's UPN → object id when the rules allow; resolves with the pair when it is new. */
  learn(principal: Principal): Promise<UserPair | undefined>;
  /** The key a user is filed under: the object id (lowercase) when the UPN is bound, else the key lowercased. */
  canonical(tenantId: string, userKey: string): Promise<string>;
  /** An operator's pairs: each may bind or rebind a UPN. Resolves with the pairs that changed. */
  importPairs(
    tenantId: string,
    pairs: readonly { id: string; userPrincipalName: string }[],
  ): Promise<UserPair[]>;
  /** Uses the store's shared table from now on (a node calls this once it has its store). */
  useStore(store: UserDirectoryStore): void;
  /** Called (and awaited) for each new pair, so operations filed under the UPN can move to the object id. */
  onBound?: (pair: UserPair) => Promise<void>;
}

const OBJECT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A UPN is `name@domain`: one `@`, something on each side, no spaces or control characters. */
const UPN = /^[^@\s\p{Cc}]+@[^@\s\p{Cc}]+$/u;
const MAX_UPN_LENGTH = 256;

export const isObjectIdShaped = (key: string) => OBJECT_ID.test(key);
export const isUpnShaped = (key: string) =>
  key.length <= MAX_UPN_LENGTH && UPN.test(key) && !OBJECT_ID.test(key);

/** Bounds memory: found pairs are remembered this long and this many at most. */
const CACHE_TTL_MS = 60_000;
const CACHE_MAX_ENTRIES = 100_000;

export function createUserDirectory(): UserDirectory {
  let store: UserDirectoryStore = memoryUsers();
  // `<tenant>\n<upn>` → object id and when it was read. Only found pairs are cached: a miss asks the store
  // again, so a pair bound on another node is seen at the next request.
  const cache = new Map<string, { objectId: string; at: number }>();
  const keyOf = (tenantId: string, upn: string) => `${tenantId}\n${upn}`;
  const remember = (tenantId: string, upn: string, objectId: string) => {
    const key = keyOf(tenantId, upn);
    cache.delete(key);
    if (cache.size >= CACHE_MAX_ENTRIES) cache.delete(cache.keys().next().value as string);
    cache.set(key, { objectId, at: Date.now() });
  };

  const directory: UserDirectory = {
    async learn(principal) {
      const { kind, tenantId, objectId, userPrincipalName } = principal;
      if (kind !== 'delegated' || !objectId || !userPrincipalName) return undefined;
      const upn = userPrincipalName.toLowerCase();
      const oid = objectId.toLowerCase();
      if (!isUpnShaped(upn)) return undefined;
      const cached = cache.get(keyOf(tenantId, upn));
      if (cached && Date.now() - cached.at < CACHE_TTL_MS) return undefined; // bound already (to this oid or not)
      return bind(tenantId, upn, oid, 'token');
    },

    async canonical(tenantId, userKey) {
      const key = userKey.toLowerCase();
      if (!isUpnShaped(key)) return key;
      const cached = cache.get(keyOf(tenantId, key));
      if (cached && Date.now() - cached.at < CACHE_TTL_MS) return cached.objectId;
      const objectId = await store.lookupUser(tenantId, key);
      if (objectId === undefined) return key;
      remember(tenantId, key, objectId);
      return objectId;
    },

    async importPairs(tenantId, pairs) {
      const changed: UserPair[] = [];
      for (const { id, userPrincipalName } of pairs) {
        const pair = await bind(tenantId, userPrincipalName.toLowerCase(), id.toLowerCase(), 'operator');
        if (pair) changed.push(pair);
      }
      return changed;
    },

    useStore(shared) {
      store = shared;
      cache.clear();
    },
  };

  async function bind(
    tenantId: string,
    upn: string,
    objectId: string,
    source: UserBindingSource,
  ): Promise<UserPair | undefined> {
    // Tenant ids are kept as the tokens carry them: operations are filed under the same string.
    const result = await store.bindUser(tenantId, upn, objectId, source);
    remember(tenantId, upn, result.objectId);
    if (!result.changed) return undefined;
    const pair = { tenantId, upn, objectId: result.objectId };
    await directory.onBound?.(pair);
    return pair;
  }

  return directory;
}

/** The directory of a store that has no user table: this process's memory only. */
function memoryUsers(): UserDirectoryStore {
  const pairs = new Map<string, string>();
  return {
    async lookupUser(tenantId, upn) {
      return pairs.get(`${tenantId}\n${upn}`);
    },
    async bindUser(tenantId, upn, objectId, source) {
      const key = `${tenantId}\n${upn}`;
      const current = pairs.get(key);
      if (current !== undefined && (current === objectId || source === 'token')) {
        return { objectId: current, changed: false };
      }
      if (pairs.size >= CACHE_MAX_ENTRIES) pairs.delete(pairs.keys().next().value as string);
      pairs.set(key, objectId);
      return { objectId, changed: true };
    },
  };
}
