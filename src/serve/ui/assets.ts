// The live view's page and its scripts, served by the array (no CDN: uPlot is read from the
// project's node_modules, installed from the npm registry with everything else). Read once, kept.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const STATIC_DIR = join(dirname(fileURLToPath(import.meta.url)), 'static');
const require = createRequire(import.meta.url);
const UPLOT_DIR = dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));

const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: join(STATIC_DIR, 'index.html'), type: 'text/html; charset=utf-8' },
  '/ui/app.js': { file: join(STATIC_DIR, 'app.js'), type: 'text/javascript; charset=utf-8' },
  '/ui/app.css': { file: join(STATIC_DIR, 'app.css'), type: 'text/css; charset=utf-8' },
  '/ui/uPlot.iife.min.js': { file: join(UPLOT_DIR, 'uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/ui/uPlot.min.css': { file: join(UPLOT_DIR, 'uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

const cache = new Map<string, Buffer>();

/** Answer a GET of the page or one of its assets; false if `req` asks for something else. */
export function serveAsset(req: IncomingMessage, res: ServerResponse, path: string): boolean {
  const asset = req.method === 'GET' ? uiAsset(path) : undefined;
  if (!asset) return false;
  res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache' });
  res.end(asset.body);
  return true;
}

/** The page or asset at `path` (GET), or undefined if there is none. */
function uiAsset(path: string): { body: Buffer; type: string } | undefined {
  const f = FILES[path];
  if (!f) return undefined;
  let body = cache.get(path);
  if (!body) cache.set(path, (body = readFileSync(f.file)));
  return { body, type: f.type };
}
