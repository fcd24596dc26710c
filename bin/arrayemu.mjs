#!/usr/bin/env node
// Entry point: register tsx (TypeScript loader) and run the CLI.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
const code = await main(process.argv.slice(2));
process.exit(code);
