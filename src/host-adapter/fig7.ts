// FIG. 7 on demand: a host request for logical track t of a device under a session locks n = N(t),
// splits it if PS[n], and if IND[n] hands the fill of t to the adapter owning B(t) ("disconnect"),
// taking the request back when it answers ("reconnect"); and the count of which of the four
// scenarios each request met.
import type { ArrayModel } from '../shared/model/model.ts';
import { NO_SLOT, TRACK, splitCursorWord, type SharedState } from '../shared/tables/memory.ts';
import type { Session } from '../shared/restripe/session.ts';
import { scenarioOf, splitHoldingBcv, type Scenario } from '../shared/restripe/split.ts';
import { lockTrack, unlockTrack } from '../shared/tables/track-lock.ts';
import { assert } from '../shared/errors/assert.ts';
import { hasFlag, splitCursorOf } from '../shared/tables/tables.ts';

/** What FIG. 7 uses of its host adapter. */
export interface Fig7Context {
  readonly name: string;
  readonly model: ArrayModel;
  readonly state: SharedState;
  readonly sessions: Map<number, Session>;
  /** Per session id: how many host requests met scenario 1..4 (index 0 unused). */
  readonly scenarios: Map<number, number[]>;
  /** Every session's together since the adapter started (index 0 unused): its status for live views. */
  readonly scenarioTotals: number[];
  /** Ask the adapter owning B(t) to fill track t; resolves when it has. */
  requestFill(session: Session, t: number): Promise<void>;
  /** Slot s holds data pending for location g. */
  hint(g: number, s: number): void;
}

/**
 * The I/O request handler of FIG. 7 for logical track t at n = N(t): lock n; if PS[n], split(n);
 * if IND[n], hand the request to the adapter owning B(t) ("disconnect"), which fills t, and take
 * it back when it answers ("reconnect"). Returns with n locked, PS and IND clear.
 */
export async function ioRequestHandler(
  ctx: Fig7Context,
  session: Session,
  t: number,
  n: number,
  count: boolean,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    assert(
      attempt < 3,
      () =>
        `${ctx.name}: track ${t} at ${session.drives.dch(n)} still IND after ${attempt} fills (${ctx.state.describeTrack(n)})`,
    );
    await lockTrack(ctx.state, n);
    // The session may have closed while this request waited: its bits are all clear then, and
    // PS set now belongs to the next session's preparation (host I/O is plain until its switch).
    if (!ctx.sessions.has(session.spec.sid)) return;
    try {
      if (count && attempt === 0) countScenario(ctx, session, t);
      if (hasFlag(ctx.state, n, TRACK.PS)) {
        const { movedSlot, bcvTrack } = await splitHoldingBcv(ctx.state, session, n);
        // Every copy of the BCV track (a mirrored BCV's too) is pending from the moved slot.
        if (movedSlot !== NO_SLOT) ctx.model.copiesOf(bcvTrack).forEach((x) => ctx.hint(x, movedSlot));
      }
    } catch (err) {
      unlockTrack(ctx.state, n);
      throw err;
    }
    if (!hasFlag(ctx.state, n, TRACK.IND)) return;
    unlockTrack(ctx.state, n);
    assert(t < session.oldTracks, () => `${ctx.name}: IND set on new host track ${t} at ${session.drives.dch(n)}`);
    await ctx.requestFill(session, t);
  }
}

/** Count which of FIG. 7's four scenarios a host request on track t met (the session's report). */
export function countScenario(ctx: Fig7Context, session: Session, t: number): void {
  const passed = (g: number) =>
    splitCursorOf(ctx.state, splitCursorWord(session.y, ctx.model.adapterOfTrack(g, ctx.state.driveOwner))) > g;
  const counts = ctx.scenarios.get(session.spec.sid);
  if (!counts) return; // the session closed while this request was under way: nothing left to meet
  const sc: Scenario = scenarioOf(ctx.state, session, t, passed);
  counts[sc]!++;
  ctx.scenarioTotals[sc]!++;
}
