/** The authentication flags `serve`, `worker` and `token` share, and turning them into a Security. */
import { Option, type Command } from 'commander';
import { dirname, resolve } from 'node:path';
import { resolveAuthConfig, type AuthConfig } from '../auth/config.js';
import { createUserDirectory } from '../auth/user-directory.js';
import { createTokenVerifier } from '../auth/verify.js';
import { jwtSecurity } from '../http/jwt-security.js';
import { OPEN_SECURITY, type Security } from '../http/security.js';

export interface AuthCliFlags {
  auth?: string;
  authSecret?: string;
  authPublicKey?: string;
  authJwksUrl?: string;
  authIssuer?: string;
  authAudience?: string;
}

export function addAuthOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--auth <mode>', 'jwt (default: tokens required) or none (no auth; logs a warning)').choices(
        ['jwt', 'none'],
      ),
    )
    .addOption(new Option('--auth-secret <secret>', 'HS256 shared secret (env LONGRUN_AUTH_SECRET)'))
    .addOption(
      new Option('--auth-public-key <pem-or-file>', 'RS256/ES256 public key (env LONGRUN_AUTH_PUBLIC_KEY)'),
    )
    .addOption(new Option('--auth-jwks-url <url>', 'JWKS URL, e.g. Entra ID’s (env LONGRUN_AUTH_JWKS_URL)'))
    .addOption(new Option('--auth-issuer <iss>', 'expected iss, comma-separated (env LONGRUN_AUTH_ISSUER)'))
    .addOption(
      new Option('--auth-audience <aud>', 'expected aud, comma-separated (env LONGRUN_AUTH_AUDIENCE)'),
    );
}

/** The folder the dev signing key lives in: beside the SQLite file. */
export function dataDirOf(dbFile: string): string {
  return dirname(resolve(dbFile));
}

export async function authConfigFrom(flags: AuthCliFlags, dataDir: string): Promise<AuthConfig> {
  return resolveAuthConfig(flags, process.env, dataDir);
}

export function securityFor(config: AuthConfig): Security {
  if (config.mode === 'none') return OPEN_SECURITY;
  return jwtSecurity(createTokenVerifier(config), createUserDirectory());
}
