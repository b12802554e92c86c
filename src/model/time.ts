/**
 * Timestamps are kept as fixed-width ISO 8601 UTC text with seven fractional digits, the form Graph emits
 * (`2023-06-09T22:50:41.5414467Z`). Fixed width makes text order equal time order, in SQLite and PostgreSQL
 * alike, and keeps the sub-millisecond digits a client sent.
 */
const ISO_WITH_OFFSET =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,12}))?)?(Z|[+-]\d{2}:\d{2})$/i;

let lastMicros = 0;

/** Now, strictly increasing within this process so that consecutive writes never share a timestamp. */
export function now(): string {
  let micros = Date.now() * 1000;
  if (micros <= lastMicros) micros = lastMicros + 1;
  lastMicros = micros;
  return fromEpochMicros(micros);
}

export function fromEpochMs(ms: number): string {
  return fromEpochMicros(ms * 1000);
}

function fromEpochMicros(micros: number): string {
  const ms = Math.floor(micros / 1000);
  const base = new Date(ms).toISOString(); // 2023-06-09T22:50:41.541Z
  const fraction = String(micros % 1000).padStart(3, '0');
  return `${base.slice(0, 23)}${fraction}0Z`;
}

/**
 * Parses a client's DateTimeOffset and returns the canonical UTC form, or undefined when it is not a valid
 * ISO 8601 date-time with an offset.
 */
export function normalizeTimestamp(text: string): string | undefined {
  const m = ISO_WITH_OFFSET.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s = '00', frac = '', zone] = m;
  const wholeMs = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${s}${zone.toUpperCase() === 'Z' ? 'Z' : zone}`);
  if (Number.isNaN(wholeMs)) return undefined;
  // Reject dates Date.parse silently rolls over (2024-02-31).
  if (zone.toUpperCase() === 'Z') {
    const check = new Date(wholeMs).toISOString();
    if (check.slice(0, 19) !== `${y}-${mo}-${d}T${h}:${mi}:${s}`) return undefined;
  }
  const digits = (frac + '0000000').slice(0, 7);
  return `${new Date(wholeMs).toISOString().slice(0, 19)}.${digits}Z`;
}

export function toEpochMs(canonical: string): number {
  return Date.parse(canonical.slice(0, 23) + 'Z');
}
