/**
 * Where tokens are checked against: resolved once at start-up from command-line flags and environment.
 */
import { createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { loadOrCreateDevKey } from './dev-key.js';

export type AuthConfig =
  | { mode: 'none' }
  | {
      mode: 'jwt';
      /** HS256 shared secret (LONGRUN_AUTH_SECRET or the dev key). */
      secret?: Uint8Array;
      /** SPKI public key or X.509 certificate, PEM text. */
      publicKeyPem?: string;
      jwksUrl?: string;
      issuer?: string | string[];
      audience?: string | string[];
      /** The accepted `alg` values; `none` is never among them. */
      algorithms: string[];
      clockToleranceSec: number;
      /** Set when the generated dev key is in use: the file it lives in. */
      devKeyFile?: string;
    };

export type JwtAuthConfig = Extract<AuthConfig, { mode: 'jwt' }>;

export interface AuthFlags {
  auth?: string;
  authSecret?: string;
  /** PEM text or a path to a PEM file. */
  authPublicKey?: string;
  authJwksUrl?: string;
  authIssuer?: string;
  authAudience?: string;
}

export const DEV_ISSUER = 'longrun-dev';
export const DEV_AUDIENCE = 'longrun';
export const DEFAULT_CLOCK_TOLERANCE_SEC = 60;
/** Algorithms a JWKS may sign with: Entra ID uses RS256; ES256 and PS256 for other issuers. */
const ASYMMETRIC_ALGORITHMS = ['RS256', 'PS256', 'ES256'];
/** RFC 7518 §3.2: an HS256 key must be at least as long as the hash. */
const MIN_SECRET_BYTES = 32;

/**
 * Precedence: flags over env (LONGRUN_AUTH=none, LONGRUN_AUTH_SECRET, LONGRUN_AUTH_PUBLIC_KEY,
 * LONGRUN_AUTH_JWKS_URL, LONGRUN_AUTH_ISSUER, LONGRUN_AUTH_AUDIENCE; comma-separated lists allowed for issuer
 * and audience), field by field. With no key configured: the secure default, a generated HS256 dev key in
 * `<dataDir>/auth-dev-key.json` with issuer `longrun-dev` and audience `longrun`. `--auth none` or
 * LONGRUN_AUTH=none turns auth off.
 */
export async function resolveAuthConfig(
  flags: AuthFlags,
  env: NodeJS.ProcessEnv,
  dataDir: string,
): Promise<AuthConfig> {
  const pick = (flag: string | undefined, name: string) => nonEmpty(flag) ?? nonEmpty(env[name]);

  const mode = pick(flags.auth, 'LONGRUN_AUTH')?.toLowerCase() ?? 'jwt';
  if (mode === 'none') return { mode: 'none' };
  if (mode !== 'jwt') throw new Error(`Unknown auth mode "${mode}": use "jwt" (the default) or "none".`);

  const secretText = pick(flags.authSecret, 'LONGRUN_AUTH_SECRET');
  const publicKey = pick(flags.authPublicKey, 'LONGRUN_AUTH_PUBLIC_KEY');
  const jwksUrl = pick(flags.authJwksUrl, 'LONGRUN_AUTH_JWKS_URL');
  let issuer = listOrOne(pick(flags.authIssuer, 'LONGRUN_AUTH_ISSUER'));
  let audience = listOrOne(pick(flags.authAudience, 'LONGRUN_AUTH_AUDIENCE'));

  if (publicKey && jwksUrl) {
    throw new Error('Configure either an auth public key or a JWKS URL, not both.');
  }
  const algorithms: string[] = [];
  let secret: Uint8Array | undefined;
  let devKeyFile: string | undefined;
  if (secretText) {
    secret = new TextEncoder().encode(secretText);
    if (secret.length < MIN_SECRET_BYTES) {
      throw new Error(`The auth secret must be at least ${MIN_SECRET_BYTES} bytes long (HS256).`);
    }
    algorithms.push('HS256');
  }
  let publicKeyPem: string | undefined;
  if (publicKey) {
    publicKeyPem = await readPem(publicKey);
    algorithms.push(...algorithmsForPem(publicKeyPem));
  }
  if (jwksUrl) {
    checkJwksUrl(jwksUrl);
    algorithms.push(...ASYMMETRIC_ALGORITHMS);
  }
  if (!secret && !publicKeyPem && !jwksUrl) {
    const devKey = await loadOrCreateDevKey(dataDir);
    secret = devKey.secret;
    devKeyFile = devKey.file;
    algorithms.push('HS256');
    issuer ??= DEV_ISSUER;
    audience ??= DEV_AUDIENCE;
  }
  return {
    mode: 'jwt',
    ...(secret && { secret }),
    ...(publicKeyPem && { publicKeyPem }),
    ...(jwksUrl && { jwksUrl }),
    ...(issuer && { issuer }),
    ...(audience && { audience }),
    algorithms: [...new Set(algorithms)],
    clockToleranceSec: DEFAULT_CLOCK_TOLERANCE_SEC,
    ...(devKeyFile && { devKeyFile }),
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

function listOrOne(value: string | undefined): string | string[] | undefined {
  if (value === undefined) return undefined;
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) return undefined;
  return items.length === 1 ? items[0] : items;
}

/** PEM text as given, or the content of the file it names. */
async function readPem(value: string): Promise<string> {
  // Environment variables often carry PEM text with literal `\n` for its line breaks.
  if (value.includes('-----BEGIN')) return value.includes('\n') ? value : value.replace(/\\n/g, '\n');
  try {
    return await readFile(value, 'utf8');
  } catch (error) {
    throw new Error(`Cannot read the auth public key file ${value}: ${(error as Error).message}`);
  }
}

/** Which algorithms a PEM key can verify; refuses keys that are not RSA or P-256. */
export function algorithmsForPem(pem: string): string[] {
  let key;
  try {
    key = createPublicKey(pem);
  } catch (error) {
    throw new Error(
      `The auth public key is not a valid PEM public key or certificate: ${(error as Error).message}`,
    );
  }
  if (key.asymmetricKeyType === 'rsa') return ['RS256', 'PS256'];
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1')
    return ['ES256'];
  throw new Error('The auth public key must be an RSA key or an EC key on curve P-256.');
}

/** Keys fetched over plain HTTP could be replaced on the way; plain HTTP is allowed for loopback only. */
function checkJwksUrl(value: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`The auth JWKS URL is not a valid URL: ${value}`);
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new Error(`The auth JWKS URL must use https (plain http only for localhost): ${value}`);
  }
}
