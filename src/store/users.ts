/**
 * The user directory's storage: which object id a user principal name (UPN) belongs to, per tenant, shared
 * by every node on the store and kept across restarts. UPNs and object ids are stored lowercased (Entra ID
 * compares both case-insensitively). See src/auth/user-directory.ts for the rules on who may bind what.
 */

/** Where a pair came from: a verified token's `upn` claim, or an operator's import (which may rebind). */
export type UserBindingSource = 'token' | 'operator';

export interface UserBinding {
  /** The object id the UPN is bound to after the call. */
  objectId: string;
  /** True when this call created the pair or moved it to another object id. */
  changed: boolean;
}

export interface UserDirectoryStore {
  /** The object id the UPN is bound to in the tenant, if any. */
  lookupUser(tenantId: string, upn: string): Promise<string | undefined>;
  /**
   * Binds the UPN to the object id. A `token` binding never replaces an existing pair (first binding wins,
   * so a token can't take over a name); an `operator` binding does.
   */
  bindUser(tenantId: string, upn: string, objectId: string, source: UserBindingSource): Promise<UserBinding>;
}
