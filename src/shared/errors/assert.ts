import { InvariantError } from './errors.ts';

/** Assert an invariant. The message must name the track, slot or bits involved. */
export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new InvariantError(typeof message === 'string' ? message : message());
}

export function bits(value: number, names: Record<string, number>): string {
  const set = Object.entries(names)
    .filter(([, bit]) => (value & bit) !== 0)
    .map(([name]) => name);
  return set.length === 0 ? '-' : set.join('|');
}
