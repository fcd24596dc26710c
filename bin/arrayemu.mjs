#!/usr/bin/env node
// Entry point: register tsx (TypeScript loader) and run the CLI.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
// The benchmarks (bench/) sit above src: the CLI is handed a loader for them, never imports them.
const code = await main(process.argv.slice(2), { loadBench: () => import('../bench/bench.ts') });
process.exit(code);
