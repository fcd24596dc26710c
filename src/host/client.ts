// A host's connection to a host adapter: read/write/flush as promises over a Link, many requests
// in flight, batched per event-loop turn by the link.
import type { Link } from '../shared/link.ts';
import type { IoReply, IoRequest } from '../shared/messages.ts';
import { ArrayError, type ErrorCode } from '../shared/errors.ts';

/** Most requests one client keeps in flight. */
export const CLIENT_INFLIGHT_LIMIT = 4096;
/** Longest a host waits for one reply before it fails the request. */
export const REPLY_WAIT_MS = 60_000;

interface Pending {
  resolve: (r: IoReply) => void;
  timer: NodeJS.Timeout;
}

export class HostClient {
  private readonly link: Link;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(link: Link) {
    this.link = link;
    link.onMessages((msgs) => {
      for (const m of msgs) {
        if (m.t !== 'io-done') continue;
        for (const r of m.replies) {
          const p = this.pending.get(r.id);
          if (!p) continue;
          this.pending.delete(r.id);
          clearTimeout(p.timer);
          p.resolve(r);
        }
      }
    });
  }

  get inflight(): number {
    return this.pending.size;
  }

  private call(req: Omit<IoRequest, 'id'>): Promise<IoReply> {
    if (this.pending.size >= CLIENT_INFLIGHT_LIMIT) {
      return Promise.reject(new ArrayError('TIMEOUT', `host client: ${CLIENT_INFLIGHT_LIMIT} requests already in flight`));
    }
    const id = this.nextId++;
    return new Promise<IoReply>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve({ id, ok: false, code: 'TIMEOUT', error: `${req.op} ${req.device}@${req.offsetBytes}: no reply from ${this.link.peer} within ${REPLY_WAIT_MS} ms` });
      }, REPLY_WAIT_MS);
      this.pending.set(id, { resolve, timer });
      this.link.send({ t: 'io', reqs: [{ ...req, id }] });
    });
  }

  private static check(r: IoReply): IoReply {
    if (!r.ok) throw new ArrayError((r.code as ErrorCode) ?? 'ADAPTER_GONE', r.error ?? 'request failed');
    return r;
  }

  async read(device: string, offsetBytes: number, lengthBytes: number): Promise<Uint8Array> {
    const r = HostClient.check(await this.call({ op: 'read', device, offsetBytes, lengthBytes }));
    return r.data ?? new Uint8Array(0);
  }

  async write(device: string, offsetBytes: number, data: Uint8Array): Promise<void> {
    HostClient.check(await this.call({ op: 'write', device, offsetBytes, lengthBytes: data.length, data }));
  }

  async flush(): Promise<void> {
    HostClient.check(await this.call({ op: 'flush', device: '', offsetBytes: 0, lengthBytes: 0 }));
  }

  close(): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.resolve({ id, ok: false, code: 'ADAPTER_GONE', error: 'host client closed' });
    }
    this.pending.clear();
    this.link.close();
  }
}
