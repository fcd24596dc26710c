// A host's FLUSH at its host adapter (DESIGN §10, R4): every write acknowledged before it destaged by
// the disk adapters, then one commit asked of the service processor, and only then the answer. The
// FLUSH goes from where the request arrives (the NBD server in this adapter's thread) to the disk
// adapters and the service processor: no hop through the main thread.
import type { Link } from '../shared/links/link.ts';
import type { Message } from '../shared/links/messages.ts';
import { SLOT, type SharedState } from '../shared/tables/memory.ts';
import { ArrayError } from '../shared/errors/errors.ts';
import { PendingRequests } from '../shared/links/pending.ts';
import { slotStateOf } from '../shared/tables/tables.ts';
import { ADAPTER_WAIT_MS } from './da-requests.ts';

/** Asks the service processor for a commit and waits for it (bounded by ADAPTER_WAIT_MS). */
export class CommitAsker {
  private sp?: Link;
  private nextId = 1;
  private readonly waiting = new PendingRequests<void, undefined>();

  attach(link: Link): void {
    this.sp = link;
  }

  /** A commit of what the drives hold now; at once without a service processor (an adapter tested alone). */
  commit(): Promise<void> {
    if (!this.sp) return Promise.resolve();
    const id = this.nextId++;
    const timeout = () =>
      new ArrayError('TIMEOUT', `FLUSH: the service processor made no commit within ${ADAPTER_WAIT_MS} ms`);
    const done = this.waiting.wait(id, ADAPTER_WAIT_MS, timeout, undefined);
    this.sp.send({ t: 'commit-wanted', id });
    return done;
  }

  /** The service processor's answer; false if `m` is not one. */
  answer(m: Message): boolean {
    if (m.t !== 'committed') return false;
    this.waiting.settle(m.id, m.error ? new ArrayError('STORE_FAILED', m.error) : undefined);
    return true;
  }
}

/**
 * The FLUSH: the slots write-pending now (every write acknowledged before it set WP on its slot before
 * its answer) — the one scan of the cache a FLUSH makes — sent to the disk adapters of their copies
 * (every one while a session is open or a slot owes a BCV) to destage what each owes; once more, to
 * every adapter, if one of them still is (its duty had moved to another adapter meanwhile, a split,
 * after that adapter had passed it); then the commit. TEST ONLY: FLUSH_WITHOUT_COMMIT answers
 * before the commit (R4 broken, for the crash harness to catch).
 */
export async function durableFlush(
  state: SharedState,
  destage: (slots: number[], everyAdapter: boolean) => Promise<void>,
  asker: CommitAsker,
): Promise<void> {
  const before: number[] = [];
  for (let s = 0; s < state.slots; s++) if (slotStateOf(state, s) & SLOT.WP) before.push(s);
  await destage(before, false); // the adapters of these slots' copies (all of them while a session is open)
  const still = before.filter((s) => slotStateOf(state, s) & SLOT.WP);
  if (still.length > 0) await destage(still, true);
  if (!state.hooks.testFault('FLUSH_WITHOUT_COMMIT')) await asker.commit();
}
