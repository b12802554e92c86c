/**
 * Authentication for an embedded node: `jwtAuth(...)` is the bearer-token verifier `longrun serve` uses
 * (src/auth/verify.ts behind src/http/jwt-security.ts), wrapped, not re-implemented; `'none'` turns auth
 * off explicitly. With no `auth` at all, a node serves loopback clients only (see loopback.ts).
 */
import { resolveAuthConfig } from '../auth/config.js';
import { createUserDirectory } from '../auth/user-directory.js';
import { createTokenVerifier } from '../auth/verify.js';
import { jwtSecurity } from '../http/jwt-security.js';
import type { Security } from '../http/security.js';
import { Checker } from './options-check.js';

export interface JwtAuthOptions {
  /** HS256 shared secret, at least 32 bytes. */
  secret?: string;
  /** RS256/PS256/ES256 public key or certificate: PEM text, or a path to a PEM file. */
  publicKey?: string;
  /** A JWKS URL, e.g. Entra ID's `https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys` (https). */
  jwksUrl?: string;
  /** The expected `iss` (one or any of several). Required: a token from another issuer is refused. */
  issuer: string | string[];
  /** The expected `aud` (one or any of several). Required: a token for another API is refused. */
  audience: string | string[];
}

const AUTH = Symbol.for('longrun.auth');

/** What `jwtAuth` returns; pass it as createLongrun's `auth`. */
export interface LongrunAuth {
  readonly [AUTH]: true;
  /** Builds the verifier (reads the key file, checks the key); called once by createLongrun. */
  security(): Promise<Security>;
}

export function jwtAuth(options: JwtAuthOptions): LongrunAuth {
  const c: Checker = new Checker('jwtAuth');
  c.object('options', options);
  c.knownKeys(options, '', ['secret', 'publicKey', 'jwksUrl', 'issuer', 'audience']);
  const sources = (['secret', 'publicKey', 'jwksUrl'] as const).filter((k) => options[k] !== undefined);
  if (sources.length !== 1)
    c.fail(
      'secret | publicKey | jwksUrl',
      'must be given, exactly one of them',
      sources.join(', ') || 'none',
    );
  for (const k of sources) c.nonEmptyString(k, options[k], 64 * 1024);
  for (const k of ['issuer', 'audience'] as const) {
    const v = options[k];
    const list = Array.isArray(v) ? v : [v];
    if (list.length === 0 || list.some((x) => typeof x !== 'string' || x.trim() === '' || x.includes(',')))
      c.fail(k, 'must be a non-empty string (or array of them, without commas)', v);
  }
  const join = (v: string | string[]) => (Array.isArray(v) ? v.join(',') : v);
  return {
    [AUTH]: true,
    async security() {
      // The same resolution as the CLI's flags, minus the environment: what the code says is what applies.
      const config = await resolveAuthConfig(
        {
          auth: 'jwt',
          authSecret: options.secret,
          authPublicKey: options.publicKey,
          authJwksUrl: options.jwksUrl,
          authIssuer: join(options.issuer),
          authAudience: join(options.audience),
        },
        {},
        '.',
      ).catch((e: Error) => {
        throw new Error(`jwtAuth: ${e.message}`);
      });
      return jwtSecurity(createTokenVerifier(config), createUserDirectory());
    },
  };
}

export function isLongrunAuth(value: unknown): value is LongrunAuth {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[AUTH] === true;
}

/** Loopback addresses: what a node without `auth` may listen on and be reached from. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.toLowerCase().replace(/^\[|\]$/g, '');
  return (
    a === 'localhost' ||
    a === '::1' ||
    /^127\.\d+\.\d+\.\d+$/.test(a) ||
    /^::ffff:127\.\d+\.\d+\.\d+$/.test(a)
  );
}
