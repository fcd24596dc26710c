// An accepted socket read into one buffer (src/serve/nbd/socket-read.ts): every chunk a view of the
// connection's buffer, the bytes in order, and the server's connection count given back at close
// (or server.close() would wait for ever); a socket with no handle to take is read as usual.
import { describe, expect, it } from 'vitest';
import { connect, createServer, Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readingInto } from '../../src/serve/nbd/socket-read.ts';

const SENT_BYTES = 4 * 1024 * 1024;

describe('readingInto', () => {
  it('reads an accepted socket into the one buffer given, in order, and the server still closes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arrayemu-sock-'));
    const read = Buffer.alloc(64 * 1024);
    const got: Buffer[] = [];
    let foreign = 0;
    const server = createServer({ pauseOnConnect: true }, (accepted) => {
      const s = readingInto(accepted, read, (chunk) => {
        if (chunk.buffer !== read.buffer) foreign++;
        got.push(Buffer.from(chunk)); // copied: the buffer is read into again
      });
      s.on('end', () => s.end('done'));
    });
    await new Promise<void>((r) => server.listen(join(dir, 's.sock'), r));
    const sent = Buffer.from(Array.from({ length: SENT_BYTES }, (_, i) => (i * 31 + (i >> 12)) & 0xff));
    const reply = await new Promise<string>((resolve, reject) => {
      const c = connect(join(dir, 's.sock'), () => c.end(sent));
      let text = '';
      c.on('data', (d) => (text += d.toString()));
      c.on('close', () => resolve(text));
      c.on('error', reject);
    });
    await new Promise<void>((r) => server.close(() => r())); // hangs if the connection were not given back
    rmSync(dir, { recursive: true, force: true });
    expect(reply).toBe('done');
    expect(foreign).toBe(0);
    expect(got.length).toBeGreaterThan(1);
    expect(Buffer.concat(got).equals(sent)).toBe(true);
  });

  it('a socket with no handle to take is read as it is', () => {
    const plain = new Socket();
    const chunks: Buffer[] = [];
    expect(readingInto(plain, Buffer.alloc(16), (c) => chunks.push(c))).toBe(plain);
    plain.emit('data', Buffer.from('x'));
    expect(chunks.map(String)).toEqual(['x']);
    plain.destroy();
  });
});
