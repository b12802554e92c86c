/**
 * The key a token is checked with, chosen by its `alg` (already checked against the allow-list by jose):
 * HS* uses the shared secret, the others the PEM public key or the remote JWKS. Keeping the secret apart
 * from the public keys is what rules out the RS256→HS256 key-confusion attack.
 */
import { createRemoteJWKSet, importSPKI, importX509 } from 'jose';
import type { CryptoKey, JWTHeaderParameters, FlattenedJWSInput, JWTVerifyGetKey } from 'jose';
import type { JwtAuthConfig } from './config.js';

export interface JwksOptions {
  /** Minimum time between two refetches caused by an unknown `kid` (jose default 30 s). */
  cooldownMs?: number;
  /** How long fetched keys are used before they are fetched again (jose default 10 min). */
  cacheMaxAgeMs?: number;
  /** Fetch timeout (jose default 5 s). */
  timeoutMs?: number;
}

/**
 * Thrown when the JWKS cannot be fetched or read: a fault on the server's side, not the token's, so the
 * caller answers 503 rather than telling the client its token is bad.
 */
export class KeySourceUnavailable extends Error {
  constructor(url: string, cause: unknown) {
    super(`The signing keys at ${url} could not be fetched or read.`, { cause });
    this.name = 'KeySourceUnavailable';
  }
}

/** Thrown when no key is configured for a token's algorithm family; reported as an invalid token. */
export class NoKeyForAlgorithm extends Error {
  constructor(alg: string) {
    super(`No key is configured for algorithm ${alg}.`);
    this.name = 'NoKeyForAlgorithm';
  }
}

/** jose errors from a JWKS lookup that mean the token names a key the set does not have. */
const TOKEN_FAULTS = new Set(['ERR_JWKS_NO_MATCHING_KEY', 'ERR_JWKS_MULTIPLE_MATCHING_KEYS']);

export function createKeyResolver(config: JwtAuthConfig, jwks: JwksOptions = {}): JWTVerifyGetKey {
  const { secret, publicKeyPem, jwksUrl } = config;
  const remote = jwksUrl
    ? createRemoteJWKSet(new URL(jwksUrl), {
        cooldownDuration: jwks.cooldownMs,
        cacheMaxAge: jwks.cacheMaxAgeMs,
        timeoutDuration: jwks.timeoutMs,
      })
    : undefined;
  // A CryptoKey is bound to one algorithm (RS256 and PS256 need different ones): import once per alg.
  const imported = new Map<string, Promise<CryptoKey>>();
  const importPem = (pem: string, alg: string) => {
    let key = imported.get(alg);
    if (!key) {
      key = pem.includes('BEGIN CERTIFICATE') ? importX509(pem, alg) : importSPKI(pem, alg);
      key.catch(() => imported.delete(alg));
      imported.set(alg, key);
    }
    return key;
  };

  return async (header: JWTHeaderParameters, token: FlattenedJWSInput) => {
    const alg = header.alg;
    if (alg.startsWith('HS')) {
      if (secret) return secret;
    } else if (publicKeyPem) {
      return importPem(publicKeyPem, alg);
    } else if (remote && jwksUrl) {
      try {
        return await remote(header, token);
      } catch (error) {
        if (TOKEN_FAULTS.has((error as { code?: string }).code ?? '')) throw error;
        throw new KeySourceUnavailable(jwksUrl, error);
      }
    }
    throw new NoKeyForAlgorithm(alg);
  };
}
