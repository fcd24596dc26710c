// A synthetic "measured" trace for testing the replay pipeline: a drive model serves a random
// workload one request at a time with random think times, and its response times are written as
// an MSR Cambridge CSV (100 ns ticks). Replaying it closed-loop on the same model must give the
// same response times (demerit ~0); on another drive, not.
import { HddModel } from '../src/drives/timing/hdd-model.ts';
import { hddPreset } from '../src/drives/timing/drive-spec.ts';
import { mulberry32 } from '../src/shared/sched/sched.ts';

const TICKS_PER_MS = 10_000;
/** Requests stay within the first 2 GB (4 M blocks): the trace fits every preset drive (the Barracuda holds 2.2 GB). */
const SPAN_BLOCKS = 4_000_000;

export function synthesizeMsrTrace(preset: string, requests: number, seed: number): string {
  const model = new HddModel(hddPreset(preset));
  const r = mulberry32(seed);
  const lines: string[] = [];
  let arrival = 0;
  let free = 0;
  const start = 128_166_372_000_000_000; // a Windows file time, as MSR traces carry
  for (let i = 0; i < requests; i++) {
    const blocks = [8, 16, 32, 128][Math.floor(r() * 4)]!;
    const seq = r() < 0.3 && i > 0;
    const lbn = seq
      ? Math.floor(r() * 1000) * 8
      : Math.floor(r() * (Math.min(model.mech.totalBlocks, SPAN_BLOCKS) - blocks));
    const write = r() < 0.3;
    // As a drive does (and replay models): the write cache destages while nothing waits.
    while (model.writeBehind.length > 0 && free < arrival) free = model.destageOne(free)!.freeMs;
    const s = model.serve({ id: i, lbn, blocks, write }, Math.max(free, arrival));
    free = s.freeMs;
    const response = s.doneMs - arrival;
    const ticks = (ms: number) => Math.round(ms * TICKS_PER_MS);
    lines.push(
      [start + ticks(arrival), 'synth', 0, write ? 'Write' : 'Read', lbn * 512, blocks * 512, ticks(response)].join(
        ',',
      ),
    );
    arrival = s.doneMs + -Math.log(1 - r()) * 5; // think: exponential, mean 5 ms
  }
  return `${lines.join('\n')}\n`;
}
