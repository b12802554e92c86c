import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { CryptoKey, JWK, JWTPayload } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resolveAuthConfig } from '../src/auth/config.js';
import type { AuthConfig } from '../src/auth/config.js';
import { AuthError, createTokenVerifier } from '../src/auth/verify.js';
import { GraphError } from '../src/model/errors.js';

interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function makeKey(kid: string, alg = 'RS256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  // Entra's JWKS entries carry kid, use and kty but no alg; jose picks them by kty.
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, use: 'sig' } };
}

const nowSec = () => Math.floor(Date.now() / 1000);

function sign(key: SigningKey, claims: JWTPayload, withKid = true): Promise<string> {
  return new SignJWT({ exp: nowSec() + 3600, tid: 'jwks-tenant', ...claims })
    .setProtectedHeader({ alg: key.alg, typ: 'JWT', ...(withKid && { kid: key.kid }) })
    .sign(key.privateKey);
}

/** A real JWKS endpoint on a loopback port, whose key set the tests swap to simulate rotation. */
let server: Server;
let jwksUrl: string;
let served: JWK[] = [];
let status = 200;
let requests = 0;
let dataDir: string;

beforeAll(async () => {
  server = createServer((_req, res) => {
    requests++;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: served }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/discovery/v2.0/keys`;
  dataDir = await mkdtemp(join(tmpdir(), 'longrun-jwks-'));
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dataDir, { recursive: true, force: true });
});

beforeEach(() => {
  status = 200;
  requests = 0;
});

const jwksConfig = (): AuthConfig => ({
  mode: 'jwt',
  jwksUrl,
  issuer: 'https://issuer.example',
  audience: 'longrun',
  algorithms: ['RS256', 'PS256', 'ES256'],
  clockToleranceSec: 60,
});

describe('JWKS', () => {
  it('refetches the key set when a token names an unknown kid (key rotation)', async () => {
    const a = await makeKey('key-a');
    const b = await makeKey('key-b');
    served = [a.jwk];
    // No cooldown, so the test need not wait the 30 s jose allows between refetches by default.
    const verifier = createTokenVerifier(jwksConfig(), { jwks: { cooldownMs: 0 } });
    const claims = { iss: 'https://issuer.example', aud: 'longrun', scp: 'LongRun.Read.All', oid: 'u1' };

    const tokenA = await sign(a, claims);
    expect(await verifier.verify(`Bearer ${tokenA}`)).toMatchObject({ kind: 'delegated', objectId: 'u1' });
    expect(requests).toBe(1);

    served = [b.jwk];
    const tokenB = await sign(b, { ...claims, oid: 'u2' });
    expect(await verifier.verify(`Bearer ${tokenB}`)).toMatchObject({ objectId: 'u2' });
    expect(requests).toBe(2);

    // Key A is gone: a token signed with it that was never seen before no longer verifies.
    const lateA = await sign(a, { ...claims, jti: 'late' });
    const error = await verifier.verify(`Bearer ${lateA}`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect(error).toMatchObject({ reason: 'invalid', message: 'No signing key matches the access token.' });
  });

  it('verifies an Entra ID shaped token with only the JWKS URL, issuer and audience configured', async () => {
    const tid = '72f988bf-86f1-41af-91ab-2d7cd011db47';
    const key = await makeKey('entra-kid');
    served = [key.jwk];
    const config = await resolveAuthConfig(
      {
        authJwksUrl: jwksUrl,
        authIssuer: `https://login.microsoftonline.com/${tid}/v2.0`,
        authAudience: 'api://longrun',
      },
      {},
      dataDir,
    );
    const verifier = createTokenVerifier(config);
    const entra = {
      aud: 'api://longrun',
      iss: `https://login.microsoftonline.com/${tid}/v2.0`,
      iat: nowSec(),
      nbf: nowSec(),
      azp: 'c44b4083-3bb0-49c1-b47d-974e53cbdf3c',
      azpacr: '0',
      name: 'Adele Vance',
      oid: '87d349ed-44d7-43e1-9a83-5f2406dee5bd',
      preferred_username: 'AdeleV@contoso.com',
      rh: '0.AAAA',
      scp: 'UserAuthenticationMethod.Read LongRun.ReadWrite.All',
      sub: 'pairwise-subject',
      tid,
      upn: 'AdeleV@contoso.com',
      uti: 'abc',
      ver: '2.0',
      wids: ['b79fbf4d-3ef9-4689-8143-76b194e85509'],
    };
    const principal = await verifier.verify(`Bearer ${await sign(key, entra)}`);
    expect(principal).toMatchObject({
      kind: 'delegated',
      tenantId: tid,
      objectId: entra.oid,
      userPrincipalName: 'AdeleV@contoso.com',
      appId: entra.azp,
      actor: `user:${entra.oid}`,
    });
    expect([...principal.scopes]).toEqual(['UserAuthenticationMethod.Read', 'LongRun.ReadWrite.All']);

    // The same tenant's v1 token (iss https://sts.windows.net/{tid}/, appid) is accepted as well...
    const v1 = {
      ...entra,
      iss: `https://sts.windows.net/${tid}/`,
      ver: '1.0',
      azp: undefined,
      appid: 'v1-app',
    };
    expect(await verifier.verify(`Bearer ${await sign(key, v1)}`)).toMatchObject({ appId: 'v1-app' });
    // ...but not another tenant's.
    const foreign = { ...entra, iss: 'https://login.microsoftonline.com/another-tenant/v2.0' };
    await expect(verifier.verify(`Bearer ${await sign(key, foreign)}`)).rejects.toMatchObject({
      reason: 'invalid',
      message: 'The access token issuer is not accepted.',
    });
  });

  it('tries every matching key for a token without kid, and accepts ES256 keys', async () => {
    const rsa1 = await makeKey('r1');
    const rsa2 = await makeKey('r2');
    const ec = await makeKey('e1', 'ES256');
    served = [rsa1.jwk, rsa2.jwk, ec.jwk];
    const verifier = createTokenVerifier(jwksConfig());
    const claims = {
      iss: 'https://issuer.example',
      aud: 'longrun',
      roles: ['LongRun.Read.All'],
      azp: 'daemon',
    };
    expect(await verifier.verify(`Bearer ${await sign(rsa2, claims, false)}`)).toMatchObject({
      kind: 'application',
      actor: 'app:daemon',
    });
    expect(await verifier.verify(`Bearer ${await sign(ec, claims)}`)).toMatchObject({ kind: 'application' });
    const stranger = await makeKey('r3');
    await expect(verifier.verify(`Bearer ${await sign(stranger, claims, false)}`)).rejects.toMatchObject({
      reason: 'invalid',
    });
  });

  it('answers 503, not 401, when the key set cannot be fetched', async () => {
    status = 500;
    const key = await makeKey('k');
    const verifier = createTokenVerifier(jwksConfig());
    const token = await sign(key, { iss: 'https://issuer.example', aud: 'longrun' });
    const error = await verifier.verify(`Bearer ${token}`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GraphError);
    expect(error).toMatchObject({ status: 503, code: 'serviceNotAvailable' });
  });
});
