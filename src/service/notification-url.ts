/**
 * Which notification URLs longrun will call. A subscription makes the server send requests where the
 * client says, so by default only public https hosts are allowed: loopback, private, link-local and other
 * special ranges are refused (else a subscription could probe the internal network), and so is plain http.
 * The check runs when the subscription is made and again before every delivery (DNS can change).
 */
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
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const) {
  SPECIAL.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  SPECIAL.addSubnet(net, prefix, 'ipv6');
}

export function isSpecialAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return SPECIAL.check(mapped[1], 'ipv4');
  const family = isIP(address);
  return family === 4 ? SPECIAL.check(address, 'ipv4') : family === 6 ? SPECIAL.check(address, 'ipv6') : true;
}

/** Throws a 400 naming the reason when the URL may not be called. */
export async function checkNotificationUrl(text: string, policy: WebhookPolicy): Promise<URL> {
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
  if (policy.allowedHosts.includes(host.toLowerCase()) || policy.allowPrivateNetworks) return url;
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address);
  } catch {
    throw badRequest(`'notificationUrl' host '${host}' could not be resolved.`, 'notificationUrl');
  }
  if (addresses.length === 0 || addresses.some(isSpecialAddress)) {
    throw badRequest(
      `'notificationUrl' resolves to a loopback, private or reserved address, which this service is not allowed to call.`,
      'notificationUrl',
    );
  }
  return url;
}
