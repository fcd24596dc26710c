// Worker entry: a thin host around the actor class.
import { hostWorker } from '../shared/worker-host.ts';

hostWorker();
