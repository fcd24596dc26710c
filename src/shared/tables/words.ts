// Shared words that are not the array's tables — a workload's control words, a drive store's
// sparse index and owner word, the hooks' test words — each access one Atomics operation. Code
// outside the tables room uses these (or tables.ts) and never Atomics itself (`npm run lint`).
export const loadWord = (a: Int32Array, i: number): number => Atomics.load(a, i);
export const storeWord = (a: Int32Array, i: number, v: number): number => Atomics.store(a, i, v);
export const addWord = (a: Int32Array, i: number, n: number): number => Atomics.add(a, i, n);
export const orWord = (a: Int32Array, i: number, bits: number): number => Atomics.or(a, i, bits);
export const andWord = (a: Int32Array, i: number, bits: number): number => Atomics.and(a, i, bits);
export const exchangeWord = (a: Int32Array, i: number, v: number): number => Atomics.exchange(a, i, v);
export const casWord = (a: Int32Array, i: number, from: number, to: number): number =>
  Atomics.compareExchange(a, i, from, to);
/** Wake up to `count` waiters on word i (default: all). */
export const notifyWord = (a: Int32Array, i: number, count?: number): number => Atomics.notify(a, i, count);
