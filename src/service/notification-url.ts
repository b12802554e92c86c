/**
 * Which notification URLs longrun will call. A subscription makes the server send requests where the
 * client says, so by default only public https hosts are allowed: loopback, private, link-local and other
 * special ranges are refused (else a subscription could probe the internal network), and so is plain http.
 * The check runs when the subscription is made and again before every delivery (DNS can change).
 *
 * An IPv6 address can carry an IPv4 one (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64
 * `64:ff9b::/96`, 6to4 `2002:AABB:CCDD::/48`, SIIT `::ffff:0:a.b.c.d`) that the network delivers to that
 * IPv4 host, so the embedded address is checked as IPv4. And the address checked is the address called:
 * the check returns the addresses it resolved (CheckedNotificationUrl) and the request connects to those
 * (webhook-request.ts), never resolving the name again, so a DNS answer that changes between the check and
 * the connection (DNS rebinding) can't redirect it.
 */
import type { LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import { badRequest } from '../model/errors.js';

export interface WebhookPolicy {
  /** Allow loopback and private addresses (tests, same-host receivers). Default false. */
  allowPrivateNetworks: boolean;
  /** Allow http:// (not only https://). Default false. */
  allowHttp: boolean;
  /** Host names always allowed, whatever they resolve to. */
  allowedHosts: readonly string[];
}

export const DEFAULT_WEBHOOK_POLICY: WebhookPolicy = {
  allowPrivateNetworks: false,
  allowHttp: false,
  allowedHosts: [],
};

const SPECIAL = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['192.0.2.0', 24],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 3],
] as const) {
  SPECIAL.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b:1::', 48], // local-use NAT64 (RFC 8215): its IPv4 may sit anywhere
  ['100::', 64], // discard
  ['2001::', 23], // IETF protocol assignments, Teredo (2001::/32) among them
  ['2001:db8::', 32], // documentation
  ['3fff::', 20], // documentation
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10], // site-local (deprecated, still routed inside some networks)
  ['ff00::', 8],
] as const) {
  SPECIAL.addSubnet(net, prefix, 'ipv6');
}

/** True for an address this service must not call; anything it can't parse counts as special. */
export function isSpecialAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return SPECIAL.check(address, 'ipv4');
  if (family !== 6) return true;
  const words = ipv6Words(address);
  if (!words) return true;
  const embedded = embeddedIPv4(words);
  if (embedded !== undefined) return SPECIAL.check(embedded, 'ipv4');
  return SPECIAL.check(address, 'ipv6');
}

/** The eight 16-bit words of an IPv6 address, whatever its spelling; undefined when it has a zone id. */
function ipv6Words(address: string): number[] | undefined {
  let canonical: string;
  try {
    // The URL parser validates, lowercases and turns a dotted IPv4 tail into hex: `[::ffff:7f00:1]`.
    canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  const [head, tail] = canonical.split('::') as [string, string | undefined];
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((w) => parseInt(w, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

const dotted = (high: number, low: number) => `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;

/** The IPv4 address an IPv6 one stands for, when it is one of the forms that carry one. */
function embeddedIPv4(w: number[]): string | undefined {
  const zero = (from: number, to: number) => w.slice(from, to).every((x) => x === 0);
  if (zero(0, 5) && w[5] === 0xffff) return dotted(w[6], w[7]); // ::ffff:a.b.c.d, IPv4-mapped
  if (zero(0, 4) && w[4] === 0xffff && w[5] === 0) return dotted(w[6], w[7]); // ::ffff:0:a.b.c.d, SIIT
  if (zero(0, 6)) return dotted(w[6], w[7]); // ::a.b.c.d, IPv4-compatible (and :: and ::1)
  if (w[0] === 0x64 && w[1] === 0xff9b && zero(2, 6)) return dotted(w[6], w[7]); // NAT64 well-known prefix
  if (w[0] === 0x2002) return dotted(w[1], w[2]); // 6to4
  return undefined;
}

/**
 * A notification URL that passed the policy, with the addresses the check resolved its host to: the only
 * addresses a request to it may connect to. `addresses` is undefined when the policy let the host through
 * without resolving it (an allowed host, or private networks allowed), where there is nothing to pin.
 */
export class CheckedNotificationUrl extends URL {
  constructor(
    url: string | URL,
    readonly addresses: readonly LookupAddress[] | undefined,
  ) {
    super(url);
  }
}

/** Throws a 400 naming the reason when the URL may not be called. */
export async function checkNotificationUrl(
  text: string,
  policy: WebhookPolicy,
): Promise<CheckedNotificationUrl> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw badRequest("'notificationUrl' must be an absolute URL.", 'notificationUrl');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowHttp)) {
    throw badRequest("'notificationUrl' must be an https URL.", 'notificationUrl');
  }
  if (url.username || url.password)
    throw badRequest("'notificationUrl' must not carry credentials.", 'notificationUrl');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (policy.allowedHosts.includes(host.toLowerCase()) || policy.allowPrivateNetworks) {
    return new CheckedNotificationUrl(url, undefined);
  }
  let addresses: LookupAddress[];
  try {
    const family = isIP(host);
    addresses = family ? [{ address: host, family }] : await lookup(host, { all: true });
  } catch {
    throw badRequest(`'notificationUrl' host '${host}' could not be resolved.`, 'notificationUrl');
  }
  if (addresses.length === 0 || addresses.some((a) => isSpecialAddress(a.address))) {
    throw badRequest(
      `'notificationUrl' resolves to a loopback, private or reserved address, which this service is not allowed to call.`,
      'notificationUrl',
    );
  }
  return new CheckedNotificationUrl(url, addresses);
}
