/**
 * The secure default when no key is configured: a random 256-bit HS256 key kept in the data directory, so
 * the server never runs open by accident and tokens minted by `longrun token` keep working across restarts.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { link, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const DEV_KEY_FILE_NAME = 'auth-dev-key.json';

/** Stored as a JWK (RFC 7517 `oct` key) so other tools can read it too. */
interface DevKeyJwk {
  kty: 'oct';
  alg: 'HS256';
  k: string;
  createdDateTime?: string;
}

export interface DevKey {
  secret: Uint8Array;
  file: string;
}

/** Loads the dev key from `<dataDir>/auth-dev-key.json`, creating it (mode 0600) on first use. */
export async function loadOrCreateDevKey(dataDir: string): Promise<DevKey> {
  const file = join(dataDir, DEV_KEY_FILE_NAME);
  const existing = await readDevKey(file);
  if (existing) return { secret: existing, file };
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const jwk: DevKeyJwk = {
    kty: 'oct',
    alg: 'HS256',
    k: randomBytes(32).toString('base64url'),
    createdDateTime: new Date().toISOString(),
  };
  await writeOnce(file, JSON.stringify(jwk, null, 2) + '\n', 0o600);
  const secret = await readDevKey(file);
  if (!secret) throw new Error(`The auth dev key file ${file} could not be created.`);
  return { secret, file };
}

/**
 * Creates `file` with `content` unless it exists. Written whole under a temporary name, then linked into
 * place: link (unlike rename) never replaces an existing file, so when two processes start at once both end
 * up with the file that won. Filesystems without hard links fall back to rename, still atomic for readers.
 */
export async function writeOnce(file: string, content: string, mode: number): Promise<void> {
  const temp = `${file}.${process.pid}.${randomUUID()}.tmp`;
  await writeFile(temp, content, { mode, flag: 'wx' });
  try {
    await link(temp, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') await rename(temp, file);
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

async function readDevKey(file: string): Promise<Uint8Array | undefined> {
  let content: string;
  try {
    content = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  // A damaged key file is reported, never silently replaced: replacing it would invalidate every token
  // minted so far without saying why.
  let jwk: Partial<DevKeyJwk>;
  try {
    jwk = JSON.parse(content) as Partial<DevKeyJwk>;
  } catch {
    throw new Error(`The auth dev key file ${file} is not valid JSON; delete it to create a new key.`);
  }
  const secret = typeof jwk.k === 'string' ? Buffer.from(jwk.k, 'base64url') : undefined;
  if (jwk.kty !== 'oct' || !secret || secret.length < 32) {
    throw new Error(`The auth dev key file ${file} holds no 256-bit key; delete it to create a new key.`);
  }
  return new Uint8Array(secret);
}
