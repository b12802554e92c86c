/**
 * The operator API addresses an operation across collections by an opaque key: its scope and id, which may
 * hold any character (ids hold `:`, `,`, `=`; scopes hold `/`), as base64url JSON, so it is one URL segment.
 */
import { badRequest } from '../../model/errors.js';

export function encodeKey(scope: string, id: string): string {
  return Buffer.from(JSON.stringify([scope, id]), 'utf8').toString('base64url');
}

export function decodeKey(key: string): { scope: string; id: string } {
  if (key.length <= 4096 && /^[A-Za-z0-9_-]+$/.test(key)) {
    try {
      const value = JSON.parse(Buffer.from(key, 'base64url').toString('utf8')) as unknown;
      if (
        Array.isArray(value) &&
        value.length === 2 &&
        value.every((v) => typeof v === 'string' && v !== '' && !v.includes('\u0000'))
      ) {
        return { scope: value[0] as string, id: value[1] as string };
      }
    } catch {
      // falls through to the 400
    }
  }
  throw badRequest(
    `'${key.slice(0, 64)}' is not an operation key (as the operator API's lists return them).`,
    'key',
  );
}
