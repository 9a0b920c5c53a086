import type { Caller } from "./caller.js";

/**
 * Callers of recently verified tokens, so a client that reuses its token (as clients do for its whole
 * lifetime) pays for one signature check, not one per call: an ES256 verify costs about 300 µs of CPU,
 * a third of a whole GetOrder. Entries end at the token's own expiry (plus the leeway) or after maxAgeMs,
 * whichever is first, so a key removed from the JWKS stops being honoured within maxAgeMs. Keyed by the
 * full token: equal strings are the same signed bytes, so there is nothing to collide.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, { caller: Caller; until: number }>();

  constructor(
    private readonly maxEntries = 10_000,
    private readonly maxAgeMs = 60_000,
  ) {}

  /** The caller of a token verified before and not expired since. */
  get(token: string, now = Date.now()): Caller | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    if (entry.until <= now) {
      this.entries.delete(token);
      return undefined;
    }
    return entry.caller;
  }

  /** Remembers a verified token until `validUntilMs` at the latest. */
  set(token: string, caller: Caller, validUntilMs: number, now = Date.now()): void {
    // Map keeps insertion order: the first key is the oldest entry, evicted when full (bounded memory).
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(token, { caller, until: Math.min(validUntilMs, now + this.maxAgeMs) });
  }
}
