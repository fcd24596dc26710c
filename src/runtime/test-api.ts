// The typed test API of a running array: what tests and the stress harness use to hold and step
// background processes, read where a device stands, and inject the deliberate faults that prove
// the checks work. Nothing outside src/runtime writes a shared word from outside the actors.
import { DEVICE, NO_SLOT, NO_TRACK, SLOT, TRACK, type SharedState } from '../shared/tables/memory.ts';
import { type HoldName, type TestFaultName } from '../shared/hooks/hooks.ts';
import type { ArrayModel } from '../shared/model/model.ts';
import {
  deviceWordOf,
  flagsOf,
  setSlotOf,
  setSlotOwner,
  setSlotState,
  slotOwnerOf,
  slotStateOf,
} from '../shared/tables/tables.ts';

export class ArrayTestApi {
  private readonly state: SharedState;
  private readonly model: ArrayModel;

  constructor(state: SharedState, model: ArrayModel) {
    this.state = state;
    this.model = model;
  }

  /** Hold or release a process before its next step (HOLD words in shared memory). */
  hold(name: HoldName, held: boolean): void {
    this.state.hooks.setHold(name, held);
  }

  /** Let held process `name` take `steps` more steps (one track each for establish, split, transfer). */
  step(name: HoldName, steps = 1): void {
    this.state.hooks.stepHold(name, steps);
  }

  /** Where device `id`'s reconfiguration stands (PHASE). */
  phase(id: string): number {
    return deviceWordOf(this.state, this.model.device(id).index, DEVICE.PHASE);
  }

  /** The configuration generation active on device `id` (it changes at the switch). */
  generation(id: string): number {
    return deviceWordOf(this.state, this.model.device(id).index, DEVICE.GENERATION);
  }

  /** Switch a deliberate fault on or off (TEST_FAULT). */
  setFault(name: TestFaultName, on: boolean): void {
    this.state.hooks.setTestFault(name, on);
  }

  /**
   * The cache forgets every write-pending slot of an unlocked track (acknowledged writes lost): only
   * for proving that the verifier catches lost data. Returns how many slots it dropped.
   */
  loseWritePending(): number {
    const st = this.state;
    let lost = 0;
    for (let s = 0; s < st.slots; s++) {
      if (!(slotStateOf(st, s) & SLOT.WP)) continue;
      const owner = slotOwnerOf(st, s);
      if (owner === NO_TRACK || flagsOf(st, owner) & TRACK.LOCK) continue;
      setSlotOf(st, owner, NO_SLOT);
      setSlotState(st, s, 0);
      setSlotOwner(st, s, NO_TRACK);
      lost++;
    }
    return lost;
  }
}
