// The one place workers are started from: register tsx so the worker can import TypeScript, then
// load the actor's entry file named in workerData.entry.
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.entry);
