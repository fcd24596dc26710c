// A scrub (DESIGN §14), driven from the main thread: drive position by position, the disk adapter
// serving it reads every copy there and compares its checksum with its track's (disk-adapter/scrub.ts).
// Then, per track: a copy whose checksum differs, or that fails with a media error, is a mismatch
// (md's mismatch_cnt). Where a copy verifies (its checksum, or, a track with none known, the copies'
// majority, M1 on a tie), each bad copy is marked stale and rewritten from a good one through the
// cache, by the rebuild's own path; where none does, the track is unrecoverable and marked LOST, so
// its reads fail naming it instead of serving garbage. Throttled as the background copy, pausable
// between positions, one at a time.
import { TRACK } from '../shared/memory.ts';
import { copyServesRead, markStale } from '../shared/drive-state.ts';
import { ArrayError, errorMessage } from '../shared/errors.ts';
import { loadWord } from '../shared/words.ts';
import type { ScrubPart } from '../disk-adapter/scrub.ts';
import type { RebuildContext } from './rebuild-run.ts';

/** Repair rounds (rewrite, destage) a scrub runs at most: each rewrites every bad copy whose source is readable. */
const REPAIR_ROUNDS = 8;
/** Unrecoverable tracks a scrub names (the rest are counted). */
const LOST_NAMED = 16;
/** Scrubs remembered (the oldest ended one is forgotten past this). */
const SCRUBS_KEPT = 32;

export type ScrubState = 'running' | 'paused' | 'done' | 'failed';

export interface ScrubView {
  id: number;
  device: string | null;
  state: ScrubState;
  /** Drive positions scrubbed, of how many. */
  positionsDone: number;
  positionsTotal: number;
  tracksChecked: number;
  /** Copies not looked at now: a write pending in cache, a restripe moving them, a drive failed or being rebuilt. */
  skipped: number;
  mismatches: number;
  repaired: number;
  unrecoverable: number;
  /** The first LOST_NAMED unrecoverable tracks ([DCH] of their M1 location), marked lost. */
  lost: string[];
  startedMs: number;
  endedMs?: number;
  error?: string;
}

/** What a scrub drives: the same as a rebuild (the adapters as they are now, each asked in its successor if replaced). */
export type ScrubContext = RebuildContext;

export class Scrubs {
  private readonly views: ScrubView[] = [];
  private nextId = 1;
  private readonly resumers = new Map<number, () => void>();

  constructor(private readonly ctx: () => ScrubContext) {}

  /** Start a scrub of every device, or of `device`; refused while another runs. */
  start(device?: string): ScrubView {
    const { model } = this.ctx();
    if (device !== undefined && !model.findDevice(device))
      throw new ArrayError('UNKNOWN_DEVICE', `device: unknown device "${device}"`);
    const busy = this.views.find((v) => v.state === 'running' || v.state === 'paused');
    if (busy) throw new ArrayError('BUSY', `scrub ${busy.id} is ${busy.state}: one scrub at a time`);
    const view: ScrubView = {
      ...{ id: this.nextId++, device: device ?? null, state: 'running' as ScrubState },
      ...{ positionsDone: 0, positionsTotal: model.drives.ids.length, tracksChecked: 0, skipped: 0 },
      ...{ mismatches: 0, repaired: 0, unrecoverable: 0, lost: [] as string[], startedMs: Date.now() },
    };
    this.views.push(view);
    if (this.views.length > SCRUBS_KEPT)
      this.views.splice(
        this.views.findIndex((v) => v.endedMs !== undefined),
        1,
      );
    const ran = this.run(view).then(
      () => this.ended(view, 'done'),
      (err) => this.ended(view, 'failed', errorMessage(err)),
    );
    this.runs.set(view.id, ran);
    void ran.finally(() => this.runs.delete(view.id));
    return view;
  }
  private readonly runs = new Map<number, Promise<void>>();

  /** Resolves with scrub `id`'s view once it has ended (at once if it has, or is unknown). */
  async whenEnded(id: number): Promise<ScrubView | undefined> {
    await this.runs.get(id);
    return this.get(id);
  }

  /**
   * A restripe of `device` completed: scrub it (ZFS's zfs_scrub_after_expand), now or, while another
   * scrub runs, once it ends (each device waits once however many restripes end meanwhile).
   */
  afterRestripe(device: string): void {
    if (this.views.some((v) => v.state === 'running' || v.state === 'paused')) this.waiting.add(device);
    else this.start(device);
  }
  private readonly waiting = new Set<string>();

  get(id: number): ScrubView | undefined {
    return this.views.find((v) => v.id === id);
  }

  list(): ScrubView[] {
    return [...this.views];
  }

  /** Scrub `view` ended: logged, and told to listeners. */
  private ended(view: ScrubView, state: 'done' | 'failed', error?: string): void {
    view.state = state;
    view.endedMs = Date.now();
    if (error) view.error = error;
    const { log, emit } = this.ctx();
    log(
      state === 'done' && view.unrecoverable === 0 ? 'info' : 'error',
      `scrub ${view.id}${view.device ? ` of ${view.device}` : ''} ${state}: ${view.tracksChecked} copies checked, ${view.mismatches} mismatches, ${view.repaired} repaired, ${view.unrecoverable} unrecoverable${error ? ` (${error})` : ''}`,
    );
    emit?.('scrubbed', { ...view });
    const next = this.waiting.values().next();
    if (!next.done) {
      this.waiting.delete(next.value);
      this.start(next.value);
    }
  }

  pause(id: number): ScrubView {
    const v = this.running(id);
    v.state = 'paused';
    return v;
  }

  resume(id: number): ScrubView {
    const v = this.running(id);
    v.state = 'running';
    this.resumers.get(id)?.();
    return v;
  }

  private running(id: number): ScrubView {
    const v = this.get(id);
    if (!v) throw new ArrayError('USAGE', `no scrub ${id}`);
    if (v.state !== 'running' && v.state !== 'paused')
      throw new ArrayError('BUSY', `scrub ${id} has ended (${v.state})`);
    return v;
  }

  private async run(view: ScrubView): Promise<void> {
    const { model } = this.ctx();
    const found = new Map<number, { bad: Set<number>; sums: Map<number, number> }>(); // by track (M1 location)
    for (let d = 0; d < model.drives.ids.length; d++) {
      if (view.state === 'paused') await new Promise<void>((r) => this.resumers.set(view.id, r));
      this.resumers.delete(view.id);
      const part = await this.scrubPosition(d, view.device ?? undefined);
      view.positionsDone++;
      view.tracksChecked += part.checked;
      view.skipped += part.skipped;
      // (Each copy's track as its adapter knows it: the main thread's layouts may be a step apart.)
      for (let i = 0; i + 1 < part.bad.length; i += 2) entry(found, part.bad[i + 1]!).bad.add(part.bad[i]!);
      for (let i = 0; i + 2 < part.unsummed.length; i += 3)
        entry(found, part.unsummed[i + 1]!).sums.set(part.unsummed[i]!, part.unsummed[i + 2]!);
    }
    const marked = this.judge(view, found);
    await this.repair(marked);
    const { state } = this.ctx();
    view.repaired = marked.filter((g) => !state.flag(g, TRACK.STALE)).length;
  }

  /** Ask the adapter serving position d to scrub it. */
  private async scrubPosition(d: number, device?: string): Promise<ScrubPart> {
    const { state, diskAdapters } = this.ctx();
    const da = diskAdapters()[loadWord(state.driveOwner, d)];
    if (!da) throw new ArrayError('ADAPTER_GONE', `no disk adapter serves drive position ${d}`);
    return (await da.call('scrub', device === undefined ? [d] : [d, device])) as ScrubPart;
  }

  /** Count the mismatches; mark each bad copy stale where a good copy exists (returned), the track LOST where none does. */
  private judge(view: ScrubView, found: Map<number, { bad: Set<number>; sums: Map<number, number> }>): number[] {
    const { model, state } = this.ctx();
    const marked: number[] = [];
    for (const [owner, f] of found) {
      for (const g of outvoted(owner, f.sums)) f.bad.add(g);
      if (f.bad.size === 0) continue;
      view.mismatches += f.bad.size;
      const good = model.copiesOf(owner).filter((x) => !f.bad.has(x) && copyServesRead(state, model.drives, x));
      if (good.length === 0) {
        view.unrecoverable++;
        if (view.lost.length < LOST_NAMED) view.lost.push(model.drives.dch(owner));
        state.setFlag(owner, TRACK.LOST);
        continue;
      }
      for (const g of f.bad) {
        markStale(state, g);
        marked.push(g);
      }
    }
    return marked;
  }

  /** Rewrite the stale-marked copies from good ones (the rebuild's path), bounded by REPAIR_ROUNDS. */
  private async repair(marked: number[]): Promise<void> {
    const { model, state, diskAdapters } = this.ctx();
    const positions = [...new Set(marked.map((g) => model.drives.driveOf(g)))];
    for (let round = 0; round < REPAIR_ROUNDS && marked.some((g) => state.flag(g, TRACK.STALE)); round++) {
      for (const d of positions) await Promise.all(diskAdapters().map((a) => a.call('rebuild', [d])));
      await Promise.all(diskAdapters().map((a) => a.call('flush', [])));
    }
  }
}

function entry<T extends { bad: Set<number>; sums: Map<number, number> }>(m: Map<number, T>, owner: number): T {
  let e = m.get(owner);
  if (!e) m.set(owner, (e = { bad: new Set(), sums: new Map() } as T));
  return e;
}

/** Of a track with no checksum known, its copies that disagree with the majority (M1's wins a tie). */
function outvoted(owner: number, sums: Map<number, number>): number[] {
  if (sums.size < 2) return [];
  const votes = new Map<number, number>();
  for (const s of sums.values()) votes.set(s, (votes.get(s) ?? 0) + 1);
  const top = Math.max(...votes.values());
  const winners = [...votes].filter(([, n]) => n === top).map(([s]) => s);
  const wins = winners.length === 1 || !sums.has(owner) ? winners[0]! : sums.get(owner)!;
  return [...sums].filter(([, s]) => s !== wins).map(([g]) => g);
}
