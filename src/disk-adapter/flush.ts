// A FLUSH at a disk adapter (DESIGN §10): destage what the slots write-pending when the FLUSH came to
// its host adapter (the list it sends: every write acknowledged before it) owe this adapter's drives,
// and nothing written after, so a FLUSH ends under any write load; the cache is not scanned again. Each duty bit owed at arrival is done once it has been written by this flush
// or seen clear (some destage wrote the slot since, with the data the FLUSH covers in it). A slot
// whose duty moved to another adapter (a split hands it to the BCV track's) is that adapter's; the
// host adapter's FLUSH (host-adapter/durable-flush.ts) asks every adapter a second time if a slot
// pending at the start still is.
import { NO_TRACK, SLOT, WPK_ALL } from '../shared/tables/memory.ts';
import { ArrayError } from '../shared/errors/errors.ts';
import { assert } from '../shared/errors/assert.ts';
import { nextTurn, sched, sleep } from '../shared/sched/sched.ts';
import { SLOT_WAIT_MS } from '../shared/tables/cache.ts';
import { slotOwnerOf, slotStateOf } from '../shared/tables/tables.ts';
import { DEFERRED_RETRY_MS, pendingSlots, slotDuty, type DutyContext } from './duty.ts';

/** Retries of a flush's pass at the next turn before it waits DEFERRED_RETRY_MS between them. */
const TURN_RETRIES = 8;

/**
 * Destage each duty owed at the call (slot → its WPk bits then) until each is written or seen clear,
 * bounded by SLOT_WAIT_MS. `slots` are the candidates (a FLUSH's list; without one, every slot
 * write-pending now: a rebuild's or a scrub's flush). `destage` is the adapter's destage of one duty
 * of a slot (false: nothing written now, a lock busy or no room: tried again shortly).
 */
export async function flushOwed(
  ctx: DutyContext,
  destage: (s: number) => Promise<boolean>,
  name: string,
  slots?: readonly number[],
): Promise<void> {
  const owed = new Map<number, number>();
  for (const s of slots ?? pendingSlots(ctx)) {
    assert(
      s >= 0 && s < ctx.state.slots,
      () => `${name}: flush names slot ${s}, outside the cache's ${ctx.state.slots}`,
    );
    const bits = dutyBits(ctx, s);
    if (bits !== 0) owed.set(s, bits);
  }
  const deadline = sched().now() + SLOT_WAIT_MS;
  let tries = 0;
  while (owed.size > 0) {
    for (const [s, bits] of owed) {
      const left = stillOwed(ctx, s, bits);
      if (left === 0) {
        owed.delete(s);
        continue;
      }
      const duty = slotDuty(ctx, slotOwnerOf(ctx.state, s), slotStateOf(ctx.state, s));
      // A duty written now holds every write before it: the bit this flush owed is done.
      if (duty && (await destage(s))) owed.set(s, left & ~(duty.split ? SLOT.WP1 : duty.wp));
      else owed.set(s, left);
    }
    if (owed.size === 0) return;
    if (sched().now() > deadline)
      throw new ArrayError(
        'TIMEOUT',
        `${name}: flush: ${owed.size} slots still owe writes made before it after ${SLOT_WAIT_MS} ms`,
      );
    // A slot locked by its holder (often this adapter's own destager, the flush having hurried it,
    // whose write ends within a turn or two), or no room yet: tried again at the next turn a few
    // times, then after DEFERRED_RETRY_MS (a ms a try was most of a FLUSH's time at queue depth 1).
    if (++tries <= TURN_RETRIES) await nextTurn();
    else await sleep(DEFERRED_RETRY_MS);
  }
}

/** The bits of `bits` slot s still owes this adapter: those it owes now (a bit clear was destaged since). */
const stillOwed = (ctx: DutyContext, s: number, bits: number): number => bits & dutyBits(ctx, s);

/** Duty bits a slot has at most (WP1-4, WPB1-4). */
const DUTY_BITS_MAX = 8;

/** Every WPk bit of slot s whose copy this adapter writes (slotDuty names the first; the rest are found by masking it out). */
function dutyBits(ctx: DutyContext, s: number): number {
  const owner = slotOwnerOf(ctx.state, s);
  if (owner === NO_TRACK) return 0;
  const st = slotStateOf(ctx.state, s) & WPK_ALL;
  let bits = 0;
  for (let i = 0; i < DUTY_BITS_MAX; i++) {
    const duty = slotDuty(ctx, owner, st & ~bits);
    if (!duty) break;
    bits |= duty.split ? SLOT.WP1 : duty.wp;
  }
  return bits;
}
