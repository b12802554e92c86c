/**
 * `$skiptoken`: an opaque continuation token, base64url of `{"f":fingerprint,"v":[key values],"s":seq}`.
 * The fingerprint ties a token to the $filter and $orderby that produced it: a cursor only means something
 * for the ordering it was taken from, so a token replayed with other options is refused, not misread.
 */
import { createHash } from 'node:crypto';
import { badRequest } from '../../model/errors.js';
import type { Cursor, FilterValue } from '../../model/query.js';

/** Far longer than any real token (five keys of bounded text); refuses junk before decoding it. */
const MAX_TOKEN_LENGTH = 8192;

interface TokenBody {
  f: string;
  v: FilterValue[];
  s: number;
}

/** A short hash of the canonical $filter and $orderby text. Not a secret: it only detects mix-ups. */
export function queryFingerprint(filterText?: string, orderbyText?: string): string {
  return createHash('sha1')
    .update(`${filterText ?? ''}\n${orderbyText ?? ''}`)
    .digest('hex')
    .slice(0, 8);
}

export function encodeSkiptoken(cursor: Cursor, fingerprint: string): string {
  const body: TokenBody = { f: fingerprint, v: cursor.values, s: cursor.seq };
  return Buffer.from(JSON.stringify(body), 'utf8').toString('base64url');
}

export function decodeSkiptoken(token: string, fingerprint: string): Cursor {
  const invalid = () => badRequest("The value of query option '$skiptoken' is not valid.");
  if (token.length === 0 || token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token))
    throw invalid();
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!isTokenBody(body)) throw invalid();
  if (body.f !== fingerprint) throw badRequest('The $skiptoken does not match this query.');
  return { values: body.v, seq: body.s };
}

function isTokenBody(body: unknown): body is TokenBody {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const { f, v, s } = body as Record<string, unknown>;
  return (
    typeof f === 'string' &&
    Number.isSafeInteger(s) &&
    Array.isArray(v) &&
    v.every((x) => x === null || typeof x === 'string' || typeof x === 'boolean' || Number.isFinite(x))
  );
}
