/**
 * Graph's permission model for the operation routes (the permission tables of the Graph docs in test/fixtures/seeds/): a delegated token
 * needs one of the family's scopes, an application token one of its roles. The lists live in
 * families.ts, least privileged first, and each write permission is also in the read list, so "write
 * grants read" needs no code here.
 */
import { family } from '../families/families.js';
import type { FamilyName, PermissionSet } from '../families/families.js';
import { GraphError, notFound } from '../model/errors.js';
import type { Principal } from './principal.js';

/**
 * longrun's own administrative permission (a delegated scope or an application role): the operator API
 * and dashboard, and every subscription of the tenant.
 */
export const ADMIN_PERMISSION = 'LongRun.Admin';

/** Entra ID directory role template ids, as they appear in a token's `wids` claim. */
export const ADMIN_ROLE_TEMPLATE_IDS = {
  globalAdministrator: '62e90394-69f5-4237-9190-012177145e10',
  globalReader: 'f2ef992c-3afb-46b9-b7cf-a126ee74c451',
  authenticationAdministrator: 'c4e39bd9-1100-46d3-8c65-fb160da0071f',
  privilegedAuthenticationAdministrator: '7be44c8a-adaf-4e2a-84d6-ab2649e08a13',
} as const;

const ROLE_NAMES: Readonly<Record<string, string>> = {
  [ADMIN_ROLE_TEMPLATE_IDS.globalAdministrator]: 'Global Administrator',
  [ADMIN_ROLE_TEMPLATE_IDS.globalReader]: 'Global Reader',
  [ADMIN_ROLE_TEMPLATE_IDS.authenticationAdministrator]: 'Authentication Administrator',
  [ADMIN_ROLE_TEMPLATE_IDS.privilegedAuthenticationAdministrator]: 'Privileged Authentication Administrator',
};

const roleName = (templateId: string) => ROLE_NAMES[templateId] ?? templateId;

/** The roles that let a user act on another user's authentication operations (graph-contract.md §2.1 R1). */
const OTHER_USER_ROLES: Readonly<Record<Access, readonly string[]>> = {
  read: [
    ADMIN_ROLE_TEMPLATE_IDS.globalAdministrator,
    ADMIN_ROLE_TEMPLATE_IDS.globalReader,
    ADMIN_ROLE_TEMPLATE_IDS.authenticationAdministrator,
    ADMIN_ROLE_TEMPLATE_IDS.privilegedAuthenticationAdministrator,
  ],
  // Global Reader reads only.
  write: [
    ADMIN_ROLE_TEMPLATE_IDS.globalAdministrator,
    ADMIN_ROLE_TEMPLATE_IDS.authenticationAdministrator,
    ADMIN_ROLE_TEMPLATE_IDS.privilegedAuthenticationAdministrator,
  ],
};

export type Access = 'read' | 'write';

export interface AccessTarget {
  family: FamilyName;
  /** An action's own permissions (e.g. resetPassword's), instead of the family's read/write lists. */
  permissions?: PermissionSet;
  /** For the authentication family: the user key in the path (object id or UPN), already resolved for /me. */
  userKey?: string;
}

export type DenialReason =
  'missingPermission' | 'applicationNotSupported' | 'personalAccountNotSupported' | 'missingAdminRole';

/**
 * The tenant id Entra ID puts in the `tid` of tokens issued to personal Microsoft accounts (MSA): the
 * "consumers" tenant. A delegated token from it is a personal account, whatever its other claims say.
 */
export const CONSUMER_TENANT_ID = '9188040d-6c67-4c5b-b112-36a304b66dad';

/**
 * Graph's "Delegated (personal Microsoft account): Not supported" (seed 004 for the authentication
 * operations; every Graph family here, see families.ts `personalAccounts`): a personal account's
 * delegated token is refused before its scopes are looked at, since no scope would help.
 */
export function personalAccountRefused(principal: Principal, familyName: FamilyName): boolean {
  return (
    principal.kind === 'delegated' &&
    principal.tenantId.toLowerCase() === CONSUMER_TENANT_ID &&
    family(familyName).personalAccounts === 'notSupported'
  );
}

export type Decision =
  | { allowed: true }
  | {
      allowed: false;
      status: 403 | 404;
      /** The permissions (or, for missingAdminRole, the role names) of which one is needed. */
      missing?: string[];
      reason?: DenialReason;
    };

export type Denial = Extract<Decision, { allowed: false }>;

const ALLOWED: Decision = Object.freeze({ allowed: true });

export function authorize(principal: Principal, access: Access, target: AccessTarget): Decision {
  if (principal.kind === 'anonymous') return ALLOWED;
  if (personalAccountRefused(principal, target.family)) return deny('personalAccountNotSupported');
  const needed = target.permissions ?? family(target.family)[access];

  if (principal.kind === 'application') {
    if (needed.application.length === 0) return deny('applicationNotSupported');
    return hasAny(principal.roles, needed.application)
      ? ALLOWED
      : deny('missingPermission', needed.application);
  }

  if (target.family === 'authentication' && !isSelf(principal, target.userKey)) {
    // Another user's operations: a tenant-wide (`.All`) scope, and an admin role as well. Only the `.All`
    // scopes are named as missing, since the others would not help.
    const tenantWide = needed.delegated.filter((p) => p.endsWith('.All'));
    if (!hasAny(principal.scopes, tenantWide)) return deny('missingPermission', tenantWide);
    const roles = OTHER_USER_ROLES[access];
    return hasAny(principal.wids, roles) ? ALLOWED : deny('missingAdminRole', roles.map(roleName));
  }
  return hasAny(principal.scopes, needed.delegated) ? ALLOWED : deny('missingPermission', needed.delegated);
}

/** The error for a denial: 403 accessDenied naming what is missing, or 404 itemNotFound. */
export function forbidden(decision: Denial): GraphError {
  if (decision.status === 404) return notFound();
  const missing = decision.missing ?? [];
  const oneOf = missing.length === 1 ? missing[0] : `one of ${missing.join(', ')}`;
  switch (decision.reason) {
    case 'applicationNotSupported':
      return new GraphError(
        403,
        'accessDenied',
        'Application permissions are not supported for this API; call it with a delegated (user) token.',
      );
    case 'personalAccountNotSupported':
      return new GraphError(
        403,
        'accessDenied',
        'Personal Microsoft accounts are not supported for this API; sign in with a work or school account.',
      );
    case 'missingAdminRole':
      return new GraphError(
        403,
        'accessDenied',
        `Missing role: acting on another user's authentication operations requires ${oneOf}.`,
      );
    default:
      return new GraphError(403, 'accessDenied', `Missing permission: ${oneOf} is required.`);
  }
}

const deny = (reason: DenialReason, missing?: readonly string[]): Decision => ({
  allowed: false,
  status: 403,
  reason,
  ...(missing && { missing: [...missing] }),
});

function hasAny(granted: ReadonlySet<string>, wanted: readonly string[]): boolean {
  for (const w of wanted) if (granted.has(w)) return true;
  return false;
}

/**
 * Whether the user key in the path names the caller. The key is already canonical (a UPN the directory
 * knows is replaced by its object id), and self is decided by the token's `oid` alone: a name in the token
 * never makes another user's key the caller's own. No key at all counts as another user.
 */
function isSelf(principal: Principal, userKey: string | undefined): boolean {
  if (!userKey || !principal.objectId) return false;
  return principal.objectId.toLowerCase() === userKey.toLowerCase();
}
