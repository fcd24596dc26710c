// A restart from a durable image (DESIGN §10): the tables and drives set as the last commit left
// them, before any actor starts. The cache is empty; locks have no holders. A session made durable
// after its switch comes back under N: its device's header holds the new generation, its PS and
// IND bits are the stored ones and PB is derived from them; the service processor then reopens it
// in every adapter and its instant split and data transfer resume. A session made durable only
// before its switch starts again under O: the bits it had set are cleared here.
import { parseConfig, type ArrayConfig } from '../shared/config/config.ts';
import { DURABLE_FLAGS, type DurableImage, type DurableStore } from '../shared/durable/durable.ts';
import { join } from 'node:path';
import type { Log } from '../shared/links/link.ts';
import { ArrayError } from '../shared/errors/errors.ts';
import { LmdbStore } from '../drives/durable-store.ts';
import { checkDriveModels } from '../drives/timing/timed-drive.ts';
import { assert } from '../shared/errors/assert.ts';
import { mediaOf } from '../shared/drive-states/drive-state.ts';
import { setSum } from '../shared/checksums/checksums.ts';
import { DEVICE, DRIVE_WORDS, IN_STORE, PHASE, TRACK, type SharedState } from '../shared/tables/memory.ts';
import type { ArrayModel } from '../shared/model/model.ts';
import { learnNewGeneration, Session } from '../shared/restripe/session.ts';
import { hasFlag, orPb, restoreFlagsWord, setDeviceWord } from '../shared/tables/tables.ts';

/** What a load put back. */
export interface Loaded {
  /** Tracks read at the restart: none (each is read in when first touched). */
  tracks: number;
  /** Sessions that come back under N (made durable after their switch). */
  underN: Session[];
  /** Sessions that start again under O. */
  again: number;
}

/**
 * A BCV that mirrored its device before the device's last reconfiguration (it has the old member
 * count) cannot be laid out on its own: it is left out. Its bytes were a point-in-time copy that the
 * next reconfiguration establishes anew, and that reconfiguration's target gives the BCV again with
 * the device's members (as any target must). A BCV an open session uses is kept.
 */
export function withoutStaleBcvs(
  cfg: ArrayConfig,
  inUse: Set<string> = new Set(),
  leftOut: (bcv: LeftOutBcv) => void = () => {},
): ArrayConfig {
  const stale = (d: ArrayConfig['devices'][number]) =>
    d.layout === 'bcv' &&
    !inUse.has(d.id) &&
    cfg.devices.find((x) => x.id === d.of && x.layout !== 'bcv')?.members.length !== d.members.length;
  const dropped = cfg.devices.filter(stale);
  if (dropped.length === 0) return cfg;
  for (const d of dropped)
    if (d.layout === 'bcv')
      leftOut({
        id: d.id,
        of: d.of,
        why: `it mirrored ${d.of} before its last reconfiguration; give it again in the next target`,
      });
  return parseConfig({ ...cfg, devices: cfg.devices.filter((d) => !stale(d)) });
}

/** A BCV a restart left out of the configuration it runs (withoutStaleBcvs), said in the log and in status. */
export interface LeftOutBcv {
  id: string;
  /** The device it mirrored. */
  of: string;
  why: string;
}

/** Put the image into the freshly made tables and drives of `state` (nothing runs yet). */
export function loadImage(state: SharedState, model: ArrayModel, image: DurableImage): Loaded {
  const underN = image.meta.sessions.filter((s) => s.stage === 'switched').map((s) => new Session(s.spec));
  restoreFlags(state, image, underN);
  restoreDrives(state, image);
  restoreSums(state, image);
  // No track is read here: each stays in the store until a drive first touches it (track-source.ts).
  for (const index of state.buffers.sparseIndex) {
    assert(index, 'a restart from a data dir on a drive that is not sparse (createSharedBuffers allSparse)');
    new Int32Array(index).fill(IN_STORE);
  }
  for (const s of underN) restoreSession(state, model, s);
  return { tracks: 0, underN, again: image.meta.sessions.length - underN.length };
}

/** Durable flags back; PS and IND of any session that does not come back under N cleared (it starts again). */
function restoreFlags(state: SharedState, image: DurableImage, underN: Session[]): void {
  const kept = new Set<number>();
  for (const s of underN) {
    for (let t = 0; t < s.O.tracks; t++) kept.add(s.O.locate(t));
    for (let t = 0; t < s.N.tracks; t++) kept.add(s.N.locate(t));
  }
  const flags = image.flags(state.totalTracks);
  for (let g = 0; g < state.totalTracks; g++) {
    let f = flags[g]! & DURABLE_FLAGS;
    if (!kept.has(g)) f &= ~(TRACK.PS | TRACK.IND);
    restoreFlagsWord(state, g, f);
  }
}

/**
 * The drives as the last commit left them (DESIGN §14): failed, spares, a rebuild's count, and each
 * position's media; a position a spare took over is served by the spare's adapter.
 */
function restoreDrives(state: SharedState, image: DurableImage): void {
  const words = image.driveWords();
  if (!words) return; // a store from before drive faults were durable: every drive as configured
  assert(
    words.length === state.driveState.length,
    () =>
      `durable drive words: ${words.length} stored, the array has ${state.driveState.length / DRIVE_WORDS} drives of ${DRIVE_WORDS}`,
  );
  state.driveState.set(words);
  for (let d = 0; d < state.driveOwner.length; d++) {
    const m = mediaOf(state, d);
    if (m !== d) state.driveOwner[d] = state.driveOwner[m]!;
  }
}

/** Each copy's checksum as committed with its bytes (checksums.ts); none where none is known. */
function restoreSums(state: SharedState, image: DurableImage): void {
  const { sums, known } = image.sums(state.totalTracks);
  for (let g = 0; g < state.totalTracks; g++) if (known[g]) setSum(state, g, sums[g]!);
}

/** A session under N: its headers, its PB column derived from PS and IND, and this thread's model told of N. */
function restoreSession(state: SharedState, model: ArrayModel, s: Session): void {
  const { spec } = s;
  if (s.B && spec.y >= 0) {
    for (let t = 0; t < s.oldTracks; t++) {
      const o = s.O.locate(t);
      const n = s.N.locate(t);
      const moving = hasFlag(state, o, TRACK.PS) || hasFlag(state, n, TRACK.PS) || hasFlag(state, n, TRACK.IND);
      if (moving) orPb(state, s.B.locate(t), 1 << spec.y);
    }
  }
  setDeviceWord(state, spec.deviceIndex, DEVICE.GENERATION, spec.newGen);
  setDeviceWord(state, spec.deviceIndex, DEVICE.READY, 1);
  setDeviceWord(state, spec.deviceIndex, DEVICE.SESSION, spec.y >= 0 ? spec.y + 1 : 0);
  setDeviceWord(state, spec.deviceIndex, DEVICE.PHASE, PHASE.TRANSFERRING);
  if (spec.bcvIndex !== undefined && spec.bcvId) {
    setDeviceWord(state, spec.bcvIndex, DEVICE.GENERATION, spec.newGen);
    setDeviceWord(state, spec.bcvIndex, DEVICE.READY, 0);
  }
  learnNewGeneration(model, s);
}

/** The data dir's image (if any) and the configuration to start: the image's, or `given` for a new array. */
export function readImage(
  given: ArrayConfig | undefined,
  durable: { dir?: string; store?: DurableStore } | undefined,
  log: Log,
): { reader?: DurableStore; image?: DurableImage; config: ArrayConfig; bcvsLeftOut: LeftOutBcv[] } {
  const reader = durable ? (durable.store ?? new LmdbStore(join(durable.dir!, 'store'))) : undefined;
  try {
    const image = reader?.load();
    if (!image && !given)
      throw new ArrayError('USAGE', `--data-dir ${durable?.dir ?? ''} holds no array yet: give --config`);
    const inUse = new Set((image?.meta.sessions ?? []).flatMap((s) => (s.spec.bcvId ? [s.spec.bcvId] : [])));
    const bcvsLeftOut: LeftOutBcv[] = [];
    const config = image
      ? withoutStaleBcvs(image.meta.running, inUse, (b) => {
          bcvsLeftOut.push(b);
          log('warn', `${b.id} left out: ${b.why}`);
        })
      : given!;
    checkDriveModels(config); // a drive too large for its timing model is refused before anything starts
    return { reader, image, config, bcvsLeftOut };
  } catch (err) {
    if (!durable?.store) reader?.close();
    throw err;
  }
}
