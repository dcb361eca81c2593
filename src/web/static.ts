/**
 * The pages Chorus serves (landing, demo chat, monitoring dashboard, admin), built by scripts/build-web.mjs from
 * web/ into dist/public: HTML, CSS and bundled scripts (the centrifuge SDK and the chart library included — no
 * CDN, nothing fetched at run time).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname } from 'node:path';
import type { Config } from '../config/schema.js';
import { type LandingContext, landingFeatures, renderLanding } from './landing.js';
import { pageHeaders } from './page-headers.js';
import { readPublicFile } from './public-files.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/** Which pages a listener serves: the public ones (landing, demos) and/or the admin page. */
export interface PageScope {
  public: boolean;
  admin: boolean;
}

const EVERY_PAGE: PageScope = { public: true, admin: true };

/** Page routes → file in dist/public, with the config switch that enables each. */
export function pageFor(path: string, cfg: Readonly<Config>, scope: PageScope = EVERY_PAGE): string | undefined {
  const p = path.replace(/\/+$/, '') || '/';
  // Browsers ask for /favicon.ico whatever the page declares; both names serve the same SVG, wherever pages are.
  if ((scope.public || scope.admin) && (p === '/favicon.svg' || p === '/favicon.ico')) return 'favicon.svg';
  if (scope.public) {
    if (p === '/') return 'index.html';
    if (p === '/demo/chat' && cfg.demo.enabled) return 'chat.html';
    if (p === '/demo/monitor' && cfg.demo.enabled) return 'monitor.html';
  }
  if (scope.admin && p === '/admin' && cfg.admin.enabled) return 'admin.html';
  return undefined;
}

/** One file name directly in dist/public/assets: no directories, no dot segments, no hidden files. */
const ASSET = /^\/assets\/([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+)$/;

/**
 * `path` (decoded) → the asset file it names, when this listener serves it. The bundles of a page are served
 * only where the page is: no admin code on a listener without the admin page, no demo code without the demos.
 */
export function assetFor(path: string, cfg: Readonly<Config>, scope: PageScope = EVERY_PAGE): string | undefined {
  const m = ASSET.exec(path);
  if (m === null) return undefined;
  const name = m[1] as string;
  const ext = extname(name);
  if (ext === '.html' || TYPES[ext] === undefined) return undefined;
  const page = name.slice(0, name.indexOf('.'));
  if (page === 'admin' && !(scope.admin && cfg.admin.enabled)) return undefined;
  if ((page === 'chat' || page === 'monitor') && !(scope.public && cfg.demo.enabled)) return undefined;
  if (!scope.public && !scope.admin) return undefined;
  return `assets/${name}`;
}

/** Serves a page or an asset; false when the path is not one (the caller answers 404). */
export async function serveStatic(
  req: IncomingMessage,
  res: ServerResponse,
  cfg: Readonly<Config>,
  scope: PageScope = EVERY_PAGE,
  landing: LandingContext = { dev: false },
): Promise<boolean> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  let path: string;
  try {
    path = decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/');
  } catch {
    return false; // not valid percent-encoding: no page has such a name (the server answers 400 before this)
  }
  const file = pageFor(path, cfg, scope) ?? assetFor(path, cfg, scope);
  if (file === undefined) return false;
  let body: Buffer;
  try {
    body = await readPublicFile(file);
  } catch {
    if (file.endsWith('.html')) {
      res.writeHead(503, { ...pageHeaders(req), 'content-type': 'text/plain' });
      res.end('the pages are not built: run "npm run build"\n');
      return true;
    }
    return false;
  }
  // The landing page shows only what this server offers (src/web/landing.ts).
  if (file === 'index.html') body = Buffer.from(renderLanding(body.toString('utf8'), landingFeatures(cfg, landing)));
  res.writeHead(200, {
    ...(file.endsWith('.html') ? pageHeaders(req) : { 'x-content-type-options': 'nosniff' }),
    'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
    'content-length': body.length,
    'cache-control': file.startsWith('assets/') ? 'public, max-age=300' : 'no-cache',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
}
