/**
 * Event streams end with their token (issue 13, item 6), over real HTTP: a stream opened with a token
 * about to expire delivers while the token is valid, then ends once the token no longer verifies (its
 * `exp` plus the verifier's clock tolerance) with a final comment saying why; the same token is refused
 * from then on, so the client reconnects with a new one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CLOCK_TOLERANCE_SEC, resolveAuthConfig, type AuthConfig } from '../src/auth/config.js';
import { DEV_TOKEN_DEFAULTS, mintToken } from '../src/auth/tokens.js';
import { securityFor } from '../src/cli/auth-options.js';
import { TOKEN_EXPIRED_COMMENT } from '../src/http/event-stream.js';
import { startTestServer, type TestServer } from './support/server.js';

let server: TestServer;
let keyDir: string;
let config: AuthConfig & { mode: 'jwt' };
let token: string;

beforeAll(async () => {
  keyDir = mkdtempSync(join(tmpdir(), 'longrun-secstream-'));
  config = (await resolveAuthConfig(
    { authSecret: 'security-stream-secret-0123456789-abcdefghij' },
    {},
    keyDir,
  )) as AuthConfig & { mode: 'jwt' };
  server = await startTestServer({ security: securityFor(config), worker: false, retention: false });
  token = await mintToken(config, DEV_TOKEN_DEFAULTS);
});
afterAll(async () => {
  await server?.close();
  rmSync(keyDir, { recursive: true, force: true });
});

/** The dev token's claims, with `exp` so that it stops verifying `validForMs` from now. */
async function tokenValidFor(validForMs: number): Promise<{ token: string; validUntil: number }> {
  const exp = Math.floor((Date.now() + validForMs) / 1000) - DEFAULT_CLOCK_TOLERANCE_SEC;
  const signed = await new SignJWT({
    scp: DEV_TOKEN_DEFAULTS.scopes!.join(' '),
    wids: DEV_TOKEN_DEFAULTS.wids,
    oid: DEV_TOKEN_DEFAULTS.oid,
    tid: DEV_TOKEN_DEFAULTS.tid,
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(exp - 3600)
    .setExpirationTime(exp)
    .sign(config.secret!);
  return { token: signed, validUntil: (exp + DEFAULT_CLOCK_TOLERANCE_SEC) * 1000 };
}

/** Reads a response body as text until the server ends it; fails if it has not ended after `limitMs`. */
async function readToEnd(res: Response, onText: (text: string) => void, limitMs: number): Promise<string> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const timer = setTimeout(() => void reader.cancel(), limitMs);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      onText(text);
    }
  } finally {
    clearTimeout(timer);
  }
  return text;
}

describe('event streams and token expiry', () => {
  for (const path of ['/v1.0/operations/events', 'item']) {
    it(`ends ${path === 'item' ? "an operation's" : "a collection's"} stream when its token expires, with a comment saying why`, async () => {
      const created = await server.request('POST', '/v1.0/operations', {
        body: {},
        headers: { authorization: `Bearer ${token}` },
      });
      const { id } = (await created.json()) as { id: string };
      const url = path === 'item' ? `/v1.0/operations/${id}/events` : path;
      const short = await tokenValidFor(4000);
      const res = await fetch(server.url + url, {
        headers: { accept: 'text/event-stream', authorization: `Bearer ${short.token}` },
      });
      expect(res.status).toBe(200);

      let patched = false;
      const text = await readToEnd(
        res,
        (sofar) => {
          // Once the stream is live, a change is delivered while the token is still valid.
          if (!patched && sofar.includes('retry:')) {
            patched = true;
            void server.request('PATCH', `/v1.0/operations/${id}`, {
              body: { status: 'running' },
              headers: { authorization: `Bearer ${token}` },
            });
          }
        },
        30_000,
      );
      const endedAt = Date.now();
      expect(text).toMatch(/"status":"running"/);
      expect(text.endsWith(TOKEN_EXPIRED_COMMENT)).toBe(true);
      expect(TOKEN_EXPIRED_COMMENT).toMatch(/^: .*token expired/);
      // It ended because the token no longer verifies, not before.
      expect(endedAt).toBeGreaterThanOrEqual(short.validUntil);
      const again = await fetch(server.url + url, {
        headers: { accept: 'text/event-stream', authorization: `Bearer ${short.token}` },
      });
      expect(again.status).toBe(401);
      await again.body?.cancel();
    });
  }
});
