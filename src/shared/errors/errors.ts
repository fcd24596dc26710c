// Every error the array hands to a user or a host, in one place. `code` is stable for scripts.

export type ErrorCode =
  | 'CONFIG' // a configuration file was refused
  | 'BUSY' // a reconfiguration is already in progress (the control API answers 409)
  | 'OUT_OF_RANGE' // a host request outside its device
  | 'NOT_READY' // the device is not ready (a BCV during a session, a blocked device)
  | 'UNKNOWN_DEVICE'
  | 'CACHE_EXHAUSTED' // every slot write-pending for longer than the wait bound
  | 'TIMEOUT' // a bounded wait ran out
  | 'TOO_MANY_REQUESTS' // a host adapter already has its limit of requests in flight: refused, not queued
  | 'INVARIANT' // an invariant of the array broke: the actor must stop
  | 'ADAPTER_GONE' // the adapter serving a request stopped
  | 'HOST_ADAPTER_LOST' // the host adapter went away with the request in flight: it may or may not have been done
  | 'DRIVE_FAULT' // a drive could not serve an access (failed, or a media error): another copy is tried
  | 'DATA_LOST' // no copy of a track survives: the read fails, never served as garbage
  | 'STORE_FAILED' // the data dir's store did not take a commit (its disk full, an I/O error): nothing after the last one is durable
  | 'USAGE'; // bad command-line input

export class ArrayError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = 'ArrayError';
  }
}

/** A broken invariant. Thrown by `assert`; an actor that sees one stops loudly. */
export class InvariantError extends ArrayError {
  constructor(message: string) {
    super('INVARIANT', message);
    this.name = 'InvariantError';
  }
}

export class ConfigError extends ArrayError {
  /** Each entry reads `path: reason`, e.g. `devices[1].cylinders: 13 is not a multiple of …`. */
  readonly problems: string[];
  constructor(problems: string[]) {
    super('CONFIG', problems.length === 1 ? problems[0]! : `${problems.length} problems:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
    this.name = 'ConfigError';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function errorCode(err: unknown): ErrorCode | 'INTERNAL' {
  return err instanceof ArrayError ? err.code : 'INTERNAL';
}
