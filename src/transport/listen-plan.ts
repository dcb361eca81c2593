/**
 * Which listeners Chorus opens and what each serves, from `http_server.*` — as Centrifugo v6 lays them out.
 * Without `internal_port` one listener serves everything. With it, the public listener serves what clients
 * need (WebSocket, the pages, `/info`) and the internal one what only operators and backends need: the server
 * API (unless `http_api.external`), the admin page (unless `admin.external`), `/metrics`, `/health`, `/ready`.
 * TLS: `http_server.tls` on both, unless `tls_external` keeps it to the public one; `internal_tls` replaces it on
 * the internal listener.
 */
import type { Config } from '../config/schema.js';
import type { ListenerTlsConfig } from '../config/tls.js';

export type ListenerRole = 'public' | 'internal';

export interface Endpoints {
  /** The client endpoint /connection/websocket. */
  websocket: boolean;
  /** The landing page, the demo pages and /info. */
  pages: boolean;
  api: boolean;
  /** The admin page and /admin/api. */
  admin: boolean;
  metrics: boolean;
  /** /health and /ready. */
  health: boolean;
}

export interface ListenerPlan {
  role: ListenerRole;
  /** As configured: "" every interface, "localhost" both loopback addresses. */
  address: string;
  port: number;
  tls?: { config: ListenerTlsConfig; section: string };
  endpoints: Endpoints;
}

export function planListeners(cfg: Readonly<Config>): ListenerPlan[] {
  const hs = cfg.http_server;
  const publicTls = hs.tls.enabled ? { config: hs.tls, section: 'http_server.tls' } : undefined;
  const internalAddress = hs.internal_address !== '' ? hs.internal_address : hs.address;
  const separate =
    hs.internal_port !== undefined &&
    !(hs.internal_port === hs.port && internalAddress === hs.address && hs.port !== 0);
  if (!separate) {
    return [
      {
        role: 'public',
        address: hs.address,
        port: hs.port,
        tls: publicTls,
        endpoints: { websocket: true, pages: true, api: true, admin: true, metrics: true, health: true },
      },
    ];
  }
  const apiOutside = cfg.http_api.external;
  const adminOutside = cfg.admin.external;
  let internalTls: ListenerPlan['tls'];
  if (hs.internal_tls.enabled) internalTls = { config: hs.internal_tls, section: 'http_server.internal_tls' };
  else if (!hs.tls_external) internalTls = publicTls;
  return [
    {
      role: 'public',
      address: hs.address,
      port: hs.port,
      tls: publicTls,
      endpoints: {
        websocket: true,
        pages: true,
        api: apiOutside,
        admin: adminOutside,
        metrics: false,
        health: false,
      },
    },
    {
      role: 'internal',
      address: internalAddress,
      port: hs.internal_port as number,
      tls: internalTls,
      endpoints: {
        websocket: false,
        pages: false,
        api: !apiOutside,
        admin: !adminOutside,
        metrics: true,
        health: true,
      },
    },
  ];
}

/** The hosts to bind for a configured address: "localhost" is both loopback addresses, "" every interface. */
export function hostsFor(address: string): Array<string | undefined> {
  if (address === '') return [undefined];
  if (address.toLowerCase() === 'localhost') return ['127.0.0.1', '::1'];
  return [address.replace(/^\[(.*)\]$/, '$1')];
}

/** Whether an address only accepts connections from this machine. */
export function isLoopback(address: string): boolean {
  const a = address.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return a === 'localhost' || a === '::1' || /^127\.\d+\.\d+\.\d+$/.test(a) || /^::ffff:127\./.test(a);
}

/** What a listener serves, for the start-up log. */
export function describeEndpoints(e: Endpoints): string {
  const names: string[] = [];
  if (e.websocket) names.push('websocket');
  if (e.pages) names.push('pages');
  if (e.api) names.push('api');
  if (e.admin) names.push('admin');
  if (e.metrics) names.push('metrics');
  if (e.health) names.push('health');
  return names.join(', ');
}
