// The RECONF steps the service processor has asked of the adapters and waits for: each keyed by
// (session, step), done when every adapter asked has answered `done`, failed on the first error or
// after STEP_WAIT_MS. A replaced adapter is asked again for what its predecessor had not answered
// (every step is idempotent: it works from the shared tables).
import type { Message, ReconfStep } from '../shared/messages.ts';
import { sched } from '../shared/sched.ts';
import { ArrayError } from '../shared/errors.ts';

/** Longest any step of a session may wait for the adapters. */
export const STEP_WAIT_MS = 600_000;

type Done = Extract<Message, { t: 'done' }>;

interface StepWait {
  expect: Set<string>;
  infos: Map<string, Record<string, number>>;
  resolve: () => void;
  reject: (e: Error) => void;
  /** The step's message: sent again to an adapter that is replaced before it answers. */
  msg: Message;
}

export class StepWaits {
  private readonly waits = new Map<string, StepWait>(); // `${sid}:${step}`

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
    const key = `${sid}:${step}`;
    const done = new Promise<void>((resolve, reject) => {
      const timer = sched().after(
        STEP_WAIT_MS,
        () => {
          const late = [...(this.waits.get(key)?.expect ?? [])].join(', ');
          this.waits.delete(key);
          reject(new ArrayError('TIMEOUT', `session ${sid}: ${step} not done by ${late} within ${STEP_WAIT_MS} ms`));
        },
        false,
      );
      this.waits.set(key, {
        expect: new Set(actors),
        infos,
        resolve: () => (timer.cancel(), resolve()),
        reject: (e) => (timer.cancel(), reject(e)),
        msg,
      });
    });
    for (const a of actors) send(a);
    await done;
    return infos;
  }

  /** An adapter's `done` for a step: the step completes with the last adapter's, fails with an error. */
  answer(m: Done): void {
    const key = `${m.sid}:${m.step}`;
    const w = this.waits.get(key);
    if (!w) return;
    if (m.error) {
      this.waits.delete(key);
      w.reject(new ArrayError('ADAPTER_GONE', `${m.actor}: ${m.step} of session ${m.sid} failed: ${m.error}`));
      return;
    }
    w.expect.delete(m.actor);
    w.infos.set(m.actor, m.info ?? {});
    if (w.expect.size === 0) {
      this.waits.delete(key);
      w.resolve();
    }
  }

  /** The steps `actor` has not answered: their keys and the messages to ask its replacement again. */
  unanswered(actor: string): Array<{ key: string; msg: Message }> {
    return [...this.waits.entries()].filter(([, w]) => w.expect.has(actor)).map(([key, w]) => ({ key, msg: w.msg }));
  }
}
