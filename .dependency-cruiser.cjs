// The house's rooms and floors, held by dependency-cruiser (`npm run lint`). Bottom up:
//   src/shared   infra, the array model, the tables, the restripe core
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
module.exports = {
  forbidden: [
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
