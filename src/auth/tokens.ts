/**
 * Minting tokens with the configured HS256 secret: the dev token printed at start-up and `longrun token`.
 * Claims follow Microsoft Entra ID's names so the same code paths serve local and Entra tokens.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { FAMILIES } from '../families/families.js';
import type { AuthConfig } from './config.js';
import { ADMIN_ROLE_TEMPLATE_IDS } from './permissions.js';

export interface MintOptions {
  /** Delegated scopes (`scp`); a token with none is an application token. */
  scopes?: string[];
  /** Application roles (`roles`). */
  roles?: string[];
  /** Directory role template ids (`wids`). */
  wids?: string[];
  oid?: string;
  upn?: string;
  tid?: string;
  /** Lifetime such as '45s', '30m', '1h', '7d' (default '1h'). */
  expires?: string;
  appId?: string;
}

/**
 * The dev token: a delegated admin, so everything can be tried out locally. Its scopes are every family's
 * write permissions (each grants read too) plus longrun's own.
 */
export const DEV_TOKEN_DEFAULTS: MintOptions = Object.freeze({
  scopes: [...new Set([...FAMILIES.flatMap((f) => f.write.delegated), 'LongRun.ReadWrite.All'])],
  wids: [ADMIN_ROLE_TEMPLATE_IDS.globalAdministrator],
  oid: '00000000-0000-0000-0000-0000000000de',
  upn: 'dev@longrun.local',
  tid: '00000000-0000-0000-0000-000000000001',
  appId: '00000000-0000-0000-0000-00000000c11e',
  expires: '12h',
});

const DEFAULT_LIFETIME = '1h';
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** Mints a token signed with the configured HS256 secret (dev key or LONGRUN_AUTH_SECRET). */
export async function mintToken(config: AuthConfig, options: MintOptions): Promise<string> {
  if (config.mode === 'none') throw new Error('Auth is off (mode none): requests need no token.');
  if (!config.secret) {
    throw new Error(
      'Cannot mint a token: this server checks tokens with a public key or JWKS, whose private key it does ' +
        'not hold. Get tokens from that issuer, or configure LONGRUN_AUTH_SECRET.',
    );
  }
  const lifetime = parseLifetime(options.expires ?? DEFAULT_LIFETIME);
  const claims: Record<string, unknown> = {};
  if (options.scopes?.length) claims.scp = options.scopes.join(' ');
  if (options.roles?.length) claims.roles = options.roles;
  if (options.wids?.length) claims.wids = options.wids;
  if (options.oid) claims.oid = options.oid;
  if (options.upn) claims.upn = options.upn;
  // Every token names its tenant (verification refuses one without): the dev tenant unless told otherwise.
  claims.tid = options.tid ?? DEV_TOKEN_DEFAULTS.tid;
  if (options.appId) claims.azp = options.appId;

  const nowSec = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(nowSec)
    .setExpirationTime(nowSec + lifetime)
    .setJti(randomUUID());
  const subject = options.oid ?? options.appId;
  if (subject) jwt.setSubject(subject);
  const issuer = first(config.issuer);
  if (issuer) jwt.setIssuer(issuer);
  const audience = first(config.audience);
  if (audience) jwt.setAudience(audience);
  return jwt.sign(config.secret);
}

/** '30m' → 1800. Strict on purpose: a typo in a CLI flag should fail, not mint a surprising lifetime. */
export function parseLifetime(text: string): number {
  const match = /^(\d+)\s*([smhd])$/i.exec(text.trim());
  const seconds = match ? Number(match[1]) * UNIT_SECONDS[match[2].toLowerCase()] : 0;
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new Error(
      `Token lifetime "${text}" is not valid: use a number and a unit, e.g. 45s, 30m, 1h or 7d.`,
    );
  }
  return seconds;
}

const first = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);
