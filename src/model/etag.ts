/**
 * Entity tags of operations (RFC 9110 §8.8.3) and the conditions that compare them (§13.1.1–13.1.2).
 *
 * An operation's ETag is a strong validator built from its row version, which every write bumps, plus a
 * short digest of its createdDateTime: the version alone restarts at 1 when an operation is deleted and
 * a new one is made under the same id, and a client holding the old tag must not see the new one as
 * "unchanged". Nothing in it is secret or store-internal (no seq: it would reveal how many operations
 * the whole service holds). See docs/decisions/0015-etags.md.
 */

export interface Versioned {
  version: number;
  createdDateTime: string;
}

/** The quoted entity tag, e.g. `"7-3f2a9c1b"`. */
export function etagOf(op: Versioned): string {
  return `"${op.version}-${fnv1a(op.createdDateTime)}"`;
}

/** 32-bit FNV-1a as 8 hex digits: pure JS, so the model stays free of Node-only imports. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** A parsed If-Match / If-None-Match field: `*`, or the listed tags (opaque-tag with quotes, weak flag). */
export type EtagCondition = { any: true } | { any: false; tags: { tag: string; weak: boolean }[] };

/**
 * Parses `*` or a comma-separated list of `"tag"` / `W/"tag"`. Returns undefined for a malformed field;
 * the caller answers 400 (a condition it can't read must not be treated as true or as false).
 */
export function parseEtagCondition(field: string | string[] | undefined): EtagCondition | undefined {
  if (field === undefined) return undefined;
  const text = (Array.isArray(field) ? field.join(',') : field).trim();
  if (text === '*') return { any: true };
  const tags: { tag: string; weak: boolean }[] = [];
  // entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; etagc excludes DQUOTE, controls and space.
  const re = /\s*(W\/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(,|$)/gy;
  let m: RegExpExecArray | null;
  while (re.lastIndex < text.length && (m = re.exec(text)) !== null) {
    tags.push({ tag: m[2], weak: m[1] !== undefined });
    if (m[3] === '') break;
  }
  if (tags.length === 0 || re.lastIndex !== text.length) return undefined;
  return { any: false, tags };
}

/** If-Match holds: `*` (the operation exists) or a listed tag equal to `etag` by strong comparison. */
export function ifMatchHolds(condition: EtagCondition, etag: string): boolean {
  return condition.any || condition.tags.some((t) => !t.weak && t.tag === etag);
}

/** If-None-Match matches (so a GET answers 304): `*`, or a listed tag equal to `etag` by weak comparison. */
export function ifNoneMatchMatches(condition: EtagCondition, etag: string): boolean {
  return condition.any || condition.tags.some((t) => t.tag === etag);
}
