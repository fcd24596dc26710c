// What a read miss stages (DESIGN §2, config `cache.stage`): the sectors asked for on a random
// miss, the whole track for a sequential stream. A host adapter follows the last few reads' ends
// on each device; a read that starts where one ended continues a stream. Bounded: a device keeps
// STREAMS_PER_DEVICE ends, the oldest forgotten first.

/** Read streams followed per device (the ends of the last reads that started none). */
export const STREAMS_PER_DEVICE = 8;

export class ReadStreams {
  /** Per device index: the end (byte offset) of each stream followed, the most recent last. */
  private readonly ends = new Map<number, number[]>();

  /** `partial`: random misses stage only what they read; `track`: every miss stages its whole track. */
  constructor(private readonly policy: 'partial' | 'track') {}

  /**
   * Note a read of [offsetBytes, offsetBytes + lengthBytes) on device `device`: true if it is staged
   * whole-track (the policy says so, or it continues one of the device's streams).
   */
  wholeTracks(device: number, offsetBytes: number, lengthBytes: number): boolean {
    if (this.policy === 'track') return true;
    let ends = this.ends.get(device);
    if (!ends) this.ends.set(device, (ends = []));
    const i = ends.indexOf(offsetBytes);
    if (i >= 0) ends.splice(i, 1);
    else if (ends.length >= STREAMS_PER_DEVICE) ends.shift();
    ends.push(offsetBytes + lengthBytes);
    return i >= 0;
  }
}
