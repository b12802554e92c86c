/**
 * The one way longrun calls a notification URL (the validation handshake and every delivery): a POST over
 * a fresh connection to the addresses the URL's check resolved (notification-url.ts), with bounded time and
 * a bounded read of whatever the receiver answers. A receiver is anyone on the internet who made a
 * subscription, so it must not be able to hold a connection open, or make this process buffer its answer:
 *
 * - the whole exchange (connect, send, response headers, response body) has one deadline, `timeoutMs`, so
 *   a receiver that never answers, or trickles its headers or its body, is cut off at that point: before
 *   the status line that is a failure; after it, the response counts with the body it had so far;
 * - at most `maxResponseBytes` of the response body are read; a body announced or found to be longer is
 *   not read further and the connection is destroyed (the status still counts, the body is incomplete);
 * - redirects are not followed (a 3xx is not a 2xx), and no connection is kept or reused (`agent: false`),
 *   so each request connects to addresses checked just before it.
 */
import type { LookupAddress, LookupOptions } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { CheckedNotificationUrl } from './notification-url.js';

/** Enough for a validation token echo or an error message; nothing longrun reads is longer. */
export const DEFAULT_MAX_RESPONSE_BYTES = 4096;
/** Graph's validation handshake allows 10 s; deliveries use the same by default. */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;

export interface WebhookRequest {
  body: string;
  contentType: string;
  timeoutMs?: number;
  maxResponseBytes?: number;
}

export interface WebhookResponse {
  status: number;
  /** The response body as text, at most maxResponseBytes of it. */
  body: string;
  /** False when the body was cut off: longer than maxResponseBytes, or still coming at the deadline. */
  complete: boolean;
}

/** Rejects on a connection error or when the deadline passes; resolves with whatever status came back. */
export function postWebhook(url: CheckedNotificationUrl, o: WebhookRequest): Promise<WebhookResponse> {
  const timeoutMs = o.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
  const maxBytes = o.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const payload = Buffer.from(o.body, 'utf8');
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<WebhookResponse>((resolve, reject) => {
    const req = request({
      method: 'POST',
      // An IPv6 literal's brackets belong to the URL, not to the host name.
      hostname: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port || undefined,
      path: `${url.pathname}${url.search}`,
      headers: {
        'content-type': o.contentType,
        'content-length': String(payload.length),
        'user-agent': 'longrun-webhook',
        connection: 'close',
      },
      agent: false,
      lookup: url.addresses ? pinnedLookup(url.addresses) : undefined,
    });
    let cutOff: (() => void) | undefined; // set once the status line is in
    const deadline = setTimeout(() => {
      if (cutOff) cutOff();
      else req.destroy(new Error(`The notification URL did not answer within ${timeoutMs} ms.`));
    }, timeoutMs);
    const fail = (error: Error) => {
      clearTimeout(deadline);
      reject(error);
    };
    req.once('error', fail);
    req.once('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let size = 0;
      let done = false;
      const finish = (complete: boolean) => {
        if (done) return;
        done = true;
        clearTimeout(deadline);
        req.off('error', fail);
        req.on('error', () => {}); // the destroy below may still report on the socket
        res.on('error', () => {});
        if (!complete) req.destroy();
        resolve({ status, body: Buffer.concat(chunks).toString('utf8'), complete });
      };
      cutOff = () => finish(false);
      if (Number(res.headers['content-length']) > maxBytes) {
        finish(false);
        return;
      }
      res.on('data', (chunk: Buffer) => {
        if (done) return;
        const room = maxBytes - size;
        if (chunk.length > room) {
          chunks.push(chunk.subarray(0, room));
          size = maxBytes;
          finish(false);
          return;
        }
        chunks.push(chunk);
        size += chunk.length;
      });
      res.once('end', () => finish(true));
      res.once('error', () => finish(false)); // the connection broke mid-body
    });
    req.end(payload);
  });
}

/**
 * A `lookup` for the connection that answers with the checked addresses, whatever name it is asked for:
 * the name is not resolved a second time. Node asks with `all: true` when it tries several addresses
 * (happy eyeballs), else for one.
 */
function pinnedLookup(addresses: readonly LookupAddress[]): LookupFunction {
  return ((
    _hostname: string,
    options: LookupOptions,
    callback: (error: Error | null, address: string | LookupAddress[], family?: number) => void,
  ) => {
    const wanted = addresses.filter((a) => !options.family || a.family === options.family);
    const list = wanted.length > 0 ? wanted : [...addresses];
    if (options.all) callback(null, list);
    else callback(null, list[0].address, list[0].family);
  }) as LookupFunction;
}
