/**
 * Follows an operation's Server-Sent Events stream (`{operation}/events`), calling `onChange` with each
 * operation it carries until `onChange` returns true. Reconnects with Last-Event-ID when the connection
 * drops; falls back to polling with Prefer: wait when the server has no stream (Microsoft Graph).
 */
import type { Operation } from '../client/types.js';
import { GraphRequestError } from '../client/errors.js';

export async function followStream(
  operationUrl: string,
  token: string | undefined,
  onChange: (op: Operation) => boolean,
): Promise<void> {
  const headers: Record<string, string> = {
    accept: 'text/event-stream',
    prefer: 'include-unknown-enum-members',
  };
  if (token) headers.authorization = `Bearer ${token}`;
  const [path, query] = operationUrl.split('?');
  const streamUrl = `${path}/events${query ? `?${query}` : ''}`;
  let lastEventId: string | undefined;
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(streamUrl, {
      headers: lastEventId ? { ...headers, 'last-event-id': lastEventId } : headers,
    });
    if (res.status === 404 || res.status === 405) {
      await res.body?.cancel();
      if (attempt === 0 && (await exists(operationUrl, headers)))
        return poll(operationUrl, headers, onChange);
    }
    if (!res.ok || !res.body) {
      const body = (await res.json().catch(() => undefined)) as
        { error?: { code?: string; message?: string } } | undefined;
      throw new GraphRequestError({
        status: res.status,
        code: body?.error?.code ?? 'unknownError',
        message: body?.error?.message ?? `HTTP ${res.status}`,
        requestId: res.headers.get('request-id') ?? undefined,
        clientRequestId: '',
        body,
        attempts: 1,
      });
    }
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('id:')) lastEventId = line.slice(3).trim();
            else if (line.startsWith('data:')) data += line.slice(5).trim();
          }
          if (data && onChange(JSON.parse(data) as Operation)) {
            await res.body.cancel().catch(() => {});
            return;
          }
        }
      }
    } catch {
      // the connection dropped: reconnect below, resuming after lastEventId
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function exists(url: string, headers: Record<string, string>): Promise<boolean> {
  const res = await fetch(url, { headers: { ...headers, accept: 'application/json' } });
  await res.body?.cancel();
  return res.ok;
}

async function poll(
  url: string,
  headers: Record<string, string>,
  onChange: (op: Operation) => boolean,
): Promise<void> {
  let previous = '';
  for (;;) {
    const res = await fetch(url, {
      headers: { ...headers, accept: 'application/json', prefer: `${headers.prefer}, wait=30` },
    });
    const op = (await res.json()) as Operation;
    const text = JSON.stringify(op);
    if (text !== previous && onChange(op)) return;
    previous = text;
    if (!res.headers.get('preference-applied')?.includes('wait'))
      await new Promise((r) => setTimeout(r, 1000));
  }
}
