/** How long to wait: Retry-After, backoff with jitter, and an abortable sleep. */

/**
 * `Retry-After` in milliseconds, or undefined when absent or unreadable. The header is either
 * delta-seconds or an HTTP-date (RFC 9110 §10.2.3; Graph prefers seconds but clients must accept both,
 * graph-contract.md §3.3). A date is measured against the response's own `Date` header when there is
 * one, so a client whose clock is off does not wait too long or not at all.
 */
export function parseRetryAfter(
  value: string | null,
  responseDate: string | null,
  now = Date.now(),
): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  // An HTTP-date always names its day and month; this keeps Date.parse from reading '-5' as a year.
  const at = /[a-z]/i.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(at)) return undefined;
  const serverNow = responseDate === null ? NaN : Date.parse(responseDate);
  return Math.max(0, at - (Number.isNaN(serverNow) ? now : serverNow));
}

export function clamp(ms: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, ms));
}

/**
 * Exponential backoff with full jitter: a uniform draw in [0, min(cap, initial·2^attempt)]. Spreading
 * the draw over the whole range keeps many clients that failed together from retrying together.
 */
export function backoffDelay(
  attempt: number,
  initialMs: number,
  capMs: number,
  random = Math.random,
): number {
  return random() * Math.min(capMs, initialMs * 2 ** attempt);
}

/** Resolves after `ms`; rejects with the signal's reason as soon as it is aborted. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
