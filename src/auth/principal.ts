/**
 * Who is calling: the facts the permission checks and the history need, read once from a verified
 * token's claims (Microsoft Entra ID names: scp, roles, wids, oid, tid, upn, appid/azp).
 */
export interface Principal {
  /** A token with `scp` is delegated; `roles` only is application; 'anonymous' only when auth is off. */
  kind: 'delegated' | 'application' | 'anonymous';
  /** The `tid` claim (a verified token must carry one, see verify.ts); '' only when auth is off. */
  tenantId: string;
  /** `oid`: the user's object id (delegated) or the service principal's (application). */
  objectId?: string;
  /**
   * The `upn` claim only. `preferred_username` is a display hint that a user may be able to influence, so it
   * never names a user here (docs/decisions/0008).
   */
  userPrincipalName?: string;
  /** `appid` (v1 tokens) or `azp` (v2 tokens). */
  appId?: string;
  /** From the space-separated `scp`. */
  scopes: ReadonlySet<string>;
  /** From the `roles` array. */
  roles: ReadonlySet<string>;
  /** Directory role template ids from `wids`. */
  wids: ReadonlySet<string>;
  /** Epoch ms from `exp` (Infinity for anonymous). */
  expiresAt: number;
  /** The actor string recorded in history: `user:<oid or upn>`, `app:<appId or oid>` or `anonymous`. */
  actor: string;
}

const EMPTY: ReadonlySet<string> = new Set<string>();

/** Used when auth is off: may do everything (see permissions.ts). */
export const ANONYMOUS: Principal = Object.freeze({
  kind: 'anonymous',
  tenantId: '',
  scopes: EMPTY,
  roles: EMPTY,
  wids: EMPTY,
  expiresAt: Infinity,
  actor: 'anonymous',
});

/** The claims of a verified token; shapes are checked here, not trusted. */
export type Claims = Readonly<Record<string, unknown>>;

const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value.length > 0 ? value : undefined;

/** A claim that should be a list of strings; tolerates a single string and drops non-strings. */
function list(value: unknown): string[] {
  if (typeof value === 'string') return value.split(' ').filter(Boolean);
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string' && v.length > 0);
  return [];
}

/**
 * Builds the principal of a verified token. `scp` is Entra's delegated-scope claim; `scope` (RFC 9068, the
 * standard name) is read when `scp` is absent so that tokens from other issuers work too. A token without
 * any scope claim is an application token, even with no `roles` (Entra omits `roles` when none is granted).
 */
export function principalFromClaims(claims: Claims): Principal {
  const hasScopes = claims.scp !== undefined || claims.scope !== undefined;
  const scopes = new Set(list(claims.scp ?? claims.scope));
  const kind = hasScopes ? 'delegated' : 'application';
  const objectId = text(claims.oid);
  // Only `upn` is trusted as the user's principal name: `preferred_username` may be user-editable.
  const userPrincipalName = text(claims.upn);
  const appId = text(claims.appid) ?? text(claims.azp);
  const subject = text(claims.sub) ?? 'unknown';
  // Who acted, and who owns what a caller creates (subscriptions, idempotency keys): object ids, never names.
  const actor =
    kind === 'delegated'
      ? `user:${objectId?.toLowerCase() ?? `sub:${subject}`}`
      : `app:${appId ?? objectId ?? subject}`;
  return Object.freeze({
    kind,
    tenantId: text(claims.tid) ?? '',
    objectId,
    userPrincipalName,
    appId,
    scopes,
    roles: new Set(list(claims.roles)),
    wids: new Set(list(claims.wids)),
    expiresAt: typeof claims.exp === 'number' ? claims.exp * 1000 : Infinity,
    actor,
  });
}
