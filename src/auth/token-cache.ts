/**
 * Verified tokens by their exact text, so that a client polling an operation with the same token pays for
 * its signature once. Eviction is LRU-ish ("second chance"): a hit only sets a flag, which keeps the hot
 * path to one Map lookup; when the cache is full, the oldest entries that were used since they were last
 * looked at move to the back, and the first one that was not is dropped.
 */
import type { Principal } from './principal.js';

interface Entry {
  principal: Principal;
  /** Epoch ms from which the token no longer verifies (its exp plus the clock tolerance). */
  validUntil: number;
  used: boolean;
}

export type CacheLookup = { principal: Principal } | { expired: true } | undefined;

export class TokenCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly maxEntries: number) {}

  get size(): number {
    return this.entries.size;
  }

  lookup(token: string, now: number): CacheLookup {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    if (now >= entry.validUntil) {
      this.entries.delete(token);
      return { expired: true };
    }
    entry.used = true;
    return entry;
  }

  store(token: string, principal: Principal, validUntil: number): void {
    if (this.maxEntries <= 0) return;
    this.entries.delete(token);
    // Each pass over an entry clears its flag, so this ends within one sweep of the cache.
    while (this.entries.size >= this.maxEntries) {
      const [oldestToken, oldest] = this.entries.entries().next().value as [string, Entry];
      this.entries.delete(oldestToken);
      if (oldest.used) {
        oldest.used = false;
        this.entries.set(oldestToken, oldest);
      }
    }
    this.entries.set(token, { principal, validUntil, used: false });
  }
}
