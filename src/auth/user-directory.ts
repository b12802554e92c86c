/**
 * Which UPN belongs to which object id, learned from verified delegated tokens, so that
 * /users/{oid}/authentication/operations and /users/{upn}/authentication/operations address the same
 * user's operations. Graph resolves this from the directory; longrun has no directory, only the tokens it
 * has seen. Kept small so a store-backed implementation can replace this in-memory one.
 */
import type { Principal } from './principal.js';

export interface UserDirectory {
  /** Records the principal's UPN → object id; returns the mapping when it is new (or changed), else undefined. */
  learn(principal: Principal): { tenantId: string; upn: string; objectId: string } | undefined;
  /** Canonical key for a user key in a tenant: the object id (lowercase) when known, else the key lowercased. */
  canonical(tenantId: string, userKey: string): string;
  sameUser(tenantId: string, a: string, b: string): boolean;
}

/** Bounds memory when tokens come from a large tenant; the oldest mappings are forgotten first. */
const DEFAULT_MAX_ENTRIES = 100_000;

export function createUserDirectory(maxEntries = DEFAULT_MAX_ENTRIES): UserDirectory {
  // Key: `<tenant>\n<upn lowercased>`; value: object id lowercased. UPNs and object ids are case-insensitive
  // in Entra ID, and a UPN is only unique within its tenant.
  const upnToOid = new Map<string, string>();
  const keyOf = (tenantId: string, userKey: string) => `${tenantId.toLowerCase()}\n${userKey.toLowerCase()}`;

  const canonical = (tenantId: string, userKey: string) =>
    upnToOid.get(keyOf(tenantId, userKey)) ?? userKey.toLowerCase();

  return {
    learn(principal) {
      const { kind, tenantId, objectId, userPrincipalName } = principal;
      if (kind !== 'delegated' || !objectId || !userPrincipalName) return undefined;
      const key = keyOf(tenantId, userPrincipalName);
      const oid = objectId.toLowerCase();
      if (upnToOid.get(key) === oid) return undefined;
      // A UPN can move to another user (rename): the newest token wins.
      upnToOid.delete(key);
      if (upnToOid.size >= maxEntries) upnToOid.delete(upnToOid.keys().next().value as string);
      upnToOid.set(key, oid);
      return { tenantId, upn: userPrincipalName.toLowerCase(), objectId: oid };
    },
    canonical,
    sameUser: (tenantId, a, b) => canonical(tenantId, a) === canonical(tenantId, b),
  };
}
