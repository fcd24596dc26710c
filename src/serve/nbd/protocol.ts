// The NBD protocol's numbers, in one place (upstream doc/proto.md of the NBD project): the
// handshake's magics, options and replies, the transmission flags, commands, command flags,
// simple and structured replies, and the error values on the wire.

export const NBD_MAGIC = 0x4e42444d41474943n; // "NBDMAGIC"
export const IHAVEOPT = 0x49484156454f5054n; // "IHAVEOPT"
export const OPTION_REPLY_MAGIC = 0x3e889045565a9n;
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

/** Handshake flags (server) and client flags. */
export const FLAG_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_NO_ZEROES = 1 << 1;
export const CLIENT_FLAGS_KNOWN = FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES;

export const OPT = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
} as const;

const ERR = 2 ** 31;
export const REP = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  ERR_UNSUP: ERR + 1,
  ERR_POLICY: ERR + 2,
  ERR_INVALID: ERR + 3,
  ERR_UNKNOWN: ERR + 6,
  ERR_TOO_BIG: ERR + 9,
} as const;

export const INFO = { EXPORT: 0, NAME: 1, DESCRIPTION: 2, BLOCK_SIZE: 3 } as const;

/** Transmission flags. */
export const TFLAG = {
  HAS_FLAGS: 1 << 0,
  READ_ONLY: 1 << 1,
  SEND_FLUSH: 1 << 2,
  SEND_FUA: 1 << 3,
  ROTATIONAL: 1 << 4,
  SEND_TRIM: 1 << 5,
  SEND_WRITE_ZEROES: 1 << 6,
  SEND_DF: 1 << 7,
  CAN_MULTI_CONN: 1 << 8,
  SEND_CACHE: 1 << 10,
} as const;

/** What this server offers on every export. */
export const EXPORT_FLAGS =
  TFLAG.HAS_FLAGS |
  TFLAG.SEND_FLUSH |
  TFLAG.SEND_FUA |
  TFLAG.SEND_TRIM |
  TFLAG.SEND_WRITE_ZEROES |
  TFLAG.SEND_DF |
  TFLAG.CAN_MULTI_CONN |
  TFLAG.SEND_CACHE;

export const CMD = { READ: 0, WRITE: 1, DISC: 2, FLUSH: 3, TRIM: 4, CACHE: 5, WRITE_ZEROES: 6 } as const;
export const CMD_NAMES: Record<number, string> = {
  0: 'read',
  1: 'write',
  2: 'disc',
  3: 'flush',
  4: 'trim',
  5: 'cache',
  6: 'write_zeroes',
};

/** Command flags. */
export const CFLAG = { FUA: 1 << 0, NO_HOLE: 1 << 1, DF: 1 << 2, REQ_ONE: 1 << 3, FAST_ZERO: 1 << 4 } as const;

/** Structured reply chunk types and flags. */
export const REPLY_FLAG_DONE = 1 << 0;
export const CHUNK = { NONE: 0, OFFSET_DATA: 1, ERROR: 2 ** 15 + 1 } as const;

/** Errors on the wire (Linux errno values, as the protocol says). */
export const NBD_ERR = {
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
} as const;

/** Block sizes advertised (INFO_BLOCK_SIZE): minimum, preferred, maximum payload. */
export const MIN_BLOCK_BYTES = 512;
export const PREFERRED_BLOCK_BYTES = 4096;
export const MAX_PAYLOAD_BYTES = 32 * 1024 * 1024;
/** A write payload above the maximum but at most this is read off the socket and dropped (EINVAL); longer, the connection is closed. */
export const DISCARD_LIMIT_BYTES = 4 * MAX_PAYLOAD_BYTES;
/** Longest option data the handshake accepts (an export name is at most 4096 bytes); longer closes the connection. */
export const MAX_OPTION_BYTES = 64 * 1024;

export const REQUEST_HEADER_BYTES = 28;

/** The NBD errno a failed request is answered with, by its ArrayError code. */
export function errnoOf(err: unknown): number {
  const code = (err as { code?: string } | undefined)?.code;
  if (code === 'OUT_OF_RANGE') return NBD_ERR.EINVAL;
  if (code === 'NOT_READY' || code === 'TOO_MANY_REQUESTS') return NBD_ERR.EIO;
  // The data dir's store full: the host is told it is out of space, not that the device failed.
  if (code === 'STORE_FAILED' && /ENOSPC|No space left|MDB_MAP_FULL/.test(String((err as Error).message)))
    return NBD_ERR.ENOSPC;
  return NBD_ERR.EIO;
}

/** NBD_ERR's name of `errno`. */
export function errName(errno: number): string | undefined {
  return Object.entries(NBD_ERR).find(([, v]) => v === errno)?.[0];
}

/** The command flags allowed on a command, or undefined for a command this server does not know. */
export function allowedFlags(type: number, structured: boolean): number | undefined {
  switch (type) {
    case CMD.READ:
      return structured ? CFLAG.DF : 0;
    case CMD.WRITE:
    case CMD.TRIM:
      return CFLAG.FUA;
    case CMD.WRITE_ZEROES:
      return CFLAG.FUA | CFLAG.NO_HOLE;
    case CMD.FLUSH:
    case CMD.CACHE:
      return 0;
    default:
      return undefined;
  }
}

/** NBD_OPT_INFO / NBD_OPT_GO data: u32 name length, name, u16 count, u16 info requests; undefined if malformed. */
export function parseInfoRequest(data: Buffer): { name: string; infos: number[] } | undefined {
  if (data.length < 6) return undefined;
  const n = data.readUInt32BE(0);
  if (n > data.length - 6) return undefined;
  const count = data.readUInt16BE(4 + n);
  if (data.length !== 6 + n + 2 * count) return undefined;
  const infos = Array.from({ length: count }, (_, i) => data.readUInt16BE(6 + n + 2 * i));
  return { name: data.subarray(4, 4 + n).toString('utf8'), infos };
}

/** A request refused as invalid, and why. */
export const einval = (why: string) => ({ errno: NBD_ERR.EINVAL, why });
/** Each command's counter key when it succeeds ("read ok"), made once. */
const OK_KEYS: Record<number, string> = Object.fromEntries(
  Object.entries(CMD_NAMES).map(([type, name]) => [Number(type), `${name} ok`]),
);

/** The counter key of a reply to a command of `type` with `errno` ("read ok", "write EINVAL", …). */
export function replyKey(type: number, errno: number): string {
  return (
    (errno === 0 ? OK_KEYS[type] : undefined) ??
    `${CMD_NAMES[type] ?? `cmd${type}`} ${errno === 0 ? 'ok' : (errName(errno) ?? errno)}`
  );
}

/** A structured reply chunk's 20-byte header for the request with `cookie`, with `extraBytes` after it for the caller to fill. */
export function chunkHeader(
  cookie: { cookieHi: number; cookieLo: number },
  type: number,
  length: number,
  extraBytes = 0,
): Buffer {
  const h = Buffer.allocUnsafe(20 + extraBytes);
  h.writeUInt32BE(STRUCTURED_REPLY_MAGIC, 0);
  h.writeUInt16BE(REPLY_FLAG_DONE, 4);
  h.writeUInt16BE(type, 6);
  writeHalves(h, 8, cookie.cookieHi, cookie.cookieLo);
  h.writeUInt32BE(length, 16);
  return h;
}

/** A 64-bit big-endian field at `at` from its two 32-bit halves (no BigInt). */
export function writeHalves(b: Buffer, at: number, hi: number, lo: number): void {
  b.writeUInt32BE(hi, at);
  b.writeUInt32BE(lo, at + 4);
}
