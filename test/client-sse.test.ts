/**
 * The client's Server-Sent Events parser and Link header reader, fed the way networks deliver text: in
 * chunks split anywhere (inside a field name, between the CR and LF of a line break, inside a JSON
 * payload), with multi-line data, comments and ids.
 */
import { describe, expect, it } from 'vitest';
import { eventStreamLink, parseLinkHeader } from '../src/client/link.js';
import { SseParser, type SseEvent } from '../src/client/sse.js';

const STREAM =
  '\uFEFFretry: 2000\r\n\r\n' +
  ': keep-alive\n\n' +
  'id: 7\ndata: {"id":"a","status":"running",\ndata: "percentageComplete":10}\n\n' +
  'event: deleted\r\ndata: {"id":"a"}\r\n\r\n' +
  'data\n\n' + // a field with no colon: empty data
  'id: 9\rdata:{"x":"y: z"}\r\r' +
  ': the access token expired; reconnect with a new token\n\n' +
  'data: partial at the end';

const EXPECTED: SseEvent[] = [
  { event: undefined, data: '{"id":"a","status":"running",\n"percentageComplete":10}', lastEventId: '7' },
  { event: 'deleted', data: '{"id":"a"}', lastEventId: '7' },
  { event: undefined, data: '', lastEventId: '7' },
  { event: undefined, data: '{"x":"y: z"}', lastEventId: '9' },
];

function parseInChunks(chunks: string[]): SseEvent[] {
  const events: SseEvent[] = [];
  const parser = new SseParser((e) => events.push(e));
  for (const chunk of chunks) parser.feed(chunk);
  return events;
}

describe('SseParser', () => {
  it('parses a whole stream in one chunk', () => {
    expect(parseInChunks([STREAM])).toEqual(EXPECTED);
  });

  it('gives the same events however the stream is split in two', () => {
    for (let at = 0; at <= STREAM.length; at++) {
      expect(parseInChunks([STREAM.slice(0, at), STREAM.slice(at)]), `split at ${at}`).toEqual(EXPECTED);
    }
  });

  it('gives the same events one character at a time', () => {
    expect(parseInChunks([...STREAM])).toEqual(EXPECTED);
  });

  it('dispatches nothing for an event cut off before its blank line', () => {
    const events = parseInChunks(['id: 1\ndata: {"status":"running"}\n']);
    expect(events).toEqual([]);
  });

  it('reads CR LF split across chunks as one line break, not two', () => {
    // Were the LF read as a second (blank) line, the first data line would be dispatched on its own.
    const events = parseInChunks(['data: a\r', '\ndata: b\r', '\n\r', '\n']);
    expect(events).toEqual([{ event: undefined, data: 'a\nb', lastEventId: undefined }]);
  });
});

describe('Link header', () => {
  it('finds the event stream among other links, with commas and semicolons in targets and quotes', () => {
    const header =
      '<https://x.test/a,b;c>; rel="next"; title="a, b; c", ' +
      '</v1.0/operations/op-1/events>; type="text/event-stream"; REL="Alternate other", ' +
      '<https://x.test/second>; rel=alternate; type=text/event-stream';
    expect(parseLinkHeader(header).map((l) => l.target)).toEqual([
      'https://x.test/a,b;c',
      '/v1.0/operations/op-1/events',
      'https://x.test/second',
    ]);
    expect(eventStreamLink(header, 'https://x.test/v1.0/operations/op-1')).toBe(
      'https://x.test/v1.0/operations/op-1/events',
    );
  });

  it('ignores other rels and other types, and absent or garbled headers', () => {
    expect(
      eventStreamLink('<https://x.test/e>; rel="alternate"; type="application/json"', 'https://x.test/'),
    ).toBe(undefined);
    expect(
      eventStreamLink('<https://x.test/e>; rel="self"; type="text/event-stream"', 'https://x.test/'),
    ).toBe(undefined);
    expect(eventStreamLink(null, 'https://x.test/')).toBe(undefined);
    expect(eventStreamLink('garbage; rel=alternate, <unclosed', 'https://x.test/')).toBe(undefined);
    expect(
      eventStreamLink(
        'garbage, <https://x.test/e>;rel=alternate;type="text/event-stream; charset=utf-8"',
        'https://x.test/',
      ),
    ).toBe('https://x.test/e');
  });

  it('follows a stream only on the origin of the response that names it', () => {
    const base = 'https://x.test/v1.0/operations/op-1';
    for (const elsewhere of [
      'https://evil.test/events',
      'http://x.test/v1.0/operations/op-1/events', // another scheme
      'https://x.test:8443/events', // another port
      '//evil.test/events', // scheme-relative
    ]) {
      expect(eventStreamLink(`<${elsewhere}>; rel=alternate; type=text/event-stream`, base)).toBe(undefined);
    }
    // The first usable link on the same origin wins over an earlier one elsewhere.
    expect(
      eventStreamLink(
        '<https://evil.test/e>; rel=alternate; type=text/event-stream, </v1.0/operations/op-1/events>; rel=alternate; type=text/event-stream',
        base,
      ),
    ).toBe('https://x.test/v1.0/operations/op-1/events');
  });
});
