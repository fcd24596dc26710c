// `--ui ADDR` for the embedded runs (run, demo): the live view served while the run runs. The run
// waits for a page to open it (at most UI_WAIT_MS) so nothing happens unseen.
import type { ArrayEmulator } from '../runtime/emulator.ts';
import type { Progress, ReconfReport } from '../shared/restripe/report.ts';
import { startEmbeddedView, type EmbeddedView } from '../serve/ui/embedded.ts';

/** Longest a run with --ui waits for a page before it starts anyway (ms). */
export const UI_WAIT_MS = 60_000;

export async function openView(emu: ArrayEmulator, listen: string): Promise<EmbeddedView> {
  const view = await startEmbeddedView(emu, listen, () => emu.model.config);
  process.stderr.write(`live view: ${view.url} — the run starts once a page opens it (or in ${UI_WAIT_MS / 1000} s)\n`);
  const watched = await view.watched(UI_WAIT_MS);
  if (!watched) process.stderr.write('live view: no page opened it; running anyway\n');
  return view;
}

/** The view of `emu` on `listen` if given (the array stopped if it cannot be served). */
export async function maybeView(emu: ArrayEmulator, listen: string | undefined): Promise<EmbeddedView | undefined> {
  if (listen === undefined) return undefined;
  try {
    return await openView(emu, listen);
  } catch (err) {
    await emu.stop();
    throw err;
  }
}

/** A run's progress and reports, to its progress line and to its view (if any). */
export function toProgressAndView(
  progress: { update(p: Progress): void; done(r: ReconfReport): void },
  view: EmbeddedView | undefined,
): { onProgress: (p: Progress) => void; onReport: (r: ReconfReport) => void } {
  return {
    onProgress: (p) => {
      progress.update(p);
      view?.jobs.progress(p);
    },
    onReport: (r) => {
      progress.done(r);
      view?.jobs.ended(r.device, r);
    },
  };
}
