// A scrub (DESIGN §14), driven from the main thread: drive position by position, the disk adapter
// serving it reads every copy there and compares its bytes with its own checksum (disk-adapter/scrub.ts).
// Then, per track: a copy whose bytes differ from its checksum, or that fails with a media error, is
// a mismatch (md's mismatch_cnt), and so is a copy that differs from the track's other copies (the
// copies whose checksums verify win over those with none known, then the majority, then M1). Where
// a good copy is left, each bad copy is marked stale and rewritten from one through the cache, by the
// rebuild's own path; where none is, the track is unrecoverable and marked LOST, so its reads fail
// naming it instead of serving garbage. Throttled as the background copy, pausable between
// positions, one at a time. With a data dir its progress is durable after every position (the
// service processor's record): a restart goes on from the next position, with the bad copies
// found so far (the comparison of copies with each other covers the positions read since).
import { TRACK } from '../shared/tables/memory.ts';
import { copyServesRead, markStale } from '../shared/drive-states/drive-state.ts';
import { ArrayError, errorMessage } from '../shared/errors/errors.ts';
import { loadWord } from '../shared/tables/words.ts';
import type { ScrubPart } from '../disk-adapter/scrub.ts';
import type { RebuildContext } from './rebuild-run.ts';
import type { ScrubRecord } from '../shared/durable/durable.ts';
import { hasFlag, setFlag } from '../shared/tables/tables.ts';

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
  /** Copies read whose bytes matched their own checksum (the others read had none known). */
  verified: number;
  /** Copies not looked at now: a write pending in cache, a restripe moving them, a drive failed or being rebuilt. */
  skipped: number;
  mismatches: number;
  /** Of the mismatches: copies whose bytes differ from their own checksum, or that fail with a media error. */
  corrupt: number;
  /** Of the mismatches: copies that verify (or have no checksum) but differ from the track's winning copies. */
  differing: number;
  repaired: number;
  unrecoverable: number;
  /** The first LOST_NAMED unrecoverable tracks ([DCH] of their M1 location), marked lost. */
  lost: string[];
  startedMs: number;
  endedMs?: number;
  error?: string;
}

/**
 * What a scrub drives: the same as a rebuild (the adapters as they are now, each asked in its
 * successor if replaced), and where its progress is made durable (a data dir's record; null: it ended).
 */
export type ScrubContext = RebuildContext & { persist?: (record: ScrubRecord | null) => Promise<unknown> };

/** Per track (M1 location): its copies found bad, and every other copy read with its bytes' checksum. */
type Found = Map<number, { bad: Set<number>; read: Map<number, { sum: number; own: boolean }> }>;

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
      ...{ positionsDone: 0, positionsTotal: model.drives.ids.length, tracksChecked: 0, verified: 0, skipped: 0 },
      ...{ mismatches: 0, corrupt: 0, differing: 0, repaired: 0, unrecoverable: 0 },
      ...{ lost: [] as string[], startedMs: Date.now() },
    };
    return this.launch(view, new Map());
  }

  /** At a restart: go on with the scrub the data dir's record says was running, from its next position. */
  resumeFrom(r: ScrubRecord): ScrubView {
    const { model, log } = this.ctx();
    const view: ScrubView = {
      ...{ id: r.id, device: r.device, state: 'running' as ScrubState, positionsDone: r.positionsDone },
      ...{ positionsTotal: model.drives.ids.length, tracksChecked: r.tracksChecked, verified: 0, skipped: r.skipped },
      ...{ mismatches: 0, corrupt: 0, differing: 0, repaired: 0, unrecoverable: 0 },
      ...{ lost: [] as string[], startedMs: r.startedMs },
    };
    this.nextId = Math.max(this.nextId, r.id + 1);
    const found: Found = new Map();
    for (let i = 0; i + 1 < r.bad.length; i += 2) entry(found, r.bad[i + 1]!).bad.add(r.bad[i]!);
    log(
      'warn',
      `taking up scrub ${r.id} where the data dir left it: position ${r.positionsDone} of ${view.positionsTotal}`,
    );
    return this.launch(view, found);
  }

  private launch(view: ScrubView, found: Found): ScrubView {
    this.views.push(view);
    if (this.views.length > SCRUBS_KEPT)
      this.views.splice(
        this.views.findIndex((v) => v.endedMs !== undefined),
        1,
      );
    const ran = this.run(view, found).then(
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

  private async run(view: ScrubView, found: Found): Promise<void> {
    const { model, persist } = this.ctx();
    for (let d = view.positionsDone; d < model.drives.ids.length; d++) {
      if (view.state === 'paused') await new Promise<void>((r) => this.resumers.set(view.id, r));
      this.resumers.delete(view.id);
      const part = await this.scrubPosition(d, view.device ?? undefined);
      view.positionsDone++;
      view.tracksChecked += part.checked;
      view.skipped += part.skipped;
      // (Each copy's track as its adapter knows it: the main thread's layouts may be a step apart.)
      for (let i = 0; i + 1 < part.bad.length; i += 2) entry(found, part.bad[i + 1]!).bad.add(part.bad[i]!);
      for (let i = 0; i + 3 < part.read.length; i += 4) {
        entry(found, part.read[i + 1]!).read.set(part.read[i]!, {
          sum: part.read[i + 2]!,
          own: part.read[i + 3] === 1,
        });
        view.verified += part.read[i + 3]!;
      }
      await persist?.(recordOf(view, found));
    }
    const marked = this.judge(view, found);
    await this.repair(marked); // (STALE is durable: a restart takes up a repair cut short, as a rebuild)
    await persist?.(null);
    const { state } = this.ctx();
    view.repaired = marked.filter((g) => !hasFlag(state, g, TRACK.STALE)).length;
  }

  /** Ask the adapter serving position d to scrub it. */
  private async scrubPosition(d: number, device?: string): Promise<ScrubPart> {
    const { state, diskAdapters } = this.ctx();
    const da = diskAdapters()[loadWord(state.driveOwner, d)];
    if (!da) throw new ArrayError('ADAPTER_GONE', `no disk adapter serves drive position ${d}`);
    return (await da.call('scrub', device === undefined ? [d] : [d, device])) as ScrubPart;
  }

  /** Count the mismatches; mark each bad copy stale where a good copy exists (returned), the track LOST where none does. */
  private judge(view: ScrubView, found: Found): number[] {
    const { model, state } = this.ctx();
    const marked: number[] = [];
    for (const [owner, f] of found) {
      const corrupt = f.bad.size;
      for (const g of outvoted(owner, f.read)) f.bad.add(g);
      view.corrupt += corrupt;
      view.differing += f.bad.size - corrupt;
      if (f.bad.size === 0) continue;
      view.mismatches += f.bad.size;
      const good = model.copiesOf(owner).filter((x) => !f.bad.has(x) && copyServesRead(state, model.drives, x));
      if (good.length === 0) {
        view.unrecoverable++;
        if (view.lost.length < LOST_NAMED) view.lost.push(model.drives.dch(owner));
        setFlag(state, owner, TRACK.LOST);
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
    for (let round = 0; round < REPAIR_ROUNDS && marked.some((g) => hasFlag(state, g, TRACK.STALE)); round++) {
      for (const d of positions) await Promise.all(diskAdapters().map((a) => a.call('rebuild', [d])));
      await Promise.all(diskAdapters().map((a) => a.call('flush', [])));
    }
  }
}

function entry(m: Found, owner: number): NonNullable<ReturnType<Found['get']>> {
  let e = m.get(owner);
  if (!e) m.set(owner, (e = { bad: new Set(), read: new Map() }));
  return e;
}

/** What a restart needs to go on with scrub `view`: where it is, and the bad copies found so far. */
function recordOf(view: ScrubView, found: Found): ScrubRecord {
  const bad: number[] = [];
  for (const [owner, f] of found) for (const g of f.bad) bad.push(g, owner);
  return {
    ...{ id: view.id, device: view.device, positionsDone: view.positionsDone },
    ...{ tracksChecked: view.tracksChecked, skipped: view.skipped, bad, startedMs: view.startedMs },
  };
}

/**
 * Of a track's copies read (none bad by its own checksum), those that differ from the winning bytes:
 * the checksum most copies whose own checksum verified hold, then the one most copies hold, then M1's.
 */
function outvoted(owner: number, read: Map<number, { sum: number; own: boolean }>): number[] {
  if (read.size < 2) return [];
  const votes = new Map<number, { verified: number; all: number; m1: boolean }>();
  for (const [g, r] of read) {
    const v = votes.get(r.sum) ?? { verified: 0, all: 0, m1: false };
    votes.set(r.sum, { verified: v.verified + (r.own ? 1 : 0), all: v.all + 1, m1: v.m1 || g === owner });
  }
  if (votes.size < 2) return [];
  const rank = (v: { verified: number; all: number; m1: boolean }) => v.verified * 1e6 + v.all * 2 + (v.m1 ? 1 : 0);
  const wins = [...votes].reduce((a, b) => (rank(b[1]) > rank(a[1]) ? b : a))[0];
  return [...read].filter(([, r]) => r.sum !== wins).map(([g]) => g);
}
