// A latency histogram cheap enough to keep per request: bucket i counts latencies in
// [2^(i-1), 2^i) µs (bucket 0: under 1 µs; the last: everything longer). Its counts only grow, so two
// snapshots' difference is the histogram of what happened between them (the live view's p50/p99).

/** Buckets: up to 2^(LATENCY_BUCKETS-2) µs ≈ 537 s in the last bounded one. */
export const LATENCY_BUCKETS = 32;

export function newLatencyBuckets(): number[] {
  return new Array<number>(LATENCY_BUCKETS).fill(0);
}

/** Count one latency of `ms` milliseconds. */
export function recordLatency(hist: number[], ms: number): void {
  const us = ms * 1000;
  const i = us < 1 ? 0 : Math.min(LATENCY_BUCKETS - 1, Math.floor(Math.log2(us)) + 1);
  hist[i]!++;
}

/** What `now` counted since `before` (the same histogram later, bucket by bucket). */
export function latencyDelta(now: readonly number[], before: readonly number[] | undefined): number[] {
  return now.map((n, i) => n - (before?.[i] ?? 0));
}

/**
 * The latency (ms) below which a fraction `q` of the counted ones fall: the upper edge of the bucket
 * holding it (a bound within a factor of 2); null when nothing was counted.
 */
export function latencyQuantileMs(hist: readonly number[], q: number): number | null {
  const total = hist.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i]!;
    if (seen >= rank) return 2 ** i / 1000;
  }
  return 2 ** (hist.length - 1) / 1000;
}
