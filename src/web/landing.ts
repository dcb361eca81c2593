/**
 * The landing page (/) matches the server it is served by: web/pages/index.html marks optional parts with
 * `<!-- if:FEATURE -->…<!-- /if:FEATURE -->` (`if:!FEATURE` for the opposite), and a part shows only when its
 * feature is on here — links to the demo pages only with `demo.enabled`, to the admin page only with
 * `admin.enabled` and served on this listener (not moved to `http_server.internal_port`), the `npm start` hints
 * only under the development preset, a token in the snippets only when anonymous connections are off. A
 * production server thus never links to pages that answer 404.
 */
import type { Config } from '../config/schema.js';

export interface LandingContext {
  /** Served by `chorus serve --dev` (`npm start`): the development preset's hints apply. */
  dev: boolean;
  /** What the listener serving the page serves too (all of it without `http_server.internal_port`). */
  endpoints?: { admin: boolean; metrics: boolean; api: boolean };
}

export function landingFeatures(cfg: Readonly<Config>, ctx: LandingContext): Record<string, boolean> {
  const here = ctx.endpoints ?? { admin: true, metrics: true, api: true };
  return {
    dev: ctx.dev,
    demo: cfg.demo.enabled,
    admin: cfg.admin.enabled && here.admin,
    metrics: cfg.prometheus.enabled && here.metrics,
    api: !cfg.http_api.disabled && here.api,
    anonymous: cfg.client.allow_anonymous_connect_without_token || cfg.client.insecure,
  };
}

const BLOCK = /<!-- if:(!?)([a-z]+) -->([\s\S]*?)<!-- \/if:\1\2 -->/g;

/** The page with each conditional part kept (without its markers) or removed. */
export function renderLanding(html: string, features: Record<string, boolean>): string {
  let out = html;
  // Parts may nest: repeat until no marker is left.
  for (let i = 0; i < 5 && out.includes('<!-- if:'); i++) {
    out = out.replace(BLOCK, (_all, not: string, name: string, body: string) => {
      if (!(name in features)) throw new Error(`landing page: unknown feature "${name}"`);
      return features[name] === (not === '') ? body : '';
    });
  }
  return out;
}
