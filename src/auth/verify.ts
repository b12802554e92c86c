/**
 * Bearer token verification: `Authorization` header in, Principal out. No HTTP framework here; the HTTP
 * layer calls `verify` and renders an AuthError with `toGraphError`.
 */
import { jwtVerify } from 'jose';
import type { CryptoKey, JWTVerifyGetKey, JWTVerifyOptions, JWTVerifyResult } from 'jose';
import { GraphError } from '../model/errors.js';
import type { AuthConfig, JwtAuthConfig } from './config.js';
import { createKeyResolver, KeySourceUnavailable, NoKeyForAlgorithm } from './keys.js';
import type { JwksOptions } from './keys.js';
import { ANONYMOUS, principalFromClaims } from './principal.js';
import type { Principal } from './principal.js';
import { TokenCache } from './token-cache.js';

export type AuthErrorReason = 'missing' | 'malformed' | 'invalid' | 'expired';

/** The request carries no usable token: the HTTP layer answers 401 (see toGraphError). */
export class AuthError extends Error {
  constructor(
    readonly reason: AuthErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'AuthError';
  }
}

/**
 * 401 `unauthenticated` with the RFC 6750 challenge. A request without a token gets a bare challenge (no
 * `error`), as §3.1 asks, so that clients learn a token is needed without being told theirs is bad.
 */
export function toGraphError(e: AuthError): GraphError {
  let challenge = 'Bearer realm="longrun"';
  if (e.reason !== 'missing') {
    challenge += `, error="invalid_token", error_description="${quotable(e.message)}"`;
  }
  return new GraphError(401, 'unauthenticated', e.message, { headers: { 'WWW-Authenticate': challenge } });
}

/** RFC 6750 §3: error_description may hold only printable ASCII other than `"` and `\`. */
const quotable = (text: string) => text.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, ' ');

export interface TokenVerifier {
  verify(authorizationHeader: string | undefined): Promise<Principal>;
  /** The principal `verify` would return from its cache right now (no verification), else undefined. */
  peek?(authorizationHeader: string | undefined): Principal | undefined;
}

export interface VerifierOptions {
  /** How many verified tokens to remember (default 10,000); 0 turns the cache off. */
  cacheSize?: number;
  /** The clock, epoch ms (tests move it). */
  now?: () => number;
  jwks?: JwksOptions;
}

const DEFAULT_CACHE_SIZE = 10_000;
/** Far above any real token (Entra's are 1–4 KB), far below what would make the cache a memory risk. */
const MAX_TOKEN_LENGTH = 16 * 1024;

export function createTokenVerifier(config: AuthConfig, options: VerifierOptions = {}): TokenVerifier {
  if (config.mode === 'none') return { verify: async () => ANONYMOUS };
  return new JwtVerifier(config, options);
}

class JwtVerifier implements TokenVerifier {
  private readonly cache: TokenCache;
  private readonly now: (() => number) | undefined;
  private readonly key: JWTVerifyGetKey;
  private readonly verifyOptions: JWTVerifyOptions;
  private readonly toleranceMs: number;

  constructor(config: JwtAuthConfig, options: VerifierOptions) {
    if (config.algorithms.length === 0 || config.algorithms.some((a) => a.toLowerCase() === 'none')) {
      throw new Error('The auth algorithms must be a non-empty list without "none".');
    }
    this.cache = new TokenCache(options.cacheSize ?? DEFAULT_CACHE_SIZE);
    this.now = options.now;
    this.key = createKeyResolver(config, options.jwks);
    this.toleranceMs = config.clockToleranceSec * 1000;
    this.verifyOptions = {
      algorithms: config.algorithms,
      issuer: config.issuer === undefined ? undefined : acceptedIssuers(config.issuer),
      audience: config.audience,
      clockTolerance: config.clockToleranceSec,
      // A token without exp would be valid forever (and cached forever).
      requiredClaims: ['exp'],
    };
  }

  async verify(authorizationHeader: string | undefined): Promise<Principal> {
    const token = bearerToken(authorizationHeader);
    const now = this.now ? this.now() : Date.now();
    const cached = this.cache.lookup(token, now);
    if (cached) {
      if ('expired' in cached) throw new AuthError('expired', 'The access token has expired.');
      return cached.principal;
    }
    checkTokenShape(token);
    const options = this.now ? { ...this.verifyOptions, currentDate: new Date(now) } : this.verifyOptions;
    let result: JWTVerifyResult;
    try {
      result = await this.verifyWithAnyKey(token, options);
    } catch (error) {
      throw describe(error);
    }
    // Tenants are the isolation boundary: a token that names none would share one with every other such
    // token, so it is refused.
    const tid = result.payload.tid;
    if (typeof tid !== 'string' || tid.trim() === '') {
      throw new AuthError('invalid', 'The access token has no tenant (tid) claim.');
    }
    const principal = principalFromClaims(result.payload);
    // The same limit jose applies (exp + tolerance), so a cached token expires exactly when a fresh
    // verification would start to fail.
    this.cache.store(token, principal, principal.expiresAt + this.toleranceMs);
    return principal;
  }

  peek(authorizationHeader: string | undefined): Principal | undefined {
    let token: string;
    try {
      token = bearerToken(authorizationHeader);
    } catch {
      return undefined;
    }
    const cached = this.cache.lookup(token, this.now ? this.now() : Date.now());
    return cached && 'principal' in cached ? cached.principal : undefined;
  }

  /** A token without `kid` may match several JWKS keys; jose leaves trying each of them to the caller. */
  private async verifyWithAnyKey(token: string, options: JWTVerifyOptions): Promise<JWTVerifyResult> {
    try {
      return await jwtVerify(token, this.key, options);
    } catch (error) {
      if (!isJoseError(error, 'ERR_JWKS_MULTIPLE_MATCHING_KEYS')) throw error;
      for await (const key of error as unknown as AsyncIterable<CryptoKey>) {
        try {
          return await jwtVerify(token, key, options);
        } catch (inner) {
          if (!isJoseError(inner, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED')) throw inner;
        }
      }
      throw new AuthError('invalid', 'The access token signature is invalid.');
    }
  }
}

/**
 * `Bearer <token>`, scheme case-insensitive (RFC 7235). Another scheme counts as no token at all. The token's
 * own shape is checked only on a cache miss (checkTokenShape): a cached token has passed that check already.
 */
function bearerToken(header: string | undefined): string {
  const value = header?.trim();
  if (!value) throw new AuthError('missing', 'No access token was provided.');
  const space = value.search(/\s/);
  const scheme = space < 0 ? value : value.slice(0, space);
  if (scheme.toLowerCase() !== 'bearer') throw new AuthError('missing', 'A Bearer access token is required.');
  return space < 0 ? '' : value.slice(space + 1).trimStart();
}

function checkTokenShape(token: string): void {
  if (token === '' || token.length > MAX_TOKEN_LENGTH || /\s/.test(token)) {
    throw new AuthError('malformed', 'The access token is malformed.');
  }
}

/**
 * Microsoft Entra ID issues v1 tokens (`https://sts.windows.net/{tid}/`) or v2 tokens
 * (`https://login.microsoftonline.com/{tid}/v2.0`) for the same tenant, depending on the API's app
 * registration, and signs both with the same keys: configuring either form accepts both.
 */
export function acceptedIssuers(issuer: string | string[]): string[] {
  const accepted = new Set<string>();
  for (const iss of Array.isArray(issuer) ? issuer : [issuer]) {
    accepted.add(iss);
    const v2 = /^https:\/\/login\.microsoftonline\.com\/([^/]+)\/v2\.0$/i.exec(iss);
    if (v2) accepted.add(`https://sts.windows.net/${v2[1]}/`);
    const v1 = /^https:\/\/sts\.windows\.net\/([^/]+)\/$/i.exec(iss);
    if (v1) accepted.add(`https://login.microsoftonline.com/${v1[1]}/v2.0`);
  }
  return [...accepted];
}

const isJoseError = (error: unknown, code: string) => (error as { code?: unknown } | null)?.code === code;

/** Turns a verification failure into what the client is told. */
function describe(error: unknown): AuthError | GraphError {
  if (error instanceof AuthError) return error;
  if (error instanceof KeySourceUnavailable) {
    const unavailable = new GraphError(
      503,
      'serviceNotAvailable',
      'The access token cannot be checked right now: the signing keys are unavailable. Try again later.',
      { headers: { 'Retry-After': '5' } },
    );
    unavailable.cause = error;
    return unavailable;
  }
  if (error instanceof NoKeyForAlgorithm)
    return new AuthError('invalid', 'No signing key matches the access token.');
  const { code, claim, reason } = error as { code?: string; claim?: string; reason?: string };
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return new AuthError('expired', 'The access token has expired.');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return new AuthError('invalid', claimMessage(claim, reason));
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return new AuthError('invalid', 'The access token signature is invalid.');
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return new AuthError('invalid', 'The access token signing algorithm is not accepted.');
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return new AuthError('invalid', 'No signing key matches the access token.');
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return new AuthError('malformed', 'The access token is malformed.');
    default:
      // Whatever else a token can provoke (unsupported header, a key it cannot be checked with) is still the
      // token's fault: bad input never yields a 5xx.
      return new AuthError('invalid', 'The access token could not be verified.');
  }
}

function claimMessage(claim: string | undefined, reason: string | undefined): string {
  if (claim === 'iss') return 'The access token issuer is not accepted.';
  if (claim === 'aud') return 'The access token audience is not accepted.';
  if (claim === 'nbf') return 'The access token is not valid yet.';
  if (claim === 'exp' && reason === 'missing') return 'The access token has no expiry (exp).';
  return `The access token claim "${claim ?? '?'}" is invalid.`;
}
