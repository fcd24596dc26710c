// The tables' door (src/shared/tables/tables.ts) asserts the flags word's own invariant at every
// write: PS and IND never both (DESIGN §3). A write that would break it stops its actor loudly, with
// the track and its bits; the legal transitions of a split and a restart pass.
import { describe, expect, it } from 'vitest';
import { createSharedBuffers, SharedState, TRACK } from '../../src/shared/tables/memory.ts';
import { casFlags, clearFlag, flagsOf, restoreFlagsWord, setFlag } from '../../src/shared/tables/tables.ts';
import { small } from '../support/helpers.ts';

describe('the flags word invariant at the tables door', () => {
  const state = () => new SharedState(createSharedBuffers(small('fig2', 8)));

  it('a split swapping PS for IND, and IND set where no PS is, pass', () => {
    const st = state();
    setFlag(st, 3, TRACK.PS);
    expect(casFlags(st, 3, TRACK.PS, TRACK.IND)).toBe(TRACK.PS);
    expect(flagsOf(st, 3)).toBe(TRACK.IND);
    clearFlag(st, 3, TRACK.IND);
    restoreFlagsWord(st, 4, TRACK.PS | TRACK.FMT);
    expect(flagsOf(st, 4)).toBe(TRACK.PS | TRACK.FMT);
  });

  it('IND set on a track with PS stops the writer, naming the track and its bits', () => {
    const st = state();
    setFlag(st, 5, TRACK.PS);
    expect(() => setFlag(st, 5, TRACK.IND)).toThrow(/track 5: PS and IND both set \(PS\|IND\)/);
    expect(() => casFlags(st, 6, 0, TRACK.PS | TRACK.IND)).toThrow(/a flags swap of track 6: PS and IND both set/);
    expect(() => restoreFlagsWord(st, 7, TRACK.PS | TRACK.IND)).toThrow(/restored flags word of track 7/);
    expect(flagsOf(st, 6)).toBe(0); // a swap is checked before it is made
  });
});
