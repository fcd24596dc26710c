// Progress of a reconfiguration on the terminal: a live bar on a TTY (tracks moved / total, rate,
// ETA), plain lines otherwise (at most one a second), nothing in --json mode off a TTY.
import cliProgress from 'cli-progress';
import type { Progress, ReconfReport } from '../shared/restripe/report.ts';

export interface ProgressReporter {
  update(p: Progress): void;
  done(r: ReconfReport): void;
  stop(): void;
}

const PLAIN_EVERY_MS = 1000;

export function progressReporter(json: boolean): ProgressReporter {
  const tty = process.stderr.isTTY === true;
  if (json && !tty) return { update: () => {}, done: () => {}, stop: () => {} };
  if (tty) {
    let bar: cliProgress.SingleBar | undefined;
    let device = '';
    return {
      update(p) {
        if (!bar || device !== p.device) {
          bar?.stop();
          device = p.device;
          bar = new cliProgress.SingleBar(
            {
              format: `restripe ${p.device} [{bar}] {value}/{total} tracks | {rate} tracks/s | ETA {eta_formatted}`,
              stream: process.stderr,
              hideCursor: true,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(p.tracksTotal, 0, { rate: '0' });
        }
        const started = (bar as unknown as { startTime: number }).startTime ?? Date.now();
        const rate = p.tracksMoved / Math.max(0.001, (Date.now() - started) / 1000);
        bar.update(p.tracksMoved, { rate: rate.toFixed(0) });
      },
      done() {
        bar?.stop();
        bar = undefined;
      },
      stop() {
        bar?.stop();
      },
    };
  }
  let last = 0;
  let t0 = 0; // when the current restripe's first progress came
  return {
    update(p) {
      const now = Date.now();
      if (t0 === 0) t0 = now;
      if (now - last < PLAIN_EVERY_MS && p.tracksMoved < p.tracksTotal) return;
      last = now;
      const rate = p.tracksMoved / Math.max(0.001, (now - t0) / 1000);
      const eta = rate > 0 ? ((p.tracksTotal - p.tracksMoved) / rate).toFixed(1) : '?';
      process.stderr.write(
        `restripe ${p.device}: ${p.tracksMoved}/${p.tracksTotal} tracks, ${rate.toFixed(0)} tracks/s, ETA ${eta} s\n`,
      );
    },
    done(r) {
      t0 = 0;
      process.stderr.write(
        `restripe ${r.device}: ${r.kind} complete in ${r.durationMs} ms (host blocked ${r.hostBlockedMs} ms)\n`,
      );
    },
    stop() {},
  };
}
