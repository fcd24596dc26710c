// The service processor's thread runs ahead of the others for a core (DESIGN §3, "The switch
// without a drain"). Its host-blocked window costs tens of microseconds of its CPU, but on a machine
// with fewer cores than busy threads a window that finds the thread preempted lasts as long as the
// thread waits in the run queue (measured with /proc/thread-self/schedstat: 0.3-1.4 ms of windows of
// 0.6-1.7 ms). Linux keeps a nice value per thread, so raising this one thread's leaves the host
// adapters, disk adapters and the load beside them as they were.
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { errorMessage } from '../shared/errors/errors.ts';

/** The nice value the service processor's thread asks for (-20 highest … 19 lowest; 0 is every thread's default). */
export const SP_THREAD_NICE = -10;
/** Environment variable that sets another nice value for the service processor's thread (an integer -20..19). */
export const SP_NICE_ENV = 'ARRAYEMU_SP_NICE';
const NICE_MIN = -20;
const NICE_MAX = 19;

export interface ThreadPriority {
  /** The thread's kernel id, or undefined where the platform shows none (not Linux). */
  tid?: number;
  /** The nice value the thread runs at now. */
  nice: number;
  /** Why it runs at another value than was asked for (none: it got it). */
  refused?: string;
}

/** This thread's kernel id on Linux (`/proc/thread-self` links to `<pid>/task/<tid>`), else undefined. */
export function threadId(): number | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').at(-1));
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

/** The nice value the service processor's thread should ask for: `ARRAYEMU_SP_NICE` if set and valid, else SP_THREAD_NICE. */
export function spNiceWanted(env: NodeJS.ProcessEnv = process.env): { nice: number; problem?: string } {
  const raw = env[SP_NICE_ENV];
  if (raw === undefined || raw.trim() === '') return { nice: SP_THREAD_NICE };
  const nice = Number(raw);
  if (Number.isInteger(nice) && nice >= NICE_MIN && nice <= NICE_MAX) return { nice };
  return {
    nice: SP_THREAD_NICE,
    problem: `${SP_NICE_ENV}=${JSON.stringify(raw)} is not an integer from ${NICE_MIN} to ${NICE_MAX}; using ${SP_THREAD_NICE}`,
  };
}

/**
 * Ask that this thread (only this one) run at nice `nice`. Raising a priority (a value below the
 * thread's now) needs CAP_SYS_NICE or an RLIMIT_NICE that allows it; refused, the thread keeps its
 * value and `refused` says why — the array runs the same, its switch window more exposed to the load.
 */
export function setThisThreadNice(nice: number): ThreadPriority {
  const tid = threadId();
  if (tid === undefined) return { nice: 0, refused: 'no per-thread priority on this platform' };
  try {
    setPriority(tid, nice);
  } catch (err) {
    return { tid, nice: getPriority(tid), refused: errorMessage(err) };
  }
  const now = getPriority(tid);
  return now === nice ? { tid, nice: now } : { tid, nice: now, refused: `asked ${nice}, the kernel gave ${now}` };
}
