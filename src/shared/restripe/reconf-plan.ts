// What a reconfiguration request asks for: which device changes, what kind of change it is, and
// every reason to refuse it (DESIGN §3, issue "Online reconfiguration": refused with a clear error).
import { isDeepStrictEqual } from 'node:util';
import { parseConfig, type ArrayConfig, type DeviceConfig } from '../config/config.ts';
import { ArrayError, ConfigError } from '../errors/errors.ts';
import type { ReconfKind } from './session.ts';
import { deviceLayout } from '../layout/layout.ts';
import { mirrorMapProblems } from '../mirrors/mirrors.ts';

export interface Plan {
  deviceId: string;
  kind: ReconfKind;
  bcvId?: string; // the BCV the data moves through (none for a meta expansion)
  target: ArrayConfig;
}

const refuse = (text: string): never => {
  throw new ArrayError('CONFIG', `reconfiguration refused: ${text}`);
};

/** A mirrored device's restripe moves every mirror with it (mirrors.ts): refused where they cannot. */
function refuseMirrorClashes(running: ArrayConfig, target: ArrayConfig, id: string, bcvId?: string): void {
  const problems = mirrorMapProblems(running, target, id, bcvId);
  if (problems.length > 0) refuse(`"${id}" is mirrored and its mirrors cannot move with it: ${problems.join('; ')}`);
}

/** Each mirror's members as drive:startCylinder, comma-separated. */
function mirrorDrives(d: DeviceConfig): string[] {
  return (d.mirrors ?? []).map((m) => m.members.map((x) => `${x.drive}:${x.startCylinder}`).join(','));
}

function drivesOf(d: DeviceConfig): string[] {
  return d.members.map((m) => m.drive);
}

/** Check `rawTarget` against the running configuration and classify the change. */
export function planReconfiguration(running: ArrayConfig, rawTarget: unknown): Plan {
  let target: ArrayConfig;
  try {
    target = parseConfig(rawTarget, { running });
  } catch (err) {
    if (err instanceof ConfigError) refuse(`the target configuration is invalid: ${err.message}`);
    throw err;
  }
  for (const key of ['geometry', 'cache', 'hostAdapters', 'drives', 'diskAdapters', 'spares'] as const) {
    if (!isDeepStrictEqual(running[key], target[key]))
      refuse(`the target changes "${key}"; only device definitions may change`);
  }
  const ids = (c: ArrayConfig) => c.devices.map((d) => d.id).sort();
  if (!isDeepStrictEqual(ids(running), ids(target))) {
    refuse(`the target's devices (${ids(target).join(', ')}) are not the running ones (${ids(running).join(', ')})`);
  }
  const changed = target.devices.filter(
    (d) =>
      d.layout !== 'bcv' &&
      !isDeepStrictEqual(
        d,
        running.devices.find((r) => r.id === d.id),
      ),
  );
  if (changed.length === 0) refuse('no device definition changed');
  if (changed.length > 1)
    refuse(
      `${changed.length} devices changed (${changed.map((d) => d.id).join(', ')}); reconfigure one device per request`,
    );
  const next = changed[0]!;
  const prev = running.devices.find((d) => d.id === next.id)!;
  if (prev.layout !== next.layout) refuse(`"${next.id}" changes layout from ${prev.layout} to ${next.layout}`);
  if (next.layout === 'concatenated' && prev.layout === 'concatenated') {
    const kept = next.members.slice(0, prev.members.length);
    if (next.members.length <= prev.members.length || !isDeepStrictEqual(kept, prev.members)) {
      refuse(
        `"${next.id}": a concatenated meta device can only grow by appending members (its ${prev.members.length} members unchanged, then new ones)`,
      );
    }
    refuseMirrorClashes(running, target, next.id);
    return { deviceId: next.id, kind: 'meta-expansion', target };
  }
  if (next.layout !== 'striped' || prev.layout !== 'striped')
    return refuse(`"${next.id}" is not a striped or concatenated device`);
  if (next.cylinders < prev.cylinders)
    refuse(`"${next.id}" would shrink from ${prev.cylinders} to ${next.cylinders} cylinders (shrinking loses data)`);

  const bcv = target.devices.find((d) => d.layout === 'bcv' && d.of === next.id);
  refuseMirrorClashes(running, target, next.id, bcv?.id);
  if (!bcv) return refuse(`"${next.id}" has no BCV to copy it through (define a bcv device with "of": "${next.id}")`);
  const bcvBefore = running.devices.find((d) => d.id === bcv.id);
  if (bcvBefore?.layout === 'bcv' && !isDeepStrictEqual(mirrorDrives(bcvBefore), mirrorDrives(bcv)))
    refuse(
      `BCV "${bcv.id}" has mirrors on [${mirrorDrives(bcvBefore).join('; ')}] now and [${mirrorDrives(bcv).join('; ')}] in the target: a restripe keeps its BCV's mirrors`,
    );
  const perMember = prev.cylinders / prev.members.length;
  if (bcv.members.length !== prev.members.length) {
    refuse(
      `BCV "${bcv.id}" has ${bcv.members.length} members but "${next.id}" runs on ${prev.members.length}: the BCV must mirror the running layout`,
    );
  }
  for (const [i, m] of bcv.members.entries()) {
    const drive = target.drives.find((d) => d.id === m.drive)!;
    if (m.startCylinder + perMember > drive.cylinders) {
      refuse(
        `BCV "${bcv.id}" member ${i} on drive "${m.drive}" is too small: needs cylinders ${m.startCylinder}..${m.startCylinder + perMember - 1}, the drive has ${drive.cylinders}`,
      );
    }
  }

  const oldDrives = new Set(drivesOf(prev));
  const newDrives = drivesOf(next);
  const grows = newDrives.some((d) => !oldDrives.has(d));
  const stripe = next.stripeCylinders !== prev.stripeCylinders;
  let kind: ReconfKind;
  if (grows && stripe) kind = 'expansion+stripe-change';
  else if (grows) kind = 'expansion';
  else if (stripe) kind = 'stripe-change';
  else if (next.cylinders > prev.cylinders) kind = 'more-rows';
  else return refuse(`"${next.id}": the change moves no data and adds no capacity`);
  return { deviceId: next.id, kind, bcvId: bcv.id, target };
}

/**
 * The running configuration after a session on `deviceId` completes: that device and its BCV from
 * `target`; the BCV's members carry the cylinders they were established with (it is detached now,
 * and no longer pairs with the device's new members).
 */
export function mergeCompleted(
  running: ArrayConfig,
  target: ArrayConfig,
  deviceId: string,
  bcvId?: string,
): ArrayConfig {
  const before = running.devices.find((d) => d.id === deviceId)!;
  const perMember = before.layout === 'striped' ? before.cylinders / before.members.length : undefined;
  return {
    ...running,
    devices: running.devices.map((d) => {
      if (d.id === deviceId) return target.devices.find((t) => t.id === d.id)!;
      if (d.id !== bcvId) return d;
      const bcv = target.devices.find((t) => t.id === d.id)!;
      if (bcv.layout !== 'bcv' || perMember === undefined) return bcv;
      const detached = <M extends object>(members: M[]) => members.map((m) => ({ ...m, cylinders: perMember }));
      const mirrors = bcv.mirrors?.map((mirror) => ({ members: detached(mirror.members) }));
      return { ...bcv, members: detached(bcv.members), ...(mirrors ? { mirrors } : {}) };
    }),
  };
}

/**
 * Check rounds of targets up front: every target of a round is the round's starting configuration
 * with one device changed (they run at once); the next round starts from all of them completed.
 * Returns the largest size each device reaches (a verifier is sized for it).
 */
export function planRounds(running: ArrayConfig, rounds: unknown[][]): { maxBytes: Record<string, number> } {
  const maxBytes: Record<string, number> = {};
  const note = (cfg: ArrayConfig, against: ArrayConfig) => {
    for (const d of cfg.devices) {
      const bytes = deviceLayout(cfg, d.id, against).tracks * cfg.geometry.trackBytes;
      maxBytes[d.id] = Math.max(maxBytes[d.id] ?? 0, bytes);
    }
  };
  note(running, running);
  walkRounds(running, rounds, (plan, start) => note(plan.target, start));
  return { maxBytes };
}

/**
 * Plan each target of `rounds` in turn, `each` told the plan and its round's starting configuration
 * (every target of a round starts from it; the next round from all of them completed). Returns the
 * configuration after the last round.
 */
export function walkRounds(
  running: ArrayConfig,
  rounds: unknown[][],
  each?: (plan: Plan, start: ArrayConfig) => void,
): ArrayConfig {
  let current = running;
  for (const round of rounds) {
    const start = current;
    for (const raw of round) {
      const plan = planReconfiguration(start, raw);
      each?.(plan, start);
      current = mergeCompleted(current, plan.target, plan.deviceId, plan.bcvId);
    }
  }
  return current;
}
