// The house's rooms and floors, held by dependency-cruiser (`npm run lint`). Bottom up:
//   src/shared   the ground floor, in rooms (SHARED_ROOMS below)
//   src/drives   stores (dense, sparse, durable), configuration files, timing models: a library
//                below the actors, used by the disk adapter, the lab and the runtime alike
//   the actors   src/host-adapter, src/disk-adapter, src/service-processor
//   src/runtime  assembles and hosts the actors (worker threads or inline)
//   src/host     host clients, workloads, the verifier;  src/serve  NBD and the control API;
//   src/lab      sweeps, trace replay, charts;  src/stress  the seeded campaigns
//   src/cli      the command line (one file per command); only bin/ loads it
//   bench/       above src: bin/ hands the CLI a loader for it, src never imports it.
/** @type {import('dependency-cruiser').IConfiguration} */
const ACTORS = '^src/(host-adapter|disk-adapter|service-processor)/';
/**
 * The ground floor's rooms, bottom up (DESIGN §1): each imports only the rooms before it.
 *   errors       assert and the typed errors every floor throws
 *   sched        the one Scheduler: time, turns, bounded waits (real, seeded or discrete-event)
 *   hooks        TEST ONLY holds, deliberate faults and pauses, in words of their own
 *   config       the configuration's schema, the drive models' names, what memory it asks for
 *   cost         what an adapter's own work costs in time
 *   layout       a device's geometry: its tracks on the drives, its drive maps
 *   tables       the shared memory and the only door to its words: Track ID table, cache, locks, intents, dirty marks
 *   checksums    a track's checksum words
 *   model        the array as configured: devices, adapters and drives over the tables
 *   mirrors      WPk: a device's mirrors and their write-pending bits
 *   drive-states a drive's state (ready, failed, rebuilding) and what that means for its copies
 *   restripe     the reconfiguration model: sessions, their bits, split and fill, the plan, reports
 *   durable      what a data dir commits of the tables and drives, and the store's interface
 *   links        how actors talk: links, rings, messages, awaited answers, an actor's shape
 */
const SHARED_ROOMS = [
  'errors',
  'sched',
  'hooks',
  'config',
  'cost',
  'layout',
  'tables',
  'checksums',
  'model',
  'mirrors',
  'drive-states',
  'restripe',
  'durable',
  'links',
];
const roomRules = SHARED_ROOMS.slice(0, -1).map((room, i) => ({
  name: `shared-${room}-stands-on-the-rooms-below`,
  severity: 'error',
  comment: `src/shared/${room} imports only the rooms listed before it in SHARED_ROOMS.`,
  from: { path: `^src/shared/${room}/` },
  to: { path: `^src/shared/(${SHARED_ROOMS.slice(i + 1).join('|')})/` },
}));
module.exports = {
  forbidden: [
    ...roomRules,
    {
      name: 'shared-is-rooms',
      severity: 'error',
      comment:
        'Every file of src/shared lives in a room named for its job (none imports or is imported from src/shared itself).',
      from: { path: '^src/shared/[^/]+$' },
      to: {},
    },
    {
      name: 'shared-is-rooms-too',
      severity: 'error',
      comment: 'Every file of src/shared lives in a room named for its job.',
      from: {},
      to: { path: '^src/shared/[^/]+$' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import loop, of values or of types.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'shared-is-the-ground-floor',
      severity: 'error',
      comment: 'src/shared imports nothing of the project outside itself.',
      from: { path: '^src/shared/' },
      to: { path: '^(src|bench|test)/', pathNot: '^src/shared/' },
    },
    {
      name: 'drives-stand-on-shared-alone',
      severity: 'error',
      comment: 'src/drives is a library below the actors: it imports src/shared and itself only.',
      from: { path: '^src/drives/' },
      to: { path: '^(src|bench|test)/', pathNot: '^src/(shared|drives)/' },
    },
    {
      name: 'actors-stay-below-the-runtime',
      severity: 'error',
      comment: 'An actor imports src/shared, src/drives and its own room only.',
      from: { path: ACTORS },
      to: { path: '^(src|bench|test)/', pathNot: ['^src/(shared|drives)/', '^src/$1/'] },
    },
    {
      name: 'actors-touch-no-file-and-no-thread',
      severity: 'error',
      comment:
        'Actor logic runs the same in a worker, inline and under the seeded scheduler: files go through src/drives, threads through src/runtime.',
      from: { path: ACTORS },
      to: { dependencyTypes: ['core'], path: '^(node:)?(fs|fs/promises|worker_threads|child_process)$' },
    },
    {
      name: 'runtime-below-the-host-side',
      severity: 'error',
      comment: 'The runtime hosts actors; it knows nothing of hosts, servers, the lab, stress or the CLI.',
      from: { path: '^src/runtime/' },
      to: { path: '^(src/(host|serve|lab|stress|cli)/|bench/)' },
    },
    {
      name: 'host-side-below-serve-lab-stress-cli',
      severity: 'error',
      comment:
        'Host clients, workloads and the verifier import neither the servers, the lab, the stress harness nor the CLI.',
      from: { path: '^src/host/' },
      to: { path: '^(src/(serve|lab|stress|cli)/|bench/)' },
    },
    {
      name: 'serve-and-lab-use-no-actor-internals',
      severity: 'error',
      comment:
        'The servers and the lab drive the array through the runtime and src/drives, never through an actor’s own modules.',
      from: { path: '^src/(serve|lab)/' },
      to: { path: `${ACTORS}|^src/(stress|cli)/|^bench/` },
    },
    {
      name: 'stress-below-the-cli',
      severity: 'error',
      from: { path: '^src/stress/' },
      to: { path: '^(src/(serve|lab|cli)/|bench/)' },
    },
    {
      name: 'src-never-imports-bench',
      severity: 'error',
      comment: 'bin/arrayemu.mjs hands the CLI a loader for the benchmarks.',
      from: { path: '^src/' },
      to: { path: '^bench/' },
    },
    {
      name: 'nothing-imports-the-cli',
      severity: 'error',
      comment: 'The CLI is the top floor of src: only bin/, the benchmarks and the tests load it.',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'src-does-not-import-tests',
      severity: 'error',
      from: { path: '^(src|bench|scripts)/' },
      to: { path: '^test/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.mjs', '.js'] },
  },
};
