// A piscina task: one host processor, in a pool thread, talking to a host adapter over the port it
// was handed, checking everything it reads with the shared verifier.
import type { MessagePort } from 'node:worker_threads';
import { RingHostLink } from '../shared/links/ring-link.ts';
import { HostClient } from './client.ts';
import { Verifier, type VerifierBuffers } from './verifier.ts';
import { runHostProcessor, type ProcessorResult, type WorkloadSpec } from './workload.ts';

export interface HostProcessorTask {
  port: MessagePort;
  verifier: VerifierBuffers;
  spec: WorkloadSpec;
}

export default async function hostProcessor(task: HostProcessorTask): Promise<ProcessorResult> {
  const link = new RingHostLink(task.port, 'host adapter', (level, text) => {
    if (level !== 'info') process.stderr.write(`host processor ${level}: ${text}\n`);
  });
  const client = new HostClient(link);
  const before = performance.eventLoopUtilization();
  try {
    const result = await runHostProcessor(client, new Verifier(task.verifier), task.spec);
    return { ...result, threadBusy: performance.eventLoopUtilization(before).utilization };
  } finally {
    client.close();
  }
}
