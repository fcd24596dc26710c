// The durable store of a data dir: an LMDB environment (the `lmdb` package: copy-on-write B-trees,
// each commit one atomic transaction synced before it returns, nothing to replay after a crash).
// Keys: "meta" (the service processor's record, JSON), ["t", g] (drive track g's bytes; absent
// means zeros), ["f", chunk] (FLAG_CHUNK_TRACKS durable flag words), ["s", chunk] (as many copies'
// checksums, then whether each is known), "drives" (every drive's words, drive-state.ts). What goes in, and why in that
// order, is shared/durable.ts.
import { open, type Database, type RootDatabase } from 'lmdb';
import { mkdirSync } from 'node:fs';
import { ArrayError, errorMessage } from '../shared/errors.ts';
import {
  checkMeta,
  FLAG_CHUNK_TRACKS,
  sumsOf,
  type DurableCommit,
  type DurableImage,
  type DurableMeta,
  type DurableStore,
} from '../shared/durable.ts';

const META_KEY = 'meta';
const TRACK = 't';
const FLAGS = 'f';
const DRIVES_KEY = 'drives';
/** The number of the last commit (meta.commits), 4 bytes: a reader checks its snapshot holds the commit it needs. */
const COMMIT_KEY = 'n';
const SUMS = 's';
const KEY_END = Number.MAX_SAFE_INTEGER;

export class LmdbStore implements DurableStore {
  private readonly db: RootDatabase<Buffer, string | [string, number]>;

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
    const db = this.db as Database<Buffer, [string, number]>;
    return {
      meta,
      track: (g) => this.track(g),
      *tracks() {
        for (const { key, value } of db.getRange({ start: [TRACK, -1], end: [TRACK, KEY_END] }))
          yield [key[1], new Uint8Array(value)];
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
    const read = () => {
      const v = (this.db as Database<Buffer, [string, number]>).get([TRACK, g]);
      return v ? new Uint8Array(v) : null;
    };
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
    this.db.transactionSync(() => {
      for (const [g, data] of c.tracks) {
        if (data) void this.db.put([TRACK, g], Buffer.from(data.buffer, data.byteOffset, data.byteLength));
        else void this.db.remove([TRACK, g]);
      }
      for (const [i, words] of c.flagChunks)
        void this.db.put([FLAGS, i], Buffer.from(words.buffer, words.byteOffset, words.byteLength));
      for (const [i, words] of c.sumChunks)
        void this.db.put([SUMS, i], Buffer.from(words.buffer, words.byteOffset, words.byteLength));
      const w = c.driveWords;
      void this.db.put(DRIVES_KEY, Buffer.from(w.buffer, w.byteOffset, w.byteLength));
      void this.db.put(META_KEY, Buffer.from(JSON.stringify(c.meta)));
      const n = Buffer.alloc(4);
      n.writeInt32LE(c.meta.commits, 0);
      void this.db.put(COMMIT_KEY, n);
    });
  }

  close(): void {
    void this.db.close();
  }
}
