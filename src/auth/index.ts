/** Token verification and permission checks, for the HTTP layer and the CLI. */
export { ANONYMOUS, principalFromClaims } from './principal.js';
export type { Principal } from './principal.js';
export { resolveAuthConfig, DEV_ISSUER, DEV_AUDIENCE } from './config.js';
export type { AuthConfig, AuthFlags } from './config.js';
export { AuthError, createTokenVerifier, toGraphError } from './verify.js';
export type { TokenVerifier, VerifierOptions } from './verify.js';
export { DEV_TOKEN_DEFAULTS, mintToken } from './tokens.js';
export type { MintOptions } from './tokens.js';
export { ADMIN_ROLE_TEMPLATE_IDS, authorize, forbidden } from './permissions.js';
export type { Access, AccessTarget, Decision, Denial } from './permissions.js';
export { createUserDirectory } from './user-directory.js';
export type { UserDirectory } from './user-directory.js';
