// The RECONF steps the service processor has asked of the adapters and waits for: each keyed by
// (session, step), done when every adapter asked has answered `done`, failed on the first error or
// after STEP_WAIT_MS. A replaced adapter is asked again for what its predecessor had not answered
// (every step is idempotent: it works from the shared tables).
import type { Message, ReconfStep } from '../shared/links/messages.ts';
import { PendingRequests } from '../shared/links/pending.ts';
import { ArrayError } from '../shared/errors/errors.ts';

/** Longest any step of a session may wait for the adapters. */
export const STEP_WAIT_MS = 600_000;

type Done = Extract<Message, { t: 'done' }>;

/** A step's wait: by session and step, and the attempt where a step is asked again (a late answer to an earlier one is not this one's). */
const keyOf = (sid: number, step: ReconfStep, attempt?: number) => `${sid}:${step}${attempt ? `#${attempt}` : ''}`;

/** What a step's wait carries: who has still to answer, what each answered, and the message (sent again to a replacement). */
interface StepWait {
  expect: Set<string>;
  infos: Map<string, Record<string, number>>;
  msg: Message;
}

export class StepWaits {
  private readonly waits = new PendingRequests<void, StepWait>(false); // by `${sid}:${step}`; its timer keeps nothing alive

  /** Send `msg` to `actors` (through `send`) and wait until each answers `done` for (sid, step); their infos. */
  async ask(
    actors: string[],
    sid: number,
    step: ReconfStep,
    msg: Message,
    send: (actor: string) => void,
  ): Promise<Map<string, Record<string, number>>> {
    const infos = new Map<string, Record<string, number>>();
    if (actors.length === 0) return infos;
    const expect = new Set(actors);
    const timeout = () =>
      new ArrayError(
        'TIMEOUT',
        `session ${sid}: ${step} not done by ${[...expect].join(', ')} within ${STEP_WAIT_MS} ms`,
      );
    const attempt = 'attempt' in msg ? msg.attempt : undefined;
    const done = this.waits.wait(keyOf(sid, step, attempt), STEP_WAIT_MS, timeout, { expect, infos, msg });
    for (const a of actors) send(a);
    await done;
    return infos;
  }

  /** An adapter's `done` for a step: the step completes with the last adapter's, fails with an error. */
  answer(m: Done): void {
    const key = keyOf(m.sid, m.step, m.attempt);
    const w = this.waits.extra(key);
    if (!w) return;
    if (m.error) {
      const code = m.driveFault ? 'DRIVE_FAULT' : 'ADAPTER_GONE';
      this.waits.settle(key, new ArrayError(code, `${m.actor}: ${m.step} of session ${m.sid} failed: ${m.error}`));
      return;
    }
    w.expect.delete(m.actor);
    w.infos.set(m.actor, m.info ?? {});
    if (w.expect.size === 0) this.waits.settle(key, undefined);
  }

  /** The steps `actor` has not answered: their keys and the messages to ask its replacement again. */
  unanswered(actor: string): Array<{ key: string; msg: Message }> {
    return this.waits
      .waiting()
      .filter(([, w]) => w.expect.has(actor))
      .map(([key, w]) => ({ key: String(key), msg: w.msg }));
  }
}
