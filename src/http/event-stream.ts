/**
 * Server-Sent Events for one operation (`{collection}/{id}/events`) or a whole collection
 * (`{collection}/events`): one event per change carrying the operation's JSON, `id:` set to the history
 * event's sequence number so a client reconnecting with `Last-Event-ID` gets what it missed — from the
 * history, so this holds across restarts and nodes — and a comment every 15 s to keep proxies from closing
 * an idle stream.
 *
 * A stream is a read that goes on, so it lasts no longer than the token that opened it: at the instant the
 * token stops verifying (its `exp` plus the verifier's clock tolerance) the stream ends with a comment
 * saying why, and the client reconnects with a fresh token (resuming from `Last-Event-ID`). Streams are
 * refused inside a `$batch`, whose steps are buffered whole and so could never end.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DEFAULT_CLOCK_TOLERANCE_SEC } from '../auth/config.js';
import type { Principal } from '../auth/principal.js';
import { badRequest } from '../model/errors.js';
import type { OperationRecord } from '../model/operation.js';
import type { OperationChange } from '../service/changes.js';
import type { CollectionRef, OperationService } from '../service/operation-service.js';
import { currentBatch } from './batch-context.js';

export const KEEPALIVE_MS = 15_000;
const REPLAY_LIMIT = 1000;
/** After the settle time of the PostgreSQL event horizon (2 s). */
const SECOND_PASS_MS = 2500;
/** setTimeout's largest delay; a later deadline is re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** The last thing an expired stream sends: a comment, which EventSource ignores but a person reading sees. */
export const TOKEN_EXPIRED_COMMENT = ': the access token expired; reconnect with a new token\n\n';

/**
 * The instant from which the caller's token no longer verifies (epoch ms): its `exp` plus the clock
 * tolerance the verifier applies (auth/config.ts). Infinity when auth is off or the token has no `exp`.
 */
export function tokenValidUntil(principal: Principal | undefined): number {
  if (!principal) return Infinity;
  return principal.expiresAt + DEFAULT_CLOCK_TOLERANCE_SEC * 1000;
}

export interface StreamOptions {
  service: OperationService;
  ref: CollectionRef;
  /** One operation; the whole collection when undefined. */
  id?: string;
  render(record: OperationRecord): unknown;
  /** Epoch ms at which the stream ends because its token has expired (tokenValidUntil); default never. */
  validUntil?: number;
}

export async function streamEvents(
  request: FastifyRequest,
  reply: FastifyReply,
  o: StreamOptions,
): Promise<void> {
  if (currentBatch()) {
    throw badRequest(
      'An event stream cannot be read inside a $batch (its response would never end); open it on its own.',
    );
  }
  const lastEventId = parseLastEventId(request.headers['last-event-id']);
  const { service, ref } = o;
  if (o.id !== undefined) await service.get(ref, o.id); // 404 before the stream starts

  // Subscribe first and hold live changes until the replay is written, so nothing falls between the two.
  const held: OperationChange[] = [];
  let live = false;
  // Ids already sent: on PostgreSQL, changes from concurrent transactions may arrive out of event_seq order,
  // so "not above the last id" would drop some; a bounded set remembers what was sent instead.
  const sent = new Set<number>();
  const floor = lastEventId ?? 0;
  // Where this stream stands in the history: the highest event it sent, or where it started. A resync
  // (the cross-node notifications were interrupted) replays from here, as a client's reconnect would.
  let highest = lastEventId ?? service.changes.lastEventSeq;
  let resyncPending = false;
  const onChange = (change: OperationChange) => {
    if (live) void send(change);
    else held.push(change);
  };
  const onResync = () => {
    if (service.changes.closing) end();
    else if (live) catchUp();
    else resyncPending = true;
  };
  const unsubscribe =
    o.id === undefined
      ? service.changes.subscribeScope(ref.tenantId, ref.scope, onChange)
      : service.changes.subscribeOperation({ tenantId: ref.tenantId, scope: ref.scope, id: o.id }, onChange);
  const unsubscribeResync = service.changes.onResync(onResync);
  const catchUpTimers = new Set<NodeJS.Timeout>();

  reply.hijack();
  const out = reply.raw;
  out.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    // HTTP/1.1 only: HTTP/2 forbids connection-specific headers (setting one throws).
    ...(request.raw.httpVersionMajor < 2 && { connection: 'keep-alive' }),
    'x-accel-buffering': 'no',
    'request-id': request.id,
  });
  // Once the stream has ended (token expired, shutdown), late replays and changes are dropped, not written
  // after the end (which would be an error on the response).
  const emit = (text: string) => {
    if (!out.writableEnded && !out.destroyed) out.write(text);
  };
  const finish = (last?: string) => {
    if (!out.writableEnded && !out.destroyed) out.end(last);
  };
  emit('retry: 2000\n\n');
  const keepalive = setInterval(() => emit(': keep-alive\n\n'), KEEPALIVE_MS);
  let expiry: NodeJS.Timeout | undefined;
  const validUntil = o.validUntil ?? Infinity;
  const armExpiry = () => {
    const remaining = validUntil - Date.now();
    if (remaining <= 0) {
      close();
      void queue.then(() => finish(TOKEN_EXPIRED_COMMENT));
    } else {
      expiry = setTimeout(armExpiry, Math.min(remaining, MAX_TIMER_MS));
    }
  };
  const close = () => {
    clearInterval(keepalive);
    clearTimeout(expiry);
    for (const timer of catchUpTimers) clearTimeout(timer);
    unsubscribe();
    unsubscribeResync();
  };
  request.raw.on('close', close);
  /** Ends the stream from this side: the node is shutting down. */
  function end(): void {
    close();
    void queue.then(() => finish());
  }

  const write = (eventSeq: number | undefined, record: OperationRecord) => {
    if (eventSeq !== undefined) {
      if (eventSeq <= floor || sent.has(eventSeq)) return;
      sent.add(eventSeq);
      if (sent.size > 10_000) sent.delete(sent.values().next().value as number);
      if (eventSeq > highest) highest = eventSeq;
    }
    emit(`${eventSeq !== undefined ? `id: ${eventSeq}\n` : ''}data: ${JSON.stringify(o.render(record))}\n\n`);
  };

  // Serialize sends: a change from another node needs a read, and events must keep their order. A step
  // that fails (the store unreachable for a moment) is logged and skipped; the queue goes on, or every
  // later change would be dropped with it.
  let queue: Promise<void> = Promise.resolve();
  function enqueue(step: () => Promise<void>): Promise<void> {
    queue = queue.then(step).catch((error: unknown) => {
      request.log.warn({ err: error }, 'event stream could not send a change');
    });
    return queue;
  }
  if (validUntil !== Infinity) armExpiry();
  function send(change: OperationChange): Promise<void> {
    return enqueue(async () => {
      if (change.kind === 'deleted') {
        emit(`event: deleted\ndata: ${JSON.stringify({ id: change.id })}\n\n`);
        return;
      }
      const record = change.record ?? (await service.store.get(change));
      if (record) write(change.record?.eventSeq ?? change.eventSeq, record);
    });
  }

  /** After a resync: what went by unannounced, from the history, and once more when it has settled. */
  function catchUp(): void {
    const after = highest;
    void enqueue(() => replay(after));
    const timer = setTimeout(() => {
      catchUpTimers.delete(timer);
      void enqueue(() => replay(after));
    }, SECOND_PASS_MS);
    catchUpTimers.add(timer);
  }

  /** What the client missed: every event after its last one, each with the operation as it is now. */
  const replay = async (after: number) => {
    const events = await service.store.eventsSince(ref.tenantId, ref.scope, after, {
      id: o.id,
      limit: REPLAY_LIMIT,
    });
    const current = new Map<string, OperationRecord | undefined>();
    for (const e of events) {
      if (!current.has(e.id)) current.set(e.id, await service.store.get(e));
      const record = current.get(e.id);
      if (record) write(e.eventSeq, record);
    }
  };

  try {
    if (lastEventId !== undefined) {
      await replay(lastEventId);
      // On PostgreSQL the history is read up to its settled horizon (event-horizon.ts); a change committed
      // just before this connection but still behind an unsettled hole is picked up by a second pass.
      const again = setTimeout(() => void replay(lastEventId).catch(() => {}), SECOND_PASS_MS);
      request.raw.once('close', () => clearTimeout(again));
    } else if (o.id !== undefined) {
      const history = await service.store.eventsSince(ref.tenantId, ref.scope, 0, {
        id: o.id,
        limit: 1_000_000,
      });
      const record = await service.store.get({ tenantId: ref.tenantId, scope: ref.scope, id: o.id });
      if (record) write(history.at(-1)?.eventSeq, record);
    }
  } catch (error) {
    request.log.warn({ err: error }, 'event stream replay failed');
  }
  live = true;
  for (const change of held.splice(0)) void send(change);
  if (service.changes.closing) end();
  else if (resyncPending) catchUp();
}

function parseLastEventId(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value === '') return undefined;
  if (!/^\d{1,15}$/.test(value)) throw badRequest('Last-Event-ID must be an event id this stream sent.');
  return Number(value);
}
