/** URLs the service hands out: its own origin, and ids as path segments. */
import { randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';

/**
 * Percent-encodes an id for a path segment, leaving the characters RFC 3986 allows in segments and Graph
 * leaves as they are in its Locations (`refresh:…`, `contentTypeCopy,0x0101`).
 */
export function encodeSegment(id: string): string {
  return encodeURIComponent(id).replace(/%(3A|2C|3D|40|24|21|2B|3B)/gi, (c) => decodeURIComponent(c));
}

/**
 * The absolute origin clients reach the service at: the configured public URL; else the origin a `$batch`
 * step inherits from its batch; else the request's own (its Host header, and X-Forwarded-Proto/-Host only
 * when the app trusts the proxy the request came through: Fastify's `trustProxy`).
 */
export function origin(request: FastifyRequest, publicUrl: string | undefined): string {
  if (publicUrl) return publicUrl;
  const inherited = request.headers[INNER_ORIGIN_HEADER];
  if (typeof inherited === 'string' && inherited.startsWith(INNER_ORIGIN_KEY)) {
    return inherited.slice(INNER_ORIGIN_KEY.length);
  }
  return `${request.protocol}://${request.host}`;
}

/**
 * A `$batch` step runs as an in-process request that has no proxy or TLS socket of its own: it carries
 * its batch's origin in this header, under a key only this process knows, so a client can't set it.
 */
export const INNER_ORIGIN_HEADER = 'x-longrun-inner-origin';
const INNER_ORIGIN_KEY = `${randomBytes(16).toString('hex')} `;

/** The header value that gives a `$batch` step its batch's origin. */
export const innerOrigin = (outerOrigin: string) => INNER_ORIGIN_KEY + outerOrigin;
