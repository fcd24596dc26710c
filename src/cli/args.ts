// What every command shares: argument parsers that name the bad value, JSON in, text or JSON out,
// the exit codes.
import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { DRIVE_MODEL_PRESETS } from '../shared/config/drive-models.ts';
import { ArrayError, errorMessage } from '../shared/errors/errors.ts';
import type { Log } from '../shared/links/link.ts';

export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export function intArg(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v.endsWith('%') ? v.slice(0, -1) : v);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`${name} must be an integer in ${min}..${max} (got "${v}")`);
    return n;
  };
}

export function numArg(name: string, min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min)
      throw new InvalidArgumentError(`${name} must be a number ≥ ${min} (got "${v}")`);
    return n;
  };
}

export function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ArrayError('CONFIG', `${file}: cannot be read as JSON (${errorMessage(err)})`);
  }
}

export function print(json: boolean, value: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text()}\n`);
}

/** `layout`: the per-drive cylinder table of a device, and with --to the transfer plan. */
export const verboseLog: Log = (level, text) => process.stderr.write(`arrayemu ${level}: ${text}\n`);
export function timedPreset(name: string | undefined) {
  const presets = DRIVE_MODEL_PRESETS.filter((p) => p !== 'instant');
  const preset = presets.find((p) => p === name);
  if (!preset) throw new ArrayError('USAGE', `--drive-model ${name}: must be one of ${presets.join(', ')}`);
  return preset;
}

export const listArg = (name: string, max: number) => (v: string) =>
  v.split(',').map((x) => intArg(name, 1, max)(x.trim()));
