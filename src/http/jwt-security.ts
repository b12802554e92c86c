/**
 * Security backed by bearer tokens: verifies the token (src/auth/verify.ts), learns which UPN belongs to
 * which object id (src/auth/user-directory.ts), and applies Graph's permission rules per family and action (src/auth/permissions.ts).
 */
import { authorize, forbidden } from '../auth/permissions.js';
import type { UserDirectory } from '../auth/user-directory.js';
import { AuthError, toGraphError, type TokenVerifier } from '../auth/verify.js';
import { GraphError } from '../model/errors.js';
import type { Caller, Security } from './security.js';

export function jwtSecurity(verifier: TokenVerifier, directory: UserDirectory): Security {
  const security: Security = {
    async authenticate(authorization) {
      let principal;
      try {
        principal = await verifier.verify(authorization);
      } catch (e) {
        throw e instanceof AuthError ? toGraphError(e) : e;
      }
      await directory.learn(principal);
      // Self is the object id, never a name the token carries.
      const me = principal.kind === 'delegated' ? principal.objectId?.toLowerCase() : undefined;
      return { principal, tenantId: principal.tenantId, actor: principal.actor, me: me || undefined };
    },

    authorize(caller, access, target) {
      const principal = caller.principal;
      if (!principal) throw new GraphError(401, 'unauthenticated', 'A bearer token is required.');
      const decision = authorize(principal, access, target);
      if (!decision.allowed) throw forbidden(decision);
      // Graph: "This API can't be performed on a user's own account."
      if (target.action === 'resetPassword' && target.userKey && target.userKey === caller.me) {
        throw new GraphError(
          403,
          'accessDenied',
          "A password can't be reset through this API on your own account.",
        );
      }
    },

    canonicalUserKey(caller: Caller, userKey: string) {
      return directory.canonical(caller.tenantId, userKey);
    },

    directory,
  };
  if (verifier.peek) security.verified = verifier.peek.bind(verifier);

  return security;
}
