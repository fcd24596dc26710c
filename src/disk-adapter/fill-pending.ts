// A fill's data on its way to every copy (R3, DESIGN §10 and §14). A fill that goes through the
// cache clears IND[n] at once and sets FILLPEND on n: the durable store keeps IND[n] set while
// FILLPEND is, so a restart fills n again from the BCV. Each copy of n (M1 and each mirror's) is
// marked FILLCOPY with it; the write of a copy (or its drop, its drive having failed) clears its
// mark, and the last one clears FILLPEND. A later host write to n does not hold FILLPEND: the copy it
// rewrites was written once since the fill already, or is written with newer data. Every writer of
// a copy of n holds n's lock, so the check of the other copies' marks sees them all.
import { TRACK, wpOfMirror, type SharedState } from '../shared/tables/memory.ts';
import type { ArrayModel } from '../shared/model/model.ts';
import { clearFlag, hasFlag, setFlag } from '../shared/tables/tables.ts';

/**
 * Fill of M1 location n through the cache, whose slot's state is `slotState`: every copy of n still
 * pending in it (WPk) waits for its write. Marked before FILLPEND is set; false if none is pending.
 */
export function markFillCopies(state: SharedState, model: ArrayModel, n: number, slotState: number): boolean {
  let marked = false;
  model.copiesOf(n).forEach((g, i) => {
    if (!(slotState & wpOfMirror(i + 1))) return;
    setFlag(state, g, TRACK.FILLCOPY);
    marked = true;
  });
  return marked;
}

/** Copy location g was written (or dropped): its fill mark goes, and its track's FILLPEND with the last one. */
export function fillCopyWritten(state: SharedState, model: ArrayModel, g: number): void {
  if (!hasFlag(state, g, TRACK.FILLCOPY)) return;
  clearFlag(state, g, TRACK.FILLCOPY);
  const owner = model.ownerOfCopy(g);
  if (model.copiesOf(owner).some((c) => hasFlag(state, c, TRACK.FILLCOPY))) return;
  clearFlag(state, owner, TRACK.FILLPEND); // (kept as IND: marks its chunk first, durable.ts)
}
