// The durable store of a data dir: an LMDB environment (the `lmdb` package: copy-on-write B-trees,
// each commit one atomic transaction synced before it returns, nothing to replay after a crash).
// Keys: "meta" (the service processor's record, JSON), ["t", g] (drive track g whole, as a commit
// that wrote every page of it left it) and over it ["p", g, i] (page i of track g, shared/tables/dirty.ts
// pageBytesOf, as a commit of some pages left it; absent: the whole track's, or zeros), ["f", chunk] (FLAG_CHUNK_TRACKS durable flag words), ["s", chunk] (as many copies'
// checksums, then whether each is known), "drives" (every drive's words, drive-state.ts). What goes in, and why in that
// order, is shared/durable/durable.ts.
import { open, type Database, type RootDatabase } from 'lmdb';
import { mkdirSync } from 'node:fs';
import { ArrayError, errorMessage } from '../shared/errors/errors.ts';
import { allPages, pageBytesOf, pagesOf } from '../shared/tables/dirty.ts';
import {
  checkMeta,
  FLAG_CHUNK_TRACKS,
  sumsOf,
  type DurableCommit,
  type DurableImage,
  type DurableMeta,
  type DurableStore,
} from '../shared/durable/durable.ts';

const META_KEY = 'meta';
const PAGE = 'p';
const TRACK = 't';
const FLAGS = 'f';
const DRIVES_KEY = 'drives';
/** The number of the last commit (meta.commits), 4 bytes: a reader checks its snapshot holds the commit it needs. */
const COMMIT_KEY = 'n';
const SUMS = 's';
const KEY_END = Number.MAX_SAFE_INTEGER;

export class LmdbStore implements DurableStore {
  private readonly db: RootDatabase<Buffer, string | [string, number] | [string, number, number]>;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    try {
      // Synced commits (noSync false, no overlapping sync): a commit that returned survives kill -9 and power loss.
      this.db = open({ path: dir, encoding: 'binary', noSync: false, overlappingSync: false, compression: false });
    } catch (err) {
      throw new ArrayError('USAGE', `data dir store ${dir} cannot be opened: ${errorMessage(err)}`);
    }
  }

  load(): DurableImage | undefined {
    const raw = this.db.get(META_KEY);
    if (!raw) return undefined;
    let meta: DurableMeta;
    try {
      meta = JSON.parse(Buffer.from(raw).toString('utf8')) as DurableMeta;
    } catch (err) {
      throw new ArrayError('USAGE', `data dir store ${this.dir}: its record is not JSON (${errorMessage(err)})`);
    }
    checkMeta(meta, `data dir store ${this.dir}`);
    meta.commits = Math.max(meta.commits, this.commitNumber()); // (the record is rewritten only when it changes)
    const db = this.db as Database<Buffer, [string, number]>;
    const pages = this.db as Database<Buffer, [string, number, number]>;
    return {
      meta,
      track: (g) => this.track(g),
      *tracks() {
        const stored = new Set<number>();
        for (const key of db.getKeys({ start: [TRACK, -1], end: [TRACK, KEY_END] })) stored.add(key[1]);
        for (const key of pages.getKeys({ start: [PAGE, -1, 0], end: [PAGE, KEY_END, 0] })) stored.add(key[1]);
        for (const g of [...stored].sort((a, b) => a - b)) {
          const bytes = pagesRead(pages, g, trackBytesOf(meta));
          if (bytes) yield [g, bytes];
        }
      },
      flags(total) {
        const out = new Int32Array(total);
        for (const { key, value } of db.getRange({ start: [FLAGS, -1], end: [FLAGS, KEY_END] })) {
          const words = new Int32Array(new Uint8Array(value).slice().buffer);
          const base = key[1] * FLAG_CHUNK_TRACKS;
          out.set(words.subarray(0, Math.max(0, Math.min(words.length, total - base))), base);
        }
        return out;
      },
      sums: (total) => {
        const chunks: Array<[number, Int32Array]> = [];
        for (const { key, value } of db.getRange({ start: [SUMS, -1], end: [SUMS, KEY_END] }))
          chunks.push([key[1], new Int32Array(new Uint8Array(value).slice().buffer)]);
        return sumsOf(chunks, total);
      },
      driveWords: () => {
        const raw = this.db.get(DRIVES_KEY);
        return raw ? new Int32Array(new Uint8Array(raw).slice().buffer) : undefined;
      },
    };
  }

  /**
   * Global track g's committed bytes (null: zeros), from commit `atLeast` or a later one. lmdb reads
   * in a snapshot it keeps for the rest of the event turn (and, measured, even a reset read
   * transaction may miss another thread's commit made within the turn), so the snapshot's commit
   * number is checked, and one too old is read again inside a write transaction, which sees every commit.
   */
  track(g: number, atLeast = 0): Uint8Array | null {
    const read = () => pagesRead(this.db as Database<Buffer, [string, number, number]>, g, this.trackBytes());
    if (atLeast === 0) return read();
    this.db.resetReadTxn();
    const bytes = read();
    if (this.commitNumber() >= atLeast) return bytes; // (the same snapshot: same turn, no write between)
    this.staleReads++;
    return this.db.transactionSync(read);
  }

  /** Reads whose snapshot predated the commit they needed (read again in a write transaction). */
  staleReads = 0;

  /** The number of the last commit in this thread's snapshot (0: none recorded). */
  private commitNumber(): number {
    const raw = this.db.get(COMMIT_KEY);
    return raw ? Buffer.from(raw).readInt32LE(0) : 0;
  }

  commit(c: DurableCommit): void {
    this.trackBytesKnown = trackBytesOf(c.meta);
    // The drive words and the record only when they changed (the commit number is its own key): a
    // FLUSH after one write then writes its pages, a flag and a checksum chunk, and four bytes.
    const drives = Buffer.from(c.driveWords.buffer, c.driveWords.byteOffset, c.driveWords.byteLength);
    const newDrives = !this.lastDrives?.equals(drives);
    const record = JSON.stringify({ ...c.meta, commits: 0 });
    const newRecord = record !== this.lastRecord;
    this.db.transactionSync(() => {
      for (const [g, data, mask] of c.tracks) this.putPages(g, data, mask);
      for (const [i, words] of c.flagChunks)
        void this.db.put([FLAGS, i], Buffer.from(words.buffer, words.byteOffset, words.byteLength));
      for (const [i, words] of c.sumChunks)
        void this.db.put([SUMS, i], Buffer.from(words.buffer, words.byteOffset, words.byteLength));
      if (newDrives) void this.db.put(DRIVES_KEY, drives);
      if (newRecord) void this.db.put(META_KEY, Buffer.from(JSON.stringify(c.meta)));
      const n = Buffer.alloc(4);
      n.writeInt32LE(c.meta.commits, 0);
      void this.db.put(COMMIT_KEY, n);
    });
    // Only once the commit is on stable storage (a failed one wrote nothing: the next writes them).
    this.lastDrives = Buffer.from(drives);
    this.lastRecord = record;
  }

  /**
   * The pages `mask` names of track g from `data` (null: the whole track is zeros). A track written
   * whole is one value (a bulk commit puts one key a track, not one a page) and its pages' keys go;
   * a page written over a whole track's value is its own key, zeros included; with no whole value
   * under it, a page of zeros is removed (absent reads as zeros).
   */
  private putPages(g: number, data: Uint8Array | null, mask: number): void {
    const trackBytes = this.trackBytesKnown;
    const pages = this.db as Database<Buffer, [string, number, number]>;
    if (!data || mask === allPages(trackBytes)) {
      for (const key of pages.getKeys({ start: [PAGE, g, 0], end: [PAGE, g, KEY_END] })) void this.db.remove(key);
      if (data?.some((x) => x !== 0))
        void this.db.put([TRACK, g], Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      else void this.db.remove([TRACK, g]);
      return;
    }
    const over = this.db.doesExist([TRACK, g]);
    const p = pageBytesOf(trackBytes);
    for (let i = 0; i < pagesOf(trackBytes); i++) {
      if (!(mask & (1 << i))) continue;
      const page = data.subarray(i * p, Math.min(trackBytes, (i + 1) * p));
      if (over || page.some((x) => x !== 0))
        void this.db.put([PAGE, g, i], Buffer.from(page.buffer, page.byteOffset, page.byteLength));
      else void this.db.remove([PAGE, g, i]);
    }
  }

  /** The drive words and the record (its commit number left out) this store last wrote. */
  private lastDrives?: Buffer;
  private lastRecord?: string;

  /** The array's track size: from the last record committed or read (each commit's record names it). */
  private trackBytesKnown = 0;
  private trackBytes(): number {
    if (this.trackBytesKnown === 0) {
      const raw = this.db.get(META_KEY);
      if (raw) this.trackBytesKnown = trackBytesOf(JSON.parse(Buffer.from(raw).toString('utf8')) as DurableMeta);
    }
    return this.trackBytesKnown;
  }

  close(): void {
    void this.db.close();
  }
}

/** The track size of the array a record describes. */
const trackBytesOf = (meta: DurableMeta): number => meta.running.geometry.trackBytes;

/** Track g: its whole value with its stored pages over it (null: neither stored, zeros). */
function pagesRead(db: Database<Buffer, [string, number, number]>, g: number, trackBytes: number): Uint8Array | null {
  const whole = (db as unknown as Database<Buffer, [string, number]>).get([TRACK, g]);
  let out: Uint8Array | null = whole ? new Uint8Array(whole).slice() : null;
  const p = pageBytesOf(trackBytes);
  for (const { key, value } of db.getRange({ start: [PAGE, g, 0], end: [PAGE, g, KEY_END] })) {
    out ??= new Uint8Array(trackBytes);
    out.set(new Uint8Array(value), key[2] * p);
  }
  return out;
}
