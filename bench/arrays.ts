// Array shapes the benchmarks and the tests that measure the same thing share.

export interface FourDriveStripe {
  trackBytes: number;
  headsPerCylinder: number;
  /** Cylinders a drive; the striped LD1 spans all four drives' worth. */
  driveCylinders: number;
  slots: number;
  /** 'sparse' forces sparse stores even where a dense one would fit (an in-process array, no data dir). */
  store?: 'sparse';
}

/** Four drives on two disk adapters, two host adapters, one LD striped a cylinder at a time over all four. */
export function fourDriveStripe(o: FourDriveStripe): Record<string, unknown> {
  const drives = ['d0', 'd1', 'd2', 'd3'];
  return {
    geometry: { trackBytes: o.trackBytes, headsPerCylinder: o.headsPerCylinder },
    cache: { slots: o.slots },
    hostAdapters: 2,
    drives: drives.map((id) => ({ id, cylinders: o.driveCylinders, ...(o.store ? { store: o.store } : {}) })),
    diskAdapters: [
      { id: 'DA0', drives: ['d0', 'd1'] },
      { id: 'DA1', drives: ['d2', 'd3'] },
    ],
    devices: [
      {
        id: 'LD1',
        layout: 'striped',
        cylinders: 4 * o.driveCylinders,
        stripeCylinders: 1,
        members: drives.map((drive) => ({ drive, startCylinder: 0 })),
      },
    ],
  };
}
