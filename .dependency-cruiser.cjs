// The house's layers, held by dependency-cruiser (`npm run lint`). Bottom up:
//   src/shared (tables, layouts, config, messages, scheduler)
//   → the actors (src/host-adapter, src/disk-adapter, src/service-processor)
//   → src/runtime (assembles and hosts the actors: threads or inline)
//   → the host side (src/host), the stress harness (src/stress), the CLI (src/cli.ts, src/demo.ts)
//   → bench/ (the CLI may load it; it never imports the CLI).
/** @type {import('dependency-cruiser').IConfiguration} */
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
      name: 'actors-stay-below-the-runtime',
      severity: 'error',
      comment: 'An actor never imports the runtime, the host side, the stress harness, the CLI or another actor.',
      from: { path: '^src/(host-adapter|disk-adapter|service-processor)/' },
      to: { path: '^(src/(runtime|host|stress)/|src/cli\\.ts|src/demo\\.ts|bench/)' },
    },
    {
      name: 'actors-do-not-import-each-other',
      severity: 'error',
      comment: 'Actors talk in messages and shared tables, not by importing one another.',
      from: { path: '^src/(host-adapter|disk-adapter|service-processor)/' },
      to: { path: '^src/(host-adapter|disk-adapter|service-processor)/', pathNot: '^src/$1/' },
    },
    {
      name: 'runtime-below-the-host-side',
      severity: 'error',
      comment: 'The runtime hosts actors; it knows nothing of workloads, stress or the CLI.',
      from: { path: '^src/runtime/' },
      to: { path: '^(src/(host|stress)/|src/cli\\.ts|src/demo\\.ts|bench/)' },
    },
    {
      name: 'host-side-below-stress-and-cli',
      severity: 'error',
      comment: 'The host side (workloads, verifier, clients) does not import the stress harness, the CLI or the bench.',
      from: { path: '^src/host/' },
      to: { path: '^(src/stress/|src/cli\\.ts|src/demo\\.ts|bench/)' },
    },
    {
      name: 'nothing-imports-the-cli',
      severity: 'error',
      comment: 'The CLI is the top floor: only bin/ loads it.',
      from: { pathNot: '^(bin/|src/cli\\.ts$)' },
      to: { path: '^src/cli\\.ts$' },
    },
    {
      name: 'src-does-not-import-tests',
      severity: 'error',
      from: { path: '^(src|bench)/' },
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
