// The code the actors' worker threads run (DESIGN §1, "Threads"): the actors' one entry, and the
// modules that will be loaded beside them (the NBD server in a host adapter), bundled once per
// process by esbuild into plain JavaScript, so that a thread starts without TypeScript loader
// hooks. Through tsx each thread ran every module through its own hooks thread: an array of six
// actors took 2.0-2.5 s to start, bundled 0.9-1.1 s. The bundle is written where its name is the
// hash of its content (never stale, shared by processes that build the same code), inside the
// package's node_modules so the packages it leaves out resolve as from the sources. Each source
// module keeps its own `import.meta.url`, so a file found beside its source is found still.
// ARRAYEMU_WORKER_CODE=tsx (or a bundle that cannot be built or written) runs the sources through tsx.
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { errorMessage } from '../shared/errors/errors.ts';

/** Environment variable: `tsx` runs the actors' TypeScript sources through tsx (as before the bundle). */
export const WORKER_CODE_ENV = 'ARRAYEMU_WORKER_CODE';
/** The package's root (src/runtime/../..). */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Where bundles are kept: inside node_modules, so their bare imports resolve as the sources' do. */
const CACHE_DIR = join(ROOT, 'node_modules', '.cache', 'arrayemu-workers');
/** Hex digits of the content hash in a bundle's directory name. */
const HASH_DIGITS = 16;
/** Bundles kept however old (the newest used); older ones go once unused this long (a running array may still start a thread from one). */
const BUNDLES_KEPT = 8;
const BUNDLE_UNUSED_MS = 24 * 3600_000;
/** The file every worker thread starts from (it registers tsx, then loads workerData.entry). */
const TSX_BOOTSTRAP = fileURLToPath(new URL('./worker-bootstrap.mjs', import.meta.url));
/** The actors' one entry (workerData.role says which actor it builds). */
const ACTORS_ENTRY = new URL('./worker.ts', import.meta.url).href;
/** A bundle's bootstrap: source maps for stacks, then the entry (plain JavaScript: no hooks). */
const BUNDLE_BOOTSTRAP = `import { workerData } from 'node:worker_threads';
process.setSourceMapsEnabled(true);
await import(workerData.entry);
`;

export interface WorkerCode {
  /** The file a worker thread is started from. */
  bootstrap: string;
  /** The actors' entry (a URL), as workerData.entry. */
  entry: string;
  /** Each bundled module's source URL → its bundled URL; a module not here is loaded from its source (through tsx). */
  modules: Map<string, string>;
  /** 'bundle', or why the sources run through tsx. */
  how: string;
}

function tsxCode(sources: string[], how: string): WorkerCode {
  return { bootstrap: TSX_BOOTSTRAP, entry: sources[0]!, modules: new Map(), how };
}

/** Each TypeScript source with `import.meta.url` as its own file's URL (a bundle would give the chunk's). */
const keepModuleUrls = {
  name: 'keep-module-urls',
  setup(build: {
    onLoad(o: { filter: RegExp }, f: (a: { path: string }) => { contents: string; loader: 'ts' }): void;
  }): void {
    build.onLoad({ filter: /\.ts$/ }, (a) => ({
      contents: readFileSync(a.path, 'utf8').replaceAll('import.meta.url', JSON.stringify(pathToFileURL(a.path).href)),
      loader: 'ts',
    }));
  },
};

/** Write `files` (name → text) as the directory `dir`, whole or not at all (another process may write the same). */
function writeOnce(dir: string, files: Map<string, string>): void {
  if (existsSync(dir)) return;
  const tmp = `${dir}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  try {
    for (const [name, text] of files) {
      mkdirSync(dirname(join(tmp, name)), { recursive: true });
      writeFileSync(join(tmp, name), text);
    }
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(dir)) throw err; // not another process's bundle written first: a real failure
  }
}

/** Remove bundles past the newest BUNDLES_KEPT that no process has used for BUNDLE_UNUSED_MS (never `keep`). */
function prune(keep: string): void {
  const dirs = readdirSync(CACHE_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory() && /^[0-9a-f]+$/.test(d.name))
    .map((d) => ({ path: join(CACHE_DIR, d.name), usedMs: statSync(join(CACHE_DIR, d.name)).mtimeMs }))
    .sort((a, b) => b.usedMs - a.usedMs);
  for (const d of dirs.slice(BUNDLES_KEPT))
    if (d.path !== keep && Date.now() - d.usedMs > BUNDLE_UNUSED_MS) rmSync(d.path, { recursive: true, force: true });
}

/** `sources` (URLs; the first is the entry a thread starts from) bundled into one directory. */
async function bundle(sources: string[]): Promise<WorkerCode> {
  const { build } = await import('esbuild');
  const entryPoints = Object.fromEntries(sources.map((u, i) => [`entry-${i}`, fileURLToPath(u)]));
  const out = await build({
    entryPoints,
    bundle: true,
    splitting: true, // the entries share one copy of each module (one scheduler, one ArrayError)
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    write: false,
    outdir: join(CACHE_DIR, 'out'),
    logLevel: 'silent',
    plugins: [keepModuleUrls],
  });
  const files = new Map(out.outputFiles.map((f) => [relative(join(CACHE_DIR, 'out'), f.path), f.text]));
  files.set('bootstrap.mjs', BUNDLE_BOOTSTRAP);
  const hash = createHash('sha256');
  for (const [name, text] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) hash.update(`${name}\0${text}\0`);
  const dir = join(CACHE_DIR, hash.digest('hex').slice(0, HASH_DIGITS));
  writeOnce(dir, files);
  const now = new Date();
  utimesSync(dir, now, now); // used now: pruned last
  prune(dir);
  const at = (name: string) => pathToFileURL(join(dir, name)).href;
  return {
    bootstrap: join(dir, 'bootstrap.mjs'),
    entry: at('entry-0.js'),
    modules: new Map(sources.map((u, i) => [u, at(`entry-${i}.js`)])),
    how: 'bundle',
  };
}

const built = new Map<string, Promise<WorkerCode>>();

/**
 * `sources` bundled, once per process for each list. It never fails: a bundle that cannot be built
 * or written gives the sources through tsx, with `how` saying why.
 */
function codeFor(sources: string[]): Promise<WorkerCode> {
  if (process.env[WORKER_CODE_ENV] === 'tsx') return Promise.resolve(tsxCode(sources, `${WORKER_CODE_ENV}=tsx`));
  const key = sources.join('\n');
  let code = built.get(key);
  if (!code) {
    code = bundle(sources).catch((err: unknown) =>
      tsxCode(sources, `the bundle could not be made (${errorMessage(err)}); the sources run through tsx`),
    );
    built.set(key, code);
  }
  return code;
}

/** The worker code for an array whose host adapters may load `extra` (source URLs) beside them. */
export function workerCode(extra: string[] = []): Promise<WorkerCode> {
  return codeFor([ACTORS_ENTRY, ...[...new Set(extra)].sort()]);
}

/**
 * A module that a pool's threads load (piscina's `filename`: the host processors, the stress
 * campaign's tasks), bundled the same way: its URL, and the `execArgv` its threads need (tsx's
 * loader only when it runs from its source).
 */
export async function poolModule(source: string): Promise<{ filename: string; execArgv: string[] }> {
  const url = (await codeFor([source])).modules.get(source);
  return url ? { filename: url, execArgv: [] } : { filename: source, execArgv: ['--import', 'tsx'] };
}
