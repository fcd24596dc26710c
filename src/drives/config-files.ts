// The service processor's configuration files (DESIGN §8): `running.json` (the running
// configuration), `config.gen<G>.json` (each generation a reconfiguration writes) and
// `<device>.lock` (a device being reconfigured: no second reconfiguration of it). In the data dir
// (`D/config`) when there is one, else in a directory of their own under the OS temp dir.
// Kept out of the actor: the service processor calls these and touches no file itself.
import { closeSync, mkdirSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import type { ArrayConfig } from '../shared/config/config.ts';
import { ArrayError, errorMessage } from '../shared/errors/errors.ts';

/** Directories made under the temp dir by this thread (so two arrays of one thread never share one). */
let tempDirs = 0;

export class ConfigFiles {
  readonly dir: string;

  /**
   * `dir`: the data dir's `config` (lock files left by a process that stopped without warning are
   * removed: the sessions they locked are taken up again, and locked anew, by the restart).
   */
  constructor(dir?: string) {
    this.dir =
      dir ?? join(tmpdir(), `arrayemu-config-${process.pid}-${threadId}-${++tempDirs}-${Date.now().toString(36)}`);
    if (dir) {
      mkdirSync(dir, { recursive: true });
      for (const f of readdirSync(dir)) if (f.endsWith('.lock')) rmSync(join(dir, f), { force: true });
    }
  }

  writeRunning(running: ArrayConfig): void {
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(join(this.dir, 'running.json'), `${JSON.stringify(running, null, 2)}\n`);
  }

  /** Write generation `gen`'s configuration and lock `deviceId`; the lock's path (refused if it is locked already). */
  writeAndLock(deviceId: string, gen: number, target: ArrayConfig): string {
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(join(this.dir, `config.gen${gen}.json`), `${JSON.stringify(target, null, 2)}\n`);
    const lock = join(this.dir, `${deviceId}.lock`);
    try {
      closeSync(openSync(lock, 'wx'));
    } catch (err) {
      throw new ArrayError(
        'CONFIG',
        `reconfiguration refused: the configuration of "${deviceId}" is locked (${lock}: ${errorMessage(err)})`,
      );
    }
    return lock;
  }

  unlock(lock: string): void {
    rmSync(lock, { force: true });
  }
}
