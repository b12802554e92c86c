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
 * - the operation is unchanged (OperationService.isCurrent): on SQLite the store's read cache still holds
 *   the exact object the answer was rendered from (that cache is emptied by any write to the file, from
 *   this process or another: read-cache.ts); on PostgreSQL a read of the row's seq and version, made after
 *   the request came, still matches. Either way an answer is never older than a write acknowledged before
 *   the request came.
 *
 * Anything else, and every error, goes to Fastify as before (after that read, when one was made), which
 * also refreshes the entry. Only answers whose path resolution consulted nothing that can change are kept
 * (a `/users/{upn}` path asks the user directory). The server's own hooks are the only ones bypassed: the
 * cache turns itself off for good when anyone adds a request hook to the app after it was built (an
 * embedding application's own checks must run).
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
  /** Whether the operation is still as `view` shows it: at once (SQLite's read cache) or by a small read. */
  isCurrent: (key: OperationKey, view: OperationView) => boolean | Promise<boolean>;
  /** Counts an answered request in the metrics. */
  observe: (family: string, method: string, status: number, seconds: number) => void;
}

type Next = (request: IncomingMessage, response: ServerResponse) => void;

export class ResponseCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  private on = true;

  constructor(private readonly deps: ResponseCacheDeps) {}

  /** Answers kept, and what they weigh (bytes, roughly). */
  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }

  /** For good: something the cache can't replicate (an added hook) now runs on requests. */
  disable(): void {
    this.on = false;
    this.entries.clear();
    this.bytes = 0;
  }

  /**
   * Answers `request` from the cache when it may, else hands it to `next` (Fastify) untouched: at once,
   * or after the store said the operation changed (or failed to say: Fastify answers with the error).
   */
  handle(request: IncomingMessage, response: ServerResponse, next: Next): void {
    const key = this.on && request.method === 'GET' ? requestKey(request) : undefined;
    const entry = key === undefined ? undefined : this.entries.get(key);
    if (entry === undefined) return next(request, response);
    const started = performance.now();
    let current: boolean | Promise<boolean>;
    try {
      current =
        this.deps.verified(request.headers.authorization) === entry.verified &&
        this.deps.isCurrent(entry.key, entry.record);
    } catch {
      current = false; // a store closing or failing: Fastify's way answers with the right error
    }
    if (current === true) return this.answer(request, response, entry, started);
    if (current === false) {
      this.drop(key!, entry);
      return next(request, response);
    }
    current.then(
      (yes) => {
        if (yes) return this.answer(request, response, entry, started);
        this.drop(key!, entry);
        next(request, response);
      },
      () => next(request, response),
    );
  }

  private answer(request: IncomingMessage, response: ServerResponse, entry: Entry, started: number): void {
    if (response.destroyed) return; // the client left while the store was asked
    const head = entry.head.slice();
    head.push('request-id', randomUUID());
    const clientRequestId = request.headers['client-request-id'];
    if (typeof clientRequestId === 'string') head.push('client-request-id', clientRequestId);
    response.writeHead(200, head);
    response.end(entry.body);
    this.deps.observe(entry.family, 'GET', 200, (performance.now() - started) / 1000);
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
    // Only if it is still this entry: an answer checked by a read may have been replaced meanwhile.
    if (this.entries.get(key) !== entry) return;
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
