/**
 * The pages Chorus serves (landing, demo chat, monitoring dashboard, admin), built by scripts/build-web.mjs from
 * web/ into dist/public: HTML, CSS and bundled scripts (the centrifuge SDK and the chart library included — no
 * CDN, nothing fetched at run time).
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize } from 'node:path';
import type { Config } from '../config/schema.js';

/** dist/public, from src/web (tsx) and dist/web (compiled) alike: both sit two levels below the package root. */
const PUBLIC = new URL('../../dist/public/', import.meta.url).pathname;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/** Page routes → HTML file in dist/public, with the config switch that enables each. */
export function pageFor(path: string, cfg: Readonly<Config>): string | undefined {
  const p = path.replace(/\/+$/, '') || '/';
  if (p === '/') return 'index.html';
  if (p === '/demo/chat' && cfg.demo.enabled) return 'chat.html';
  if (p === '/demo/monitor' && cfg.demo.enabled) return 'monitor.html';
  if (p === '/admin' && cfg.admin.enabled) return 'admin.html';
  return undefined;
}

/** Serves a page or an asset; false when the path is not one (the caller answers 404). */
export async function serveStatic(req: IncomingMessage, res: ServerResponse, cfg: Readonly<Config>): Promise<boolean> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  let path: string;
  try {
    path = decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/');
  } catch {
    return false; // not valid percent-encoding: no page has such a name (the server answers 400 before this)
  }
  let file = pageFor(path, cfg);
  if (file === undefined && path.startsWith('/assets/')) file = normalize(path.slice(1));
  if (file === undefined || file.startsWith('..')) return false;
  let body: Buffer;
  try {
    body = await readFile(join(PUBLIC, file));
  } catch {
    if (file.endsWith('.html')) {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('the pages are not built: run "npm run build"\n');
      return true;
    }
    return false;
  }
  res.writeHead(200, {
    'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
    'content-length': body.length,
    'cache-control': file.startsWith('assets/') ? 'public, max-age=300' : 'no-cache',
    'x-content-type-options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
}
