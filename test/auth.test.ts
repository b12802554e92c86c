import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import type { JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveAuthConfig } from '../src/auth/config.js';
import type { AuthConfig } from '../src/auth/config.js';
import { ADMIN_ROLE_TEMPLATE_IDS, authorize, forbidden } from '../src/auth/permissions.js';
import type { Access, Decision } from '../src/auth/permissions.js';
import { ANONYMOUS, principalFromClaims } from '../src/auth/principal.js';
import type { Principal } from '../src/auth/principal.js';
import { DEV_TOKEN_DEFAULTS, mintToken, parseLifetime } from '../src/auth/tokens.js';
import { createUserDirectory } from '../src/auth/user-directory.js';
import { AuthError, createTokenVerifier, toGraphError } from '../src/auth/verify.js';
import { FAMILIES } from '../src/families/families.js';
import type { FamilyName } from '../src/families/families.js';
import { GraphError } from '../src/model/errors.js';

const SECRET = new TextEncoder().encode('a-test-secret-that-is-long-enough-for-hs256');
const ISSUER = 'longrun-test';
const AUDIENCE = 'longrun';
const hsConfig: AuthConfig = {
  mode: 'jwt',
  secret: SECRET,
  issuer: ISSUER,
  audience: AUDIENCE,
  algorithms: ['HS256'],
  clockToleranceSec: 60,
};
const nowSec = () => Math.floor(Date.now() / 1000);
const USER_OID = '11111111-2222-3333-4444-555555555555';

function sign(claims: JWTPayload, key: Parameters<SignJWT['sign']>[0] = SECRET, alg = 'HS256') {
  return new SignJWT({ iss: ISSUER, aud: AUDIENCE, exp: nowSec() + 3600, tid: 't1', ...claims })
    .setProtectedHeader({ alg })
    .sign(key);
}

/** Resolves to the AuthError a verification fails with. */
async function authFailure(promise: Promise<unknown>): Promise<AuthError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AuthError);
  return error as AuthError;
}

let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'longrun-auth-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('resolveAuthConfig', () => {
  it('turns auth off with --auth none or LONGRUN_AUTH=none, flags first', async () => {
    expect(await resolveAuthConfig({ auth: 'none' }, {}, dataDir)).toEqual({ mode: 'none' });
    expect(await resolveAuthConfig({}, { LONGRUN_AUTH: 'NONE' }, dataDir)).toEqual({ mode: 'none' });
    const jwt = await resolveAuthConfig({ auth: 'jwt' }, { LONGRUN_AUTH: 'none' }, join(dataDir, 'flags'));
    expect(jwt.mode).toBe('jwt');
    await expect(resolveAuthConfig({ auth: 'basic' }, {}, dataDir)).rejects.toThrow(/Unknown auth mode/);
  });

  it('creates the dev key once (mode 0600) and reuses it', async () => {
    const dir = join(dataDir, 'dev');
    const [first, ...concurrent] = await Promise.all(
      Array.from({ length: 4 }, () => resolveAuthConfig({}, {}, dir)),
    );
    if (first.mode !== 'jwt') throw new Error('expected jwt');
    expect(first).toMatchObject({
      issuer: 'longrun-dev',
      audience: 'longrun',
      algorithms: ['HS256'],
      clockToleranceSec: 60,
      devKeyFile: join(dir, 'auth-dev-key.json'),
    });
    expect(first.secret).toHaveLength(32);
    for (const other of concurrent) expect(other).toEqual(first);
    expect((await stat(join(dir, 'auth-dev-key.json'))).mode & 0o777).toBe(0o600);
    const jwk = JSON.parse(await readFile(join(dir, 'auth-dev-key.json'), 'utf8')) as Record<string, unknown>;
    expect(jwk).toMatchObject({ kty: 'oct', alg: 'HS256' });

    const again = await resolveAuthConfig({}, {}, dir);
    expect(again).toEqual(first);
  });

  it('reports a damaged dev key file instead of replacing it', async () => {
    const dir = join(dataDir, 'damaged');
    await resolveAuthConfig({}, {}, dir);
    await writeFile(join(dir, 'auth-dev-key.json'), '{"kty":"oct","k":"c2hvcnQ"}');
    await expect(resolveAuthConfig({}, {}, dir)).rejects.toThrow(/holds no 256-bit key/);
  });

  it('takes flags over env, field by field, and splits comma-separated lists', async () => {
    const env = {
      LONGRUN_AUTH_SECRET: 'env-secret-env-secret-env-secret-env-secret',
      LONGRUN_AUTH_ISSUER: 'https://a.example, https://b.example',
      LONGRUN_AUTH_AUDIENCE: 'env-audience',
    };
    const fromEnv = await resolveAuthConfig({}, env, dataDir);
    expect(fromEnv).toMatchObject({
      mode: 'jwt',
      issuer: ['https://a.example', 'https://b.example'],
      audience: 'env-audience',
      algorithms: ['HS256'],
    });
    expect(fromEnv).not.toHaveProperty('devKeyFile');

    const flagSecret = 'flag-secret-flag-secret-flag-secret-flag';
    const fromFlags = await resolveAuthConfig(
      { authSecret: flagSecret, authAudience: 'a1,a2' },
      env,
      dataDir,
    );
    if (fromFlags.mode !== 'jwt') throw new Error('expected jwt');
    expect(new TextDecoder().decode(fromFlags.secret)).toBe(flagSecret);
    expect(fromFlags.audience).toEqual(['a1', 'a2']);
    expect(fromFlags.issuer).toEqual(['https://a.example', 'https://b.example']);
  });

  it('rejects short secrets, bad keys, conflicting key sources and plain-http JWKS', async () => {
    await expect(resolveAuthConfig({ authSecret: 'short' }, {}, dataDir)).rejects.toThrow(
      /at least 32 bytes/,
    );
    await expect(
      resolveAuthConfig({ authPublicKey: '-----BEGIN PUBLIC KEY-----\nAAAA\n' }, {}, dataDir),
    ).rejects.toThrow(/not a valid PEM/);
    await expect(
      resolveAuthConfig({ authPublicKey: join(dataDir, 'nope.pem') }, {}, dataDir),
    ).rejects.toThrow(/Cannot read/);
    await expect(
      resolveAuthConfig({ authJwksUrl: 'https://idp.example/keys', authPublicKey: 'x' }, {}, dataDir),
    ).rejects.toThrow(/not both/);
    await expect(resolveAuthConfig({ authJwksUrl: 'http://idp.example/keys' }, {}, dataDir)).rejects.toThrow(
      /must use https/,
    );
    const jwks = await resolveAuthConfig({}, { LONGRUN_AUTH_JWKS_URL: 'https://idp.example/keys' }, dataDir);
    expect(jwks).toMatchObject({
      jwksUrl: 'https://idp.example/keys',
      algorithms: ['RS256', 'PS256', 'ES256'],
    });
    expect(jwks).not.toHaveProperty('secret');
  });

  it('reads a public key from a file or from text, and picks its algorithms', async () => {
    const rsa = await generateKeyPair('RS256', { extractable: true });
    const file = join(dataDir, 'rsa.pem');
    await writeFile(file, await exportSPKI(rsa.publicKey));
    expect(await resolveAuthConfig({ authPublicKey: file }, {}, dataDir)).toMatchObject({
      algorithms: ['RS256', 'PS256'],
    });
    const ec = await generateKeyPair('ES256', { extractable: true });
    const escaped = (await exportSPKI(ec.publicKey)).replace(/\n/g, '\\n');
    const config = await resolveAuthConfig({}, { LONGRUN_AUTH_PUBLIC_KEY: escaped }, dataDir);
    expect(config).toMatchObject({ algorithms: ['ES256'] });
    expect(config).not.toHaveProperty('issuer');
  });
});

describe('verify', () => {
  const verifier = createTokenVerifier(hsConfig);

  it('accepts a valid HS256 token and reads its claims', async () => {
    const exp = nowSec() + 600;
    const token = await sign({
      exp,
      scp: 'Sites.Read.All LongRun.ReadWrite.All',
      oid: USER_OID,
      tid: 'tenant-1',
      upn: 'Alice@Contoso.com',
      azp: 'client-app',
      wids: [ADMIN_ROLE_TEMPLATE_IDS.globalReader],
    });
    const principal = await verifier.verify(`Bearer ${token}`);
    expect(principal).toMatchObject({
      kind: 'delegated',
      tenantId: 'tenant-1',
      objectId: USER_OID,
      userPrincipalName: 'Alice@Contoso.com',
      appId: 'client-app',
      expiresAt: exp * 1000,
      actor: `user:${USER_OID}`,
    });
    expect([...principal.scopes]).toEqual(['Sites.Read.All', 'LongRun.ReadWrite.All']);
    expect([...principal.wids]).toEqual([ADMIN_ROLE_TEMPLATE_IDS.globalReader]);
    // The scheme is case-insensitive.
    expect(await verifier.verify(`bearer ${token}`)).toBe(principal);
  });

  it('rejects a token without a usable tenant (tid missing, not a string, or empty)', async () => {
    for (const tid of [undefined, 42, '', '  ', ['t1']]) {
      const token = await sign({ scp: 'LongRun.Read.All', oid: 'o1', tid });
      await expect(verifier.verify(`Bearer ${token}`)).rejects.toMatchObject({
        reason: 'invalid',
        message: 'The access token has no tenant (tid) claim.',
      });
    }
  });

  it('reads an application token (roles, no scp)', async () => {
    const token = await sign({ roles: ['LongRun.Read.All'], appid: 'daemon', oid: 'sp-oid' });
    const principal = await verifier.verify(`Bearer ${token}`);
    expect(principal).toMatchObject({
      kind: 'application',
      appId: 'daemon',
      actor: 'app:daemon',
      tenantId: 't1',
    });
    expect([...principal.roles]).toEqual(['LongRun.Read.All']);
    expect(principal.scopes.size).toBe(0);
  });

  it('asks for a token when there is none', async () => {
    for (const header of [undefined, '', '   ', 'Basic dXNlcjpwdw==']) {
      expect((await authFailure(verifier.verify(header))).reason).toBe('missing');
    }
  });

  it('rejects malformed tokens', async () => {
    for (const header of [
      'Bearer',
      'Bearer abc',
      'Bearer a.b.c',
      'Bearer a b',
      `Bearer ${'a'.repeat(20_000)}`,
    ]) {
      expect((await authFailure(verifier.verify(header))).reason).toBe('malformed');
    }
  });

  it('rejects a bad signature', async () => {
    const token = await sign({}, new TextEncoder().encode('another-secret-another-secret-another-secret'));
    const error = await authFailure(verifier.verify(`Bearer ${token}`));
    expect(error).toMatchObject({ reason: 'invalid', message: 'The access token signature is invalid.' });
    // A tampered payload fails the same way.
    const [h, , s] = (await sign({ scp: 'LongRun.Read.All' })).split('.');
    const forged = Buffer.from(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, exp: nowSec() + 60, scp: 'x' }));
    expect(
      (await authFailure(verifier.verify(`Bearer ${h}.${forged.toString('base64url')}.${s}`))).reason,
    ).toBe('invalid');
  });

  it('rejects expired tokens, within the 60 s clock tolerance only', async () => {
    const expired = await sign({ exp: nowSec() - 120 });
    expect(await authFailure(verifier.verify(`Bearer ${expired}`))).toMatchObject({ reason: 'expired' });
    const justExpired = await sign({ exp: nowSec() - 30 });
    await expect(verifier.verify(`Bearer ${justExpired}`)).resolves.toMatchObject({ kind: 'application' });
  });

  it('rejects a token not valid yet, and one without exp', async () => {
    const early = await sign({ nbf: nowSec() + 3600 });
    expect(await authFailure(verifier.verify(`Bearer ${early}`))).toMatchObject({
      reason: 'invalid',
      message: 'The access token is not valid yet.',
    });
    const forever = await new SignJWT({ iss: ISSUER, aud: AUDIENCE })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(SECRET);
    expect((await authFailure(verifier.verify(`Bearer ${forever}`))).message).toMatch(/no expiry/);
  });

  it('rejects a wrong issuer or audience', async () => {
    const issuer = await sign({ iss: 'https://evil.example' });
    expect((await authFailure(verifier.verify(`Bearer ${issuer}`))).message).toMatch(/issuer/);
    const audience = await sign({ aud: 'someone-else' });
    expect((await authFailure(verifier.verify(`Bearer ${audience}`))).message).toMatch(/audience/);
  });

  it('rejects alg none', async () => {
    const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const unsigned = `${part({ alg: 'none', typ: 'JWT' })}.${part({ iss: ISSUER, aud: AUDIENCE, exp: nowSec() + 60, scp: 'LongRun.ReadWrite.All' })}.`;
    const error = await authFailure(verifier.verify(`Bearer ${unsigned}`));
    expect(error).toMatchObject({
      reason: 'invalid',
      message: 'The access token signing algorithm is not accepted.',
    });
    expect(() => createTokenVerifier({ ...hsConfig, algorithms: ['none'] })).toThrow(/without "none"/);
  });

  it('verifies RS256, PS256 and ES256 tokens with a PEM public key, and refuses HS256 made from it', async () => {
    const rsa = await generateKeyPair('RS256', { extractable: true });
    const rsaPem = await exportSPKI(rsa.publicKey);
    const rsaVerifier = createTokenVerifier(await resolveAuthConfig({ authPublicKey: rsaPem }, {}, dataDir));
    const rs = await sign({ scp: 'Sites.Read.All' }, rsa.privateKey, 'RS256');
    expect(await rsaVerifier.verify(`Bearer ${rs}`)).toMatchObject({ kind: 'delegated' });
    // WebCrypto binds a key to one algorithm, so PS256 is signed with a key pair made for PSS.
    const pss = await generateKeyPair('PS256', { extractable: true });
    const pssConfig = await resolveAuthConfig(
      { authPublicKey: await exportSPKI(pss.publicKey) },
      {},
      dataDir,
    );
    const ps = await sign({ scp: 'Sites.Read.All' }, pss.privateKey, 'PS256');
    expect(await createTokenVerifier(pssConfig).verify(`Bearer ${ps}`)).toMatchObject({ kind: 'delegated' });
    // Key confusion: an HS256 token whose "secret" is the public key text.
    const confused = await sign({ scp: 'x' }, new TextEncoder().encode(rsaPem), 'HS256');
    expect((await authFailure(rsaVerifier.verify(`Bearer ${confused}`))).message).toMatch(/algorithm/);

    const ec = await generateKeyPair('ES256', { extractable: true });
    const ecConfig = await resolveAuthConfig({ authPublicKey: await exportSPKI(ec.publicKey) }, {}, dataDir);
    const ecVerifier = createTokenVerifier(ecConfig);
    const es = await sign({ roles: ['LongRun.Read.All'] }, ec.privateKey, 'ES256');
    expect(await ecVerifier.verify(`Bearer ${es}`)).toMatchObject({ kind: 'application' });
    expect((await authFailure(ecVerifier.verify(`Bearer ${rs}`))).reason).toBe('invalid');
  });

  it('answers from the cache with the same principal, and still rejects a cached token once expired', async () => {
    let clock = Date.now();
    const cached = createTokenVerifier(hsConfig, { now: () => clock });
    const exp = nowSec() + 600;
    const token = await sign({ exp, scp: 'LongRun.Read.All' });
    const first = await cached.verify(`Bearer ${token}`);
    expect(await cached.verify(`Bearer ${token}`)).toBe(first);
    clock = (exp + 59) * 1000; // inside the tolerance, as a fresh verification would be
    expect(await cached.verify(`Bearer ${token}`)).toBe(first);
    clock = (exp + 60) * 1000;
    expect(await authFailure(cached.verify(`Bearer ${token}`))).toMatchObject({ reason: 'expired' });
    expect(await authFailure(cached.verify(`Bearer ${token}`))).toMatchObject({ reason: 'expired' });
  });

  it('evicts the least recently used token when the cache is full', async () => {
    const small = createTokenVerifier(hsConfig, { cacheSize: 2 });
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((jti) => sign({ jti })));
    const pa = await small.verify(`Bearer ${a}`);
    const pb = await small.verify(`Bearer ${b}`);
    expect(await small.verify(`Bearer ${a}`)).toBe(pa); // a is now the most recent
    await small.verify(`Bearer ${c}`); // evicts b
    expect(await small.verify(`Bearer ${a}`)).toBe(pa);
    expect(await small.verify(`Bearer ${b}`)).not.toBe(pb);
  });

  it('lets everyone in when auth is off', async () => {
    const open = createTokenVerifier({ mode: 'none' });
    expect(await open.verify(undefined)).toBe(ANONYMOUS);
    expect(await open.verify('Bearer garbage')).toBe(ANONYMOUS);
  });

  it('renders AuthError as 401 unauthenticated with an RFC 6750 challenge', () => {
    const missing = toGraphError(new AuthError('missing', 'No access token was provided.'));
    expect(missing).toBeInstanceOf(GraphError);
    expect(missing).toMatchObject({
      status: 401,
      code: 'unauthenticated',
      message: 'No access token was provided.',
    });
    expect(missing.options.headers).toEqual({ 'WWW-Authenticate': 'Bearer realm="longrun"' });
    const expired = toGraphError(new AuthError('expired', 'The access token has "expired".'));
    expect(expired.options.headers).toEqual({
      'WWW-Authenticate':
        'Bearer realm="longrun", error="invalid_token", error_description="The access token has  expired ."',
    });
  });
});

describe('mintToken', () => {
  it('round-trips the dev token through verify', async () => {
    const config = await resolveAuthConfig({}, {}, join(dataDir, 'mint'));
    const token = await mintToken(config, DEV_TOKEN_DEFAULTS);
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({ iss: 'longrun-dev', aud: 'longrun', tid: DEV_TOKEN_DEFAULTS.tid });
    expect(claims.exp! - claims.iat!).toBe(12 * 3600);
    const principal = await createTokenVerifier(config).verify(`Bearer ${token}`);
    expect(principal).toMatchObject({
      kind: 'delegated',
      objectId: DEV_TOKEN_DEFAULTS.oid,
      userPrincipalName: DEV_TOKEN_DEFAULTS.upn,
      tenantId: '00000000-0000-0000-0000-000000000001',
    });
    expect(principal.scopes.has('LongRun.ReadWrite.All')).toBe(true);
    expect(principal.wids.has(ADMIN_ROLE_TEMPLATE_IDS.globalAdministrator)).toBe(true);
    // The dev token may do everything, including on another user's authentication operations.
    for (const f of FAMILIES) {
      for (const access of ['read', 'write'] as const) {
        expect(authorize(principal, access, { family: f.name, userKey: 'someone@else' })).toEqual({
          allowed: true,
        });
      }
    }
  });

  it('mints application tokens with a chosen lifetime', async () => {
    const token = await mintToken(hsConfig, { roles: ['LongRun.Read.All'], appId: 'daemon', expires: '30m' });
    const principal = await createTokenVerifier(hsConfig).verify(`Bearer ${token}`);
    expect(principal).toMatchObject({ kind: 'application', appId: 'daemon' });
    expect(principal.expiresAt - Date.now()).toBeGreaterThan(29 * 60_000);
    expect(principal.expiresAt - Date.now()).toBeLessThanOrEqual(30 * 60_000);
  });

  it('refuses when it cannot sign, or the lifetime is unclear', async () => {
    const jwks: AuthConfig = {
      mode: 'jwt',
      jwksUrl: 'https://idp.example/keys',
      algorithms: ['RS256'],
      clockToleranceSec: 60,
    };
    await expect(mintToken(jwks, {})).rejects.toThrow(/Cannot mint a token/);
    await expect(mintToken({ mode: 'none' }, {})).rejects.toThrow(/Auth is off/);
    await expect(mintToken(hsConfig, { expires: '1 week' })).rejects.toThrow(/not valid/);
    expect(parseLifetime('7d')).toBe(7 * 86_400);
    expect(parseLifetime('45s')).toBe(45);
    expect(() => parseLifetime('0h')).toThrow();
  });
});

describe('authorize', () => {
  const delegated = (scopes: string[], extra: { wids?: string[]; oid?: string; upn?: string } = {}) =>
    principalFromClaims({
      scp: scopes.join(' '),
      tid: 't1',
      oid: extra.oid ?? USER_OID,
      upn: extra.upn ?? 'alice@contoso.com',
      wids: extra.wids ?? [],
      exp: nowSec() + 60,
    });
  const application = (roles: string[]) =>
    principalFromClaims({ roles, tid: 't1', oid: 'sp', exp: nowSec() + 60 });
  const check = (p: Principal, access: Access, family: FamilyName, userKey?: string) =>
    authorize(p, access, { family, userKey });

  // [family, access, token kind, granted permissions, allowed]
  const table: [FamilyName, Access, 'delegated' | 'application', string[], boolean][] = [
    ['roleManagementAlerts', 'read', 'delegated', [], false],
    ['roleManagementAlerts', 'read', 'delegated', ['RoleManagementAlert.Read.Directory'], true],
    ['roleManagementAlerts', 'read', 'delegated', ['RoleManagementAlert.ReadWrite.Directory'], true],
    ['roleManagementAlerts', 'write', 'delegated', ['RoleManagementAlert.Read.Directory'], false],
    ['roleManagementAlerts', 'write', 'delegated', ['RoleManagementAlert.ReadWrite.Directory'], true],
    ['roleManagementAlerts', 'write', 'application', ['RoleManagementAlert.ReadWrite.Directory'], true],
    ['roleManagementAlerts', 'read', 'application', [], false],
    ['industryData', 'read', 'delegated', ['IndustryData.ReadBasic.All'], true],
    ['industryData', 'write', 'delegated', ['IndustryData.ReadBasic.All'], false],
    ['industryData', 'write', 'delegated', ['IndustryData-DataConnector.Upload'], true],
    ['industryData', 'write', 'application', ['IndustryData-DataConnector.ReadWrite.All'], true],
    ['industryData', 'read', 'application', ['IndustryData-DataConnector.ReadWrite.All'], true],
    ['attackSimulation', 'read', 'delegated', ['AttackSimulation.Read.All'], true],
    ['attackSimulation', 'write', 'delegated', ['AttackSimulation.Read.All'], false],
    ['attackSimulation', 'write', 'delegated', ['AttackSimulation.ReadWrite.All'], true],
    ['attackSimulation', 'read', 'application', ['AttackSimulation.Read.All'], true],
    ['attackSimulation', 'write', 'application', ['AttackSimulation.Read.All'], false],
    ['engagement', 'read', 'delegated', ['Community.Read.All'], true],
    ['engagement', 'write', 'delegated', ['Community.ReadWrite.All'], true],
    ['engagement', 'read', 'delegated', ['EngagementConversation.Migration.All'], false],
    ['engagement', 'read', 'application', ['EngagementConversation.Migration.All'], true],
    ['engagement', 'write', 'application', ['EngagementConversation.Migration.All'], false],
    ['sites', 'read', 'delegated', ['Sites.Read.All'], true],
    ['sites', 'write', 'delegated', ['Sites.Read.All'], false],
    ['sites', 'write', 'delegated', ['Sites.Manage.All'], true],
    ['sites', 'read', 'delegated', ['Sites.FullControl.All'], true],
    ['sites', 'write', 'application', ['Sites.ReadWrite.All'], true],
    ['sites', 'read', 'delegated', ['LongRun.ReadWrite.All'], false],
    ['app', 'read', 'delegated', ['LongRun.Read.All'], true],
    ['app', 'write', 'delegated', ['LongRun.Read.All'], false],
    ['app', 'write', 'delegated', ['LongRun.ReadWrite.All'], true],
    ['app', 'write', 'application', ['LongRun.ReadWrite.All'], true],
    ['app', 'read', 'delegated', ['Sites.FullControl.All'], false],
    ['authentication', 'read', 'application', ['UserAuthenticationMethod.ReadWrite.All'], false],
  ];
  it.each(table)(
    '%s %s with a %s token holding %j → allowed %s',
    (family, access, kind, granted, allowed) => {
      const p = kind === 'delegated' ? delegated(granted) : application(granted);
      expect(check(p, access, family, USER_OID).allowed).toBe(allowed);
    },
  );

  const sweep = FAMILIES.flatMap((f) =>
    (['read', 'write'] as const).map((access) => [f.name, access] as const),
  );
  it.each(sweep)('%s %s: each listed permission suffices; none names them all', (family, access) => {
    const needed = FAMILIES.find((f) => f.name === family)![access];
    for (const scope of needed.delegated)
      expect(check(delegated([scope]), access, family, USER_OID).allowed).toBe(true);
    expect(check(delegated([]), access, family, USER_OID)).toEqual({
      allowed: false,
      status: 403,
      reason: 'missingPermission',
      missing: [...needed.delegated],
    });
    for (const role of needed.application)
      expect(check(application([role]), access, family).allowed).toBe(true);
    const noRoles = check(application([]), access, family);
    expect(noRoles).toMatchObject({
      allowed: false,
      reason: needed.application.length ? 'missingPermission' : 'applicationNotSupported',
    });
    expect(check(ANONYMOUS, access, family)).toEqual({ allowed: true });
  });

  describe('authentication family', () => {
    const R = 'UserAuthenticationMethod.Read';
    const RA = 'UserAuthenticationMethod.Read.All';
    const RW = 'UserAuthenticationMethod.ReadWrite';
    const RWA = 'UserAuthenticationMethod.ReadWrite.All';
    const { globalAdministrator: GA, globalReader: GR } = ADMIN_ROLE_TEMPLATE_IDS;
    const AA = ADMIN_ROLE_TEMPLATE_IDS.authenticationAdministrator;
    const PAA = ADMIN_ROLE_TEMPLATE_IDS.privilegedAuthenticationAdministrator;
    const USER_ADMIN = 'fe930be7-5e62-47db-91af-98c3a49a38b1';
    const OTHER = 'bob@contoso.com';

    // [access, scopes, wids, own user?, expected]
    const cases: [Access, string[], string[], boolean, true | Decision][] = [
      ['read', [R], [], true, true],
      ['read', [RA], [], true, true],
      ['read', [RW], [], true, true],
      ['read', [RWA], [], true, true],
      [
        'write',
        [R],
        [],
        true,
        { allowed: false, status: 403, reason: 'missingPermission', missing: [RW, RWA] },
      ],
      [
        'write',
        [RA],
        [GA],
        true,
        { allowed: false, status: 403, reason: 'missingPermission', missing: [RW, RWA] },
      ],
      ['write', [RW], [], true, true],
      ['write', [RWA], [], true, true],
      [
        'read',
        [],
        [GA],
        false,
        { allowed: false, status: 403, reason: 'missingPermission', missing: [RA, RWA] },
      ],
      [
        'read',
        [],
        [],
        true,
        { allowed: false, status: 403, reason: 'missingPermission', missing: [R, RA, RW, RWA] },
      ],
      [
        'read',
        [R],
        [GA],
        false,
        { allowed: false, status: 403, reason: 'missingPermission', missing: [RA, RWA] },
      ],
      [
        'read',
        [RW],
        [GA],
        false,
        { allowed: false, status: 403, reason: 'missingPermission', missing: [RA, RWA] },
      ],
      [
        'read',
        [RA],
        [],
        false,
        {
          allowed: false,
          status: 403,
          reason: 'missingAdminRole',
          missing: [
            'Global Administrator',
            'Global Reader',
            'Authentication Administrator',
            'Privileged Authentication Administrator',
          ],
        },
      ],
      ['read', [RA], [USER_ADMIN], false, { allowed: false, status: 403, reason: 'missingAdminRole' }],
      ['read', [RA], [GA], false, true],
      ['read', [RA], [GR], false, true],
      ['read', [RA], [AA], false, true],
      ['read', [RA], [PAA], false, true],
      ['read', [RWA], [GR], false, true],
      [
        'write',
        [RA],
        [GA],
        false,
        { allowed: false, status: 403, reason: 'missingPermission', missing: [RWA] },
      ],
      [
        'write',
        [RW],
        [GA],
        false,
        { allowed: false, status: 403, reason: 'missingPermission', missing: [RWA] },
      ],
      [
        'write',
        [RWA],
        [],
        false,
        {
          allowed: false,
          status: 403,
          reason: 'missingAdminRole',
          missing: [
            'Global Administrator',
            'Authentication Administrator',
            'Privileged Authentication Administrator',
          ],
        },
      ],
      ['write', [RWA], [GR], false, { allowed: false, status: 403, reason: 'missingAdminRole' }],
      ['write', [RWA], [GA], false, true],
      ['write', [RWA], [AA], false, true],
      ['write', [RWA], [PAA], false, true],
    ];
    it.each(cases)('%s with %j and wids %j on own user %s', (access, scopes, wids, own, expected) => {
      const p = delegated(scopes, { wids });
      const decision = check(p, access, 'authentication', own ? USER_OID : OTHER);
      if (expected === true) expect(decision).toEqual({ allowed: true });
      else expect(decision).toMatchObject(expected);
    });

    it('recognises the caller by object id alone, in any case; a name in the token is never "self"', () => {
      const p = delegated([R], { oid: USER_OID, upn: 'Alice@Contoso.com' });
      expect(check(p, 'read', 'authentication', USER_OID.toUpperCase()).allowed).toBe(true);
      // Keys reach authorize already canonical (a known UPN is replaced by its object id); a UPN that is
      // still a UPN names nobody the token proves to be.
      expect(check(p, 'read', 'authentication', 'alice@contoso.com').allowed).toBe(false);
      expect(check(p, 'read', 'authentication', undefined).allowed).toBe(false);
      // preferred_username carrying another user's object id does not make that user "self".
      const mallory = principalFromClaims({
        scp: R,
        tid: 't1',
        oid: OTHER,
        preferred_username: USER_OID,
        exp: nowSec() + 60,
      });
      expect(mallory.userPrincipalName).toBeUndefined();
      expect(check(mallory, 'read', 'authentication', USER_OID).allowed).toBe(false);
    });
  });

  it('builds 403 accessDenied (or 404) errors that name what is missing', () => {
    const denied = (d: Decision) => {
      if (d.allowed) throw new Error('expected a denial');
      return forbidden(d);
    };
    const missing = denied(check(delegated([]), 'read', 'attackSimulation'));
    expect(missing).toMatchObject({
      status: 403,
      code: 'accessDenied',
      message:
        'Missing permission: one of AttackSimulation.Read.All, AttackSimulation.ReadWrite.All is required.',
    });
    expect(denied(check(delegated([]), 'write', 'app')).message).toBe(
      'Missing permission: LongRun.ReadWrite.All is required.',
    );
    expect(denied(check(application(['x']), 'read', 'authentication')).message).toMatch(
      /Application permissions are not supported for this API/,
    );
    expect(
      denied(check(delegated(['UserAuthenticationMethod.Read.All']), 'read', 'authentication', 'bob'))
        .message,
    ).toMatch(/^Missing role: .*Global Reader/);
    expect(forbidden({ allowed: false, status: 404 })).toMatchObject({ status: 404, code: 'itemNotFound' });
  });
});

describe('user directory', () => {
  const OID_A = 'aaaaaaaa-0000-4000-8000-000000000001';
  const OID_B = 'bbbbbbbb-0000-4000-8000-000000000002';
  const user = (oid: string, claims: Record<string, unknown>, tid = 't1') =>
    principalFromClaims({ scp: 'x', oid, tid, exp: nowSec() + 60, ...claims });

  it('maps UPNs to object ids per tenant, case-insensitively, from the upn claim', async () => {
    const dir = createUserDirectory();
    expect(await dir.canonical('t1', 'Alice@Contoso.com')).toBe('alice@contoso.com');
    expect(await dir.learn(user(OID_A.toUpperCase(), { upn: 'Alice@Contoso.com' }))).toEqual({
      tenantId: 't1',
      upn: 'alice@contoso.com',
      objectId: OID_A,
    });
    expect(await dir.canonical('t1', 'ALICE@contoso.com')).toBe(OID_A);
    expect(await dir.canonical('t1', OID_A.toUpperCase())).toBe(OID_A);
    expect(await dir.canonical('t2', 'alice@contoso.com')).toBe('alice@contoso.com');
    // Application tokens teach nothing.
    await dir.learn(principalFromClaims({ roles: ['x'], oid: 'sp', upn: 'carol@contoso.com', tid: 't1' }));
    expect(await dir.canonical('t1', 'carol@contoso.com')).toBe('carol@contoso.com');
  });

  it('never learns from preferred_username, from oid-shaped names, or by rebinding a bound UPN', async () => {
    const dir = createUserDirectory();
    expect(await dir.learn(user(OID_B, { preferred_username: 'alice@contoso.com' }))).toBeUndefined();
    expect(await dir.canonical('t1', 'alice@contoso.com')).toBe('alice@contoso.com');
    // A upn claim shaped like another user's object id is not a name.
    expect(await dir.learn(user(OID_B, { upn: OID_A }))).toBeUndefined();
    expect(await dir.canonical('t1', OID_A)).toBe(OID_A);
    expect(await dir.learn(user(OID_B, { upn: 'no-at-sign' }))).toBeUndefined();

    await dir.learn(user(OID_A, { upn: 'alice@contoso.com' }));
    // Mallory's token claiming Alice's UPN does not take it over; the first binding wins.
    expect(await dir.learn(user(OID_B, { upn: 'alice@contoso.com' }))).toBeUndefined();
    expect(await dir.canonical('t1', 'alice@contoso.com')).toBe(OID_A);
    // An operator may move a UPN to another user.
    expect(await dir.importPairs('t1', [{ id: OID_B, userPrincipalName: 'Alice@contoso.com' }])).toHaveLength(
      1,
    );
    expect(await dir.canonical('t1', 'alice@contoso.com')).toBe(OID_B);
  });
});
