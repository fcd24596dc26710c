// The main thread's model during a restripe (DESIGN §14): the rebuild and the drive views ask it
// which track's copy a location holds, so it must know both layouts of a device while its session
// is open. Its devices keep the running layout (workloads size their devices from it) until the
// completion's report; the new layout is held beside it from the session's opening until then.
import type { EventEmitter } from 'node:events';
import type { ArrayModel } from '../shared/model/model.ts';
import { deviceLayout } from '../shared/layout/layout.ts';
import type { SessionSpec } from '../shared/restripe/session.ts';
import type { ArrayConfig } from '../shared/config/config.ts';
import { DEVICE, type SharedState } from '../shared/tables/memory.ts';
import { deviceWordOf } from '../shared/tables/tables.ts';

/** Hold each opened session's new layout in `model` (released by ArrayEmulator.learnReport at completion). */
export function followSessions(events: EventEmitter, model: ArrayModel): void {
  events.on('session-open', ({ spec }: { spec: SessionSpec }) =>
    model.holdLayout(spec.deviceId, deviceLayout(spec.target, spec.deviceId, spec.running)),
  );
}

/**
 * A restripe of `deviceId` completed (`running` is the configuration now): the model learns the new
 * layouts of the device and its BCV at the generation their headers hold, and releases the held one.
 */
export function learnCompleted(model: ArrayModel, state: SharedState, running: ArrayConfig, deviceId: string): void {
  const bcvs = running.devices.filter((d) => d.layout === 'bcv' && d.of === deviceId).map((d) => d.id);
  for (const id of [deviceId, ...bcvs]) {
    const dev = model.device(id);
    model.addGeneration(id, deviceWordOf(state, dev.index, DEVICE.GENERATION), deviceLayout(running, id, model.config));
  }
  model.releaseLayout(deviceId);
  model.config = running;
}
