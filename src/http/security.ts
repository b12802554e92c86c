/**
 * What the HTTP layer needs from authentication and authorization, kept to one small interface so the
 * routes don't depend on how tokens are verified.
 */
import type { Principal } from '../auth/principal.js';
import type { UserDirectory } from '../auth/user-directory.js';
import type { FamilyName, PermissionSet } from '../families/families.js';

export interface Caller {
  /** The verified token's claims; undefined when auth is off. */
  principal?: Principal;
  tenantId: string;
  /** Recorded in the history: `user:<oid>`, `app:<id>` or `anonymous`. */
  actor: string;
  /** The caller's own user key, which `/me` stands for; undefined for applications. */
  me?: string;
}

export type Access = 'read' | 'write';

export interface AccessTarget {
  family: FamilyName;
  /** For the authentication family: the user acted on (canonical key). */
  userKey?: string;
  /** An action's own permissions, instead of the family's read/write sets. */
  permissions?: PermissionSet;
  /** The action's name, for messages and action-specific rules (resetPassword can't target oneself). */
  action?: string;
}

export interface Security {
  /** Throws a 401 GraphError for a missing or bad token. */
  authenticate(authorization: string | undefined): Promise<Caller>;
  /** Throws a 403 (or, where 403 would disclose something, 404) GraphError when access is denied. */
  authorize(caller: Caller, access: Access, target: AccessTarget): void;
  /** The key a user is filed under, so `/users/{oid}` and `/users/{upn}` reach the same operations. */
  canonicalUserKey(caller: Caller, userKey: string): Promise<string>;
  /** The user directory, when this security has one: the node backs it with its store. */
  readonly directory?: UserDirectory;
  /**
   * What `authenticate` would reuse for this header right now without verifying anything (the cached
   * principal of a token verified before and not expired), else undefined. Identity matters: the same
   * object means the same verification. Lets answers made for a token be given again (response-cache.ts).
   */
  verified?(authorization: string | undefined): object | undefined;
}

/** What OPEN_SECURITY's `verified` returns: with auth off every request is the same caller. */
const OPEN_CALLER = Object.freeze({ open: true });

/** Auth turned off (`--auth none`): everyone may do everything, in the empty tenant. */
export const OPEN_SECURITY: Security = {
  async authenticate() {
    return { tenantId: '', actor: 'anonymous', me: 'me' };
  },
  authorize() {},
  async canonicalUserKey(_caller, userKey) {
    return userKey.toLowerCase();
  },
  verified: () => OPEN_CALLER,
};
