// An accepted connection's socket read into one buffer of its own (DESIGN §9, "Socket reads"):
// Node reads an accepted socket into a new ArrayBuffer each time, 64 KiB of external memory a read
// that only a mark-compact frees — at 64 KiB writes the NBD thread's collector ran more than its
// requests did. Node's `onread` (a buffer the socket reads into again and again) is offered only to
// sockets a client makes, so the accepted socket's handle is taken into a socket made with it.
import { Socket, type Server } from 'node:net';

/** Bytes of a connection's read buffer: a 64 KiB write with its header, and more, in one read. */
export const SOCKET_READ_BYTES = 256 * 1024;

/** Node's own fields of an accepted socket that the handover needs (net.js; Node 20). */
interface AcceptedInternals {
  _handle?: object | null;
  _server?: Server | null;
  server?: Server | null;
}

/**
 * The socket to serve accepted connection `accepted` on (its server listening with
 * `pauseOnConnect`, so nothing was read yet): a socket on the same handle that reads into `buffer`
 * and calls `onChunk` with a view of it — valid only until `onChunk` returns. Where the handle is
 * not there to take (another runtime's sockets), `accepted` itself, its reads given to `onChunk` as
 * they come (each its own buffer).
 */
export function readingInto(accepted: Socket, buffer: Buffer, onChunk: (chunk: Buffer) => void): Socket {
  const inner = accepted as unknown as AcceptedInternals;
  const handle = inner._handle;
  const server = inner._server;
  if (!handle || !server) {
    accepted.on('data', onChunk);
    accepted.resume();
    return accepted;
  }
  inner._handle = null; // the accepted socket is left without a handle: nothing of it runs again
  const socket = new Socket({
    handle,
    readable: true,
    writable: true,
    onread: {
      buffer,
      callback: (bytes: number, buf: Uint8Array) => void onChunk(Buffer.from(buf.buffer, buf.byteOffset, bytes)),
    },
  } as ConstructorParameters<typeof Socket>[0]);
  // The server counts the connection as the accepted socket's; closing, this one gives it back.
  const made = socket as unknown as AcceptedInternals;
  made._server = server;
  made.server = server;
  return socket;
}
