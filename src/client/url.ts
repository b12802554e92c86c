/**
 * Turning the URLs servers hand out into URLs to fetch. Graph's are not uniform (graph-contract.md §4.2,
 * §7.5): absolute with extra query parameters (`?aadgdc=…`), key-in-parentheses
 * (`engagementAsyncOperations('…')`), function calls (`getOperationStatus(operationId='…')`), and
 * relative paths without the version (`/teams('…')/operations('…')`). Everything here is string
 * concatenation rather than `new URL(ref, base)`, so ids, quotes and query strings reach the server
 * exactly as the server wrote them.
 */

const ABSOLUTE = /^[a-z][a-z\d+.-]*:\/\//i;
/** The version segments Graph uses; a path starting with one already names its version. */
const VERSION_SEGMENTS = ['/v1.0', '/beta'];

/**
 * - absolute URLs: as they are;
 * - `/path`: against the base URL's origin; prefixed by the base URL's path unless it already starts with
 *   that path or with a version segment (`/v1.0`, `/beta`, or the base path's last segment);
 * - anything else: appended to the base URL with a `/`.
 */
export function resolveUrl(baseUrl: string, ref: string): string {
  if (ABSOLUTE.test(ref)) return ref;
  const base = baseUrl.replace(/\/+$/, '');
  const { protocol, origin, pathname } = new URL(base);
  if (ref.startsWith('//')) return protocol + ref;
  if (!ref.startsWith('/')) return `${base}/${ref}`;

  const basePath = pathname === '/' ? '' : pathname.replace(/\/+$/, '');
  if (basePath === '' || startsWithSegment(ref, basePath)) return origin + ref;
  const versionStart = basePath.lastIndexOf('/');
  const versions = [...VERSION_SEGMENTS, basePath.slice(versionStart)];
  if (versions.some((v) => startsWithSegment(ref, v))) return origin + basePath.slice(0, versionStart) + ref;
  return origin + basePath + ref;
}

/** `/v1.0/x`, `/v1.0?x` and `/v1.0` start with `/v1.0`; `/v1.0x` does not. */
function startsWithSegment(path: string, prefix: string): boolean {
  return path.startsWith(prefix) && (path.length === prefix.length || '/?#('.includes(path[prefix.length]));
}

/** Appends OData query options, keeping whatever query the URL already has. */
export function withQuery(url: string, options: Record<string, string | number | undefined>): string {
  const parts = Object.entries(options)
    .filter((entry): entry is [string, string | number] => entry[1] !== undefined)
    // `$` stays literal in the name (Graph expects `$filter`, not `%24filter`); values are encoded.
    .map(([name, value]) => `${name}=${encodeURIComponent(String(value))}`);
  if (parts.length === 0) return url;
  const hash = url.indexOf('#');
  const [head, fragment] = hash < 0 ? [url, ''] : [url.slice(0, hash), url.slice(hash)];
  const separator = head.includes('?') ? (head.endsWith('?') || head.endsWith('&') ? '' : '&') : '?';
  return head + separator + parts.join('&') + fragment;
}

/** Whether two absolute URLs share an origin; used to keep the bearer token on the API's own host. */
export function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}
