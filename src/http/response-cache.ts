/**
 * Answers for repeated plain GETs of one operation, served before Fastify (issue 18): a client polling an
 * operation sends the same request again and again, and between two changes every answer is the same bytes
 * but for its request-id. The routing, hooks, path resolution, authorization and rendering of the first
 * answer are kept with it, and a repeat is answered from it when, right now:
 *
 * - the request is the same: method GET, the same URL (no query string), Host, forwarded host and proto
 *   and Authorization, and nothing that changes the answer (no Prefer, If-Match, If-None-Match, body);
 * - its token is still verified (Security.verified gives the very principal the answer was made for: an
 *   expired or evicted token goes the slow way and is checked again);
 * - the operation is unchanged: the store's read cache still holds the exact object the answer was
 *   rendered from (OperationService.cachedView). That cache is emptied by any write to the database, from
 *   this process or another (read-cache.ts), so an answer is never older than a write acknowledged before
 *   the request came.
 *
 * Anything else, and every error, goes to Fastify as before, which also refreshes the entry. Only answers
 * whose path resolution consulted nothing that can change (a `/users/{upn}` path asks the user directory)
 * are kept. The server's own hooks are the only ones bypassed: the cache turns itself off for good when
 * anyone adds a hook to the app after it was built (an embedding application's own checks must run).
 *
 * Bounded: at most MAX_BYTES of keys and answers in all, MAX_ENTRY_BYTES each; the oldest go first.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { OperationView } from '../model/operation.js';
import type { OperationKey } from '../store/store.js';

const MAX_BYTES = 16 * 1024 * 1024;
const MAX_ENTRY_BYTES = 64 * 1024;

export interface CachedAnswer {
  /** The operation as the store returned it; the answer is current while the store still returns it. */
  record: OperationView;
  key: OperationKey;
  /** What Security.verified returned for the request's Authorization. */
  verified: object;
  /** The response headers but request-id, client-request-id and content-length, as [name, value] pairs. */
  headers: [string, string][];
  body: Buffer;
  /** The metrics' route family of the URL. */
  family: string;
}

interface Entry extends CachedAnswer {
  /** Header lines ready for writeHead: the fixed ones, content-length last. */
  head: string[];
  bytes: number;
}

export interface ResponseCacheDeps {
  /** The principal (or open-security marker) authenticate() would reuse now for this header, if any. */
  verified: (authorization: string | undefined) => object | undefined;
  /** The operation as the store's read cache holds it, when the cache knows it is current. */
  cachedView: (key: OperationKey) => OperationView | undefined;
  /** Counts an answered request in the metrics. */
  observe: (family: string, method: string, status: number, seconds: number) => void;
}

export class ResponseCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  private on = true;

  constructor(private readonly deps: ResponseCacheDeps) {}

  get enabled(): boolean {
    return this.on;
  }

  get size(): number {
    return this.entries.size;
  }

  /** For good: something the cache can't replicate (an added hook) now runs on requests. */
  disable(): void {
    this.on = false;
    this.entries.clear();
    this.bytes = 0;
  }

  /**
   * Answers `request` from the cache and returns true, or returns false having touched nothing (the
   * request then goes to Fastify).
   */
  serve(request: IncomingMessage, response: ServerResponse): boolean {
    if (!this.on || request.method !== 'GET') return false;
    const key = requestKey(request);
    if (key === undefined) return false;
    const entry = this.entries.get(key);
    if (entry === undefined) return false;
    const started = performance.now();
    try {
      if (this.deps.verified(request.headers.authorization) !== entry.verified) return false;
      if (this.deps.cachedView(entry.key) !== entry.record) {
        this.drop(key, entry);
        return false;
      }
    } catch {
      return false; // a store closing or failing: Fastify's way answers with the right error
    }
    const head = entry.head.slice();
    head.push('request-id', randomUUID());
    const clientRequestId = request.headers['client-request-id'];
    if (typeof clientRequestId === 'string') head.push('client-request-id', clientRequestId);
    response.writeHead(200, head);
    response.end(entry.body);
    this.deps.observe(entry.family, 'GET', 200, (performance.now() - started) / 1000);
    return true;
  }

  /** Keeps the answer Fastify is about to send to `request`, if such a request may be answered again. */
  remember(request: IncomingMessage, answer: CachedAnswer): void {
    if (!this.on) return;
    const key = requestKey(request);
    if (key === undefined) return;
    const head: string[] = [];
    for (const [name, value] of answer.headers) head.push(name, value);
    head.push('content-length', String(answer.body.length));
    let bytes = key.length * 2 + answer.body.length;
    for (const line of head) bytes += line.length * 2;
    if (bytes > MAX_ENTRY_BYTES) return;
    const old = this.entries.get(key);
    if (old) this.drop(key, old);
    while (this.bytes + bytes > MAX_BYTES) {
      const [oldestKey, oldest] = this.entries.entries().next().value as [string, Entry];
      this.drop(oldestKey, oldest);
    }
    this.entries.set(key, { ...answer, head, bytes });
    this.bytes += bytes;
  }

  private drop(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.bytes -= entry.bytes;
  }
}

/**
 * What identifies a request's answer, or undefined when the request is not one the cache answers: a GET
 * without query, body or headers that change the answer. The origin in the answer's links comes from the
 * Host and (behind a trusted proxy) X-Forwarded-Host/-Proto, so those are part of the key.
 */
export function requestKey(request: IncomingMessage): string | undefined {
  const url = request.url;
  if (url === undefined || url.includes('?')) return undefined;
  const h = request.headers;
  if (
    h.prefer !== undefined ||
    h['if-match'] !== undefined ||
    h['if-none-match'] !== undefined ||
    h['content-length'] !== undefined ||
    h['transfer-encoding'] !== undefined
  ) {
    return undefined;
  }
  return `${url}\n${h.host ?? ''}\n${h['x-forwarded-host'] ?? ''}\n${h['x-forwarded-proto'] ?? ''}\n${h.authorization ?? ''}`;
}
