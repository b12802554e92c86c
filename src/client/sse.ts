/**
 * A Server-Sent Events parser (the WHATWG HTML "event stream interpretation" rules), fed text in whatever
 * pieces the network delivers: a line, a field or a CRLF may be split across chunks. Written here rather
 * than taken from a library so the client keeps no dependencies and runs wherever fetch does
 * (docs/decisions/0025-poller-follows-event-stream.md).
 */

export interface SseEvent {
  /** `event:`; undefined means the default type, `message`. */
  event?: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The last event id in force when this event was dispatched (`id:` of this or an earlier event). */
  lastEventId?: string;
}

export class SseParser {
  /** Text after the last complete line, waiting for the rest of its line. */
  private buffer = '';
  /** The previous chunk ended in CR: a LF starting the next chunk belongs to that line break. */
  private pendingCr = false;
  private started = false;
  private data: string[] = [];
  private eventType: string | undefined;
  /** The id buffer: kept across events, as the spec says, so a client can resume from it. */
  lastEventId: string | undefined;

  constructor(private readonly onEvent: (event: SseEvent) => void) {}

  /** Parses a decoded chunk; calls onEvent for each event it completes. */
  feed(chunk: string): void {
    if (!this.started && chunk.length > 0) {
      this.started = true;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1); // one leading BOM is ignored
    }
    if (this.pendingCr && chunk.startsWith('\n')) chunk = chunk.slice(1);
    this.pendingCr = false;
    const text = this.buffer + chunk;
    let start = 0;
    for (;;) {
      const cr = text.indexOf('\r', start);
      const lf = text.indexOf('\n', start);
      if (cr < 0 && lf < 0) break;
      const end = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf);
      this.line(text.slice(start, end));
      start = end + 1;
      if (text[end] === '\r') {
        if (start === text.length)
          this.pendingCr = true; // may be the first half of a CRLF
        else if (text[start] === '\n') start++;
      }
    }
    this.buffer = text.slice(start);
  }

  private line(line: string): void {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return; // a comment (keep-alives, the server's "token expired" note)
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.eventType = value;
    else if (field === 'id' && !value.includes('\u0000')) this.lastEventId = value;
    // `retry:` and unknown fields are ignored: the caller schedules its own reconnects.
  }

  private dispatch(): void {
    const data = this.data;
    const event = this.eventType;
    this.data = [];
    this.eventType = undefined;
    if (data.length === 0) return; // an event with no data is not dispatched
    this.onEvent({ event, data: data.join('\n'), lastEventId: this.lastEventId });
  }
}
