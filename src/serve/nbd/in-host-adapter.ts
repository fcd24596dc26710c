// The NBD server in a host adapter's thread (DESIGN §9): loaded there by the main thread (an
// extension: ExtensionContext), it listens on the addresses given to that adapter and hands each
// request to the adapter over an in-thread link, so a request crosses no thread between the socket
// and the host adapter, as a channel director terminates its hosts' connections itself. A FLUSH
// goes from here to the disk adapters and the service processor (host-adapter/durable-flush.ts);
// sizes come from the main thread at each switch.
import type { MessagePort } from 'node:worker_threads';
import { HostClient } from '../../host/client.ts';
import { localLinkPair } from '../../shared/links/link.ts';
import type { ExtensionContext } from '../../shared/links/actor.ts';
import { errorMessage } from '../../shared/errors/errors.ts';
import { clientsBackend, type DeviceIo } from './backend.ts';
import { NbdServer } from './server.ts';
import type { FromNbdServer, NbdServerInit, ToNbdServer } from './in-host-adapters.ts';

export function extend(ctx: ExtensionContext): void {
  const init = ctx.data as NbdServerInit;
  const port: MessagePort = ctx.port;
  const send = (m: FromNbdServer) => port.postMessage(m);
  const log = init.log ? (line: string) => send({ t: 'log', line: `${ctx.name}: ${line}` }) : undefined;
  const [toHa, toHost] = localLinkPair(ctx.name, `nbd@${ctx.name}`, ctx.log, undefined, {
    a: ctx.owner,
    b: ctx.owner,
  });
  ctx.attachHost(toHost);
  const sizes = new Map<string, number>(init.exports);
  const io: DeviceIo = { devices: new Map() };
  const client = new HostClient(toHa);
  const backend = clientsBackend(
    {
      clients: [client],
      exportNames: () => [...sizes.keys()],
      sizeOf: (name) => sizes.get(name),
      // Straight to this host adapter: it destages, and with a data dir has the service processor commit, before it answers.
      flush: () => client.flush(),
      direct: (req) => ctx.serveNow(req),
    },
    io,
  );
  const nbd = new NbdServer(backend, log);
  port.on('message', (m: ToNbdServer) => {
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
  void listenAll(nbd, init, send, () => backend.close());
}

async function listenAll(
  nbd: NbdServer,
  init: NbdServerInit,
  send: (m: FromNbdServer) => void,
  closeBackend: () => void,
): Promise<void> {
  try {
    const servers = [];
    for (const where of init.listen) servers.push(await nbd.listen(where));
    const ports = servers.map((s) => {
      const a = s.address();
      return typeof a === 'object' && a ? a.port : null;
    });
    send({ t: 'listening', ports });
  } catch (err) {
    await nbd.close();
    closeBackend();
    send({ t: 'listen-failed', code: (err as NodeJS.ErrnoException).code, message: errorMessage(err) });
  }
}
