// `serve --data-dir D`: the array's bytes and its running configuration kept in D across restarts.
// Each drive is a sparse file D/drives/<id>.img (a track of zeros is a hole); D/config.json is the
// running configuration, rewritten after each reconfiguration. The drives are read in before any
// host is served and written out after the cache is destaged at shutdown; D/INCOMPLETE marks a
// directory whose server stopped in the middle of a reconfiguration.
import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig, type ArrayConfig } from '../shared/config.ts';
import { ArrayError, errorMessage } from '../shared/errors.ts';
import { NO_CHUNK, TRACK } from '../shared/memory.ts';
import { driveStore, type Drive } from '../disk-adapter/drive.ts';
import type { ArrayEmulator } from '../runtime/emulator.ts';

const CONFIG_FILE = 'config.json';
const INCOMPLETE_FILE = 'INCOMPLETE';
const DRIVES_DIR = 'drives';

/** The running configuration: D's own if it has one (it was running there), else `given`, written into D. */
export function openDataDir(dir: string, given: ArrayConfig | undefined): { config: ArrayConfig; fromDir: boolean } {
  mkdirSync(join(dir, DRIVES_DIR), { recursive: true });
  const incomplete = join(dir, INCOMPLETE_FILE);
  if (existsSync(incomplete)) throw new ArrayError('USAGE', `--data-dir ${dir}: ${readFileSync(incomplete, 'utf8').trim()} (delete ${incomplete} to serve it anyway)`);
  const file = join(dir, CONFIG_FILE);
  if (existsSync(file)) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ArrayError('USAGE', `--data-dir ${dir}: ${CONFIG_FILE} is not JSON (${errorMessage(err)})`);
    }
    return { config: withoutStaleBcvs(parseConfig(raw, { restored: true })), fromDir: true };
  }
  if (!given) throw new ArrayError('USAGE', `--data-dir ${dir} holds no configuration yet: give --config`);
  saveConfig(dir, given);
  return { config: given, fromDir: false };
}

/**
 * A BCV that mirrored its device before the device's last reconfiguration (it has the old member
 * count) cannot be laid out on its own: it is left out. Its bytes were a point-in-time copy that the
 * next reconfiguration establishes anew, and that reconfiguration's target gives the BCV again with
 * the device's members (as any target must).
 */
export function withoutStaleBcvs(cfg: ArrayConfig, log: (line: string) => void = () => {}): ArrayConfig {
  const stale = (d: ArrayConfig['devices'][number]) => d.layout === 'bcv' && cfg.devices.find((x) => x.id === d.of && x.layout !== 'bcv')?.members.length !== d.members.length;
  const dropped = cfg.devices.filter(stale);
  if (dropped.length === 0) return cfg;
  for (const d of dropped) log(`${d.id} left out: it mirrored ${d.layout === 'bcv' ? d.of : ''} before its last reconfiguration; give it again in the next target`);
  return parseConfig({ ...cfg, devices: cfg.devices.filter((d) => !stale(d)) });
}

/** Write the running configuration atomically (a new file renamed over the old). */
export function saveConfig(dir: string, config: ArrayConfig): void {
  const tmp = join(dir, `${CONFIG_FILE}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`);
  renameSync(tmp, join(dir, CONFIG_FILE));
}

export function markIncomplete(dir: string, why: string): void {
  writeFileSync(join(dir, INCOMPLETE_FILE), `${why}\n`);
}

export function clearIncomplete(dir: string): void {
  rmSync(join(dir, INCOMPLETE_FILE), { force: true });
}

/** Each drive's store, as seen from this thread (as its own adapter: the stores check who writes). */
function stores(emu: ArrayEmulator): Array<{ store: Drive; sparse?: Int32Array }> {
  return emu.model.drives.ids.map((id, d) => {
    const index = emu.state.buffers.sparseIndex[d];
    return { store: driveStore(emu.state, id, d, emu.state.driveOwner[d]!), sparse: index ? new Int32Array(index) : undefined };
  });
}

const driveFile = (dir: string, id: string) => join(dir, DRIVES_DIR, `${id}.img`);
const allZero = (b: Uint8Array) => b.every((x) => x === 0);

/** Read every drive file of D into the drives (before any host is served); returns the tracks read. */
export async function loadDrives(emu: ArrayEmulator, dir: string): Promise<number> {
  const buf = new Uint8Array(emu.state.trackBytes);
  let n = 0;
  for (const { store } of stores(emu)) {
    const file = driveFile(dir, store.id);
    if (!existsSync(file)) continue;
    const fd = openSync(file, 'r');
    try {
      for (let t = 0; t < store.tracks; t++) {
        const got = readSync(fd, buf, 0, buf.length, t * buf.length);
        if (got === 0) break;
        if (got < buf.length) buf.fill(0, got);
        if (allZero(buf)) continue;
        await store.writeTrack(t, buf);
        n++;
      }
    } finally {
      closeSync(fd);
    }
  }
  return n;
}

/** Write every drive out to D (after the cache is destaged), each a sparse file, synced. Returns the tracks written. */
export async function saveDrives(emu: ArrayEmulator, dir: string): Promise<number> {
  const buf = new Uint8Array(emu.state.trackBytes);
  let n = 0;
  for (const [d, { store, sparse }] of stores(emu).entries()) {
    const base = emu.model.drives.baseTrack[d]!;
    const tmp = `${driveFile(dir, store.id)}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      ftruncateSync(fd, store.tracks * buf.length);
      for (let t = 0; t < store.tracks; t++) {
        if (sparse && Atomics.load(sparse, t) === NO_CHUNK) continue; // never written: a hole
        if (emu.state.flag(base + t, TRACK.FMT)) continue; // formatted: it reads as zeros, whatever the drive holds
        await store.readTrack(t, buf);
        if (allZero(buf)) continue;
        writeSync(fd, buf, 0, buf.length, t * buf.length);
        n++;
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, driveFile(dir, store.id));
  }
  return n;
}
