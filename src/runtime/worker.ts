// The one worker entry: every actor (service processor, host adapter, disk adapter) runs in a
// thread started here; workerData says which, and worker-host.ts builds it.
import { hostWorker } from './worker-host.ts';

await hostWorker();
