/**
 * Reads an RFC 8288 `Link` header: `<uri>; param=value; param="quoted, value", <uri2>; ...`. Commas and
 * semicolons may appear inside the `<...>` target and inside quoted values, so the header is scanned
 * rather than split.
 */

export interface LinkValue {
  /** The target as written (may be relative). */
  target: string;
  /** Parameters by lower-cased name; the first occurrence wins (RFC 8288 §3). */
  params: Record<string, string>;
}

export function parseLinkHeader(header: string | null | undefined): LinkValue[] {
  const links: LinkValue[] = [];
  if (!header) return links;
  let i = 0;
  const n = header.length;
  const skip = (chars: string) => {
    while (i < n && chars.includes(header[i])) i++;
  };
  while (i < n) {
    skip(' \t,');
    if (header[i] !== '<') {
      // Not a link-value: skip to the next comma outside quotes and try again.
      skipToComma();
      continue;
    }
    const close = header.indexOf('>', i + 1);
    if (close < 0) break;
    const link: LinkValue = { target: header.slice(i + 1, close).trim(), params: {} };
    i = close + 1;
    for (;;) {
      skip(' \t');
      if (header[i] !== ';') break;
      i++;
      skip(' \t');
      const nameStart = i;
      while (i < n && !'=;, \t'.includes(header[i])) i++;
      const name = header.slice(nameStart, i).toLowerCase();
      skip(' \t');
      let value = '';
      if (header[i] === '=') {
        i++;
        skip(' \t');
        if (header[i] === '"') {
          i++;
          while (i < n && header[i] !== '"') {
            if (header[i] === '\\' && i + 1 < n) i++;
            value += header[i++];
          }
          i++; // the closing quote
        } else {
          const valueStart = i;
          while (i < n && !';, \t'.includes(header[i])) i++;
          value = header.slice(valueStart, i);
        }
      }
      if (name && !(name in link.params)) link.params[name] = value;
    }
    links.push(link);
    skipToComma();
  }
  return links;

  function skipToComma(): void {
    let quoted = false;
    while (i < n && (quoted || header![i] !== ',')) {
      if (header![i] === '"') quoted = !quoted;
      else if (header![i] === '\\' && quoted) i++;
      i++;
    }
  }
}

/**
 * The absolute URL of the Server-Sent Events stream a response advertises (`rel` includes `alternate`,
 * `type` is `text/event-stream`), resolved against `base`; undefined when there is none. A stream on
 * another origin than `base` is ignored: the poller would open it (without the token, but with the
 * operation's id in its state), so a response can only point it at its own server.
 */
export function eventStreamLink(header: string | null | undefined, base: string): string | undefined {
  for (const link of parseLinkHeader(header)) {
    const rels = (link.params.rel ?? '').toLowerCase().split(/\s+/);
    const type = (link.params.type ?? '').toLowerCase().split(';')[0].trim();
    if (!rels.includes('alternate') || type !== 'text/event-stream') continue;
    let url: URL;
    try {
      url = new URL(link.target, base);
    } catch {
      continue; // an unusable target is as good as none
    }
    if (url.origin === new URL(base).origin) return url.href;
  }
  return undefined;
}
