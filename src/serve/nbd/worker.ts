// The NBD thread (see thread.ts): an NbdServer listening itself, its backend's host clients on
// rings to the host adapters (each channel made here, the adapter's end sent to the main thread to
// hand over), sizes learnt from the main thread at each switch, a FLUSH made durable by it.
import { MessageChannel, parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { HostClient } from '../../host/client.ts';
import { RingHostLink } from '../../shared/links/ring-link.ts';
import type { Link } from '../../shared/links/link.ts';
import { errorMessage } from '../../shared/errors/errors.ts';
import { clientsBackend, type DeviceIo } from './backend.ts';
import { NbdServer } from './server.ts';
import { type FromNbdThread, type NbdThreadInit, type ToNbdThread } from './thread.ts';

const init = workerData as NbdThreadInit;
const port = parentPort!;
const send = (m: FromNbdThread, transfer?: MessagePort[]) => port.postMessage(m, transfer ?? []);
const log = init.log ? (line: string) => send({ t: 'log', line }) : undefined;

/** A ring link to host adapter `ha`: the channel is made here, the adapter's end goes to the main thread. */
function linkTo(ha: number): Link {
  const { port1, port2 } = new MessageChannel();
  send({ t: 'host-port', ha, port: port1 }, [port1]);
  return new RingHostLink(port2, `HA${ha}`, (level, text) => {
    if (level !== 'info') log?.(`${level}: ${text}`);
  });
}

const sizes = new Map<string, number>(init.exports);
let nextFlush = 0;
const io: DeviceIo = { devices: new Map() };
const clients = Array.from({ length: init.hostAdapters }, (_, ha) => new HostClient(linkTo(ha), () => linkTo(ha)));
const backend = clientsBackend(
  {
    clients,
    exportNames: () => [...sizes.keys()],
    sizeOf: (name) => sizes.get(name),
    // Straight to a host adapter over this thread's ring: it destages, and with a data dir has the
    // service processor commit, before it answers (host-adapter/durable-flush.ts).
    flush: () => clients[nextFlush++ % clients.length]!.flush(),
  },
  io,
);
const nbd = new NbdServer(backend, log);

port.on('message', (m: ToNbdThread) => {
  switch (m.t) {
    case 'size':
      if (sizes.has(m.name)) sizes.set(m.name, m.bytes);
      return;
    case 'snapshot':
      return send({
        t: 'snapshot',
        id: m.id,
        connections: nbd.counters.connections,
        connectionsOpen: nbd.counters.connectionsOpen,
        requests: [...nbd.counters.requests],
        devices: [...io.devices],
      });
    case 'close':
      return void nbd.close().then(() => {
        backend.close();
        send({ t: 'closed' });
      });
  }
});

try {
  const servers = [];
  for (const where of init.listen) servers.push(await nbd.listen(where));
  send({
    t: 'listening',
    ports: servers.map((s) => {
      const a = s.address();
      return typeof a === 'object' && a ? a.port : null;
    }),
  });
} catch (err) {
  await nbd.close();
  backend.close();
  send({ t: 'listen-failed', code: (err as NodeJS.ErrnoException).code, message: errorMessage(err) });
}
