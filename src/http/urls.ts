/** URLs the service hands out: its own origin, and ids as path segments. */
import type { FastifyRequest } from 'fastify';

/**
 * Percent-encodes an id for a path segment, leaving the characters RFC 3986 allows in segments and Graph
 * leaves as they are in its Locations (`refresh:…`, `contentTypeCopy,0x0101`).
 */
export function encodeSegment(id: string): string {
  return encodeURIComponent(id).replace(/%(3A|2C|3D|40|24|21|2B|3B)/gi, (c) => decodeURIComponent(c));
}

/** The absolute origin clients reach the service at: the configured public URL, else the request's (honouring X-Forwarded-*). */
export function origin(request: FastifyRequest, publicUrl: string | undefined): string {
  return publicUrl ?? `${request.protocol}://${request.host}`;
}
