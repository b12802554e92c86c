/**
 * Secrets kept at rest only sealed: AES-256-GCM under the node's data key (docs/decisions/0009). Used for
 * what a replayed start must answer again but nobody may read from the database, such as the password
 * resetPassword generated.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

export interface SecretBox {
  /** Sealed text: `v1.<iv>.<ciphertext>.<tag>`, base64url parts. */
  seal(value: unknown): string;
  /** The value, or undefined when it was sealed under another key (or tampered with). */
  open(sealed: string): unknown;
}

export const DATA_KEY_BYTES = 32;

export function createSecretBox(key: Uint8Array): SecretBox {
  if (key.length !== DATA_KEY_BYTES) throw new Error(`The data key must be ${DATA_KEY_BYTES} bytes.`);
  return {
    seal(value) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const data = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
      return ['v1', iv, data, cipher.getAuthTag()]
        .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
        .join('.');
    },
    open(sealed) {
      const [version, iv, data, tag] = sealed.split('.');
      if (version !== 'v1' || tag === undefined) return undefined;
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        const text = Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]);
        return JSON.parse(text.toString('utf8')) as unknown;
      } catch {
        return undefined;
      }
    },
  };
}

/** A data key from a secret the nodes already share (the HS256 token key), for its own purpose only. */
export function deriveDataKey(sharedSecret: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', sharedSecret, 'longrun', 'longrun data key v1', DATA_KEY_BYTES));
}

/** `LONGRUN_DATA_KEY`: 32 bytes, base64 or base64url. */
export function parseDataKey(text: string): Uint8Array {
  const key = Buffer.from(text.trim(), 'base64url');
  if (key.length !== DATA_KEY_BYTES) {
    throw new Error(
      `LONGRUN_DATA_KEY must be ${DATA_KEY_BYTES} bytes, base64-encoded (e.g. openssl rand -base64 32).`,
    );
  }
  return new Uint8Array(key);
}
