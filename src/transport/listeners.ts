/**
 * The HTTP(S) servers behind the listener plan: one per bound host (the address "localhost" binds both 127.0.0.1
 * and ::1), HTTPS where the plan has TLS. Certificates given as files are watched; a change — or `reloadTls()`,
 * which `chorus serve` calls on SIGHUP — installs the new certificate with `setSecureContext`: new connections
 * get it, established ones carry on untouched. A certificate that fails to load (half-written, key not matching
 * yet) is logged and the previous one stays in use.
 */
import { type StatsListener, unwatchFile, watchFile } from 'node:fs';
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { loadListenerTls } from '../config/tls.js';
import type { Log } from '../core/ports/log.js';
import { describeEndpoints, hostsFor, type ListenerPlan, type ListenerRole } from './listen-plan.js';

/** How often watched certificate files are checked for a change. */
const WATCH_INTERVAL_MS = 1000;
/** Writers replace the certificate and the key one after the other: reload once both are likely there. */
const RELOAD_DEBOUNCE_MS = 250;

export interface ListenerInfo {
  role: ListenerRole;
  /** Base URL to print, e.g. "https://localhost:8000". */
  url: string;
  port: number;
  addresses: AddressInfo[];
  /** What it serves, e.g. "websocket, pages". */
  serves: string;
  tls: boolean;
  /** TLS with client certificates required. */
  mutual: boolean;
}

interface Open {
  plan: ListenerPlan;
  servers: Server[];
  addresses: AddressInfo[];
  mutual: boolean;
}

export class Listeners {
  private readonly open: Open[];
  private readonly watched = new Map<string, StatsListener>();
  private reloadTimer: NodeJS.Timeout | undefined;

  constructor(
    plans: ListenerPlan[],
    handlerFor: (plan: ListenerPlan) => RequestListener,
    wire: (server: Server, plan: ListenerPlan) => void,
    private readonly log: Log,
  ) {
    this.open = plans.map((plan) => {
      const tls = plan.tls === undefined ? undefined : loadListenerTls(plan.tls.config, plan.tls.section);
      const servers = hostsFor(plan.address).map(() => {
        const handler = handlerFor(plan);
        const server: Server =
          tls === undefined
            ? createHttpServer(handler)
            : (createHttpsServer(
                {
                  ...tls.context,
                  minVersion: 'TLSv1.2',
                  requestCert: tls.mutual,
                  rejectUnauthorized: tls.mutual,
                },
                handler,
              ) as unknown as Server);
        if (tls !== undefined) {
          server.on('tlsClientError', (err: Error) => {
            this.log.debug({ err: err.message, listener: plan.role }, 'TLS handshake refused');
          });
        }
        wire(server, plan);
        return server;
      });
      return { plan, servers, addresses: [], mutual: tls?.mutual ?? false };
    });
  }

  /** The first server of the public listener (what embedding code and tests used as "the" server). */
  get primary(): Server {
    return (this.open[0] as Open).servers[0] as Server;
  }

  get all(): Server[] {
    return this.open.flatMap((o) => o.servers);
  }

  async listen(): Promise<void> {
    try {
      for (const o of this.open) await this.listenAll(o);
    } catch (e) {
      await this.close();
      throw e;
    }
    this.watchCertificates();
  }

  /** Binds every host of one listener on one port (with port 0, the one the first host got). */
  private async listenAll(o: Open, attempt = 1): Promise<void> {
    const hosts = hostsFor(o.plan.address);
    let port = o.plan.port;
    for (const [i, host] of hosts.entries()) {
      const server = o.servers[i] as Server;
      try {
        o.addresses.push(await listenOn(server, port, host));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // "localhost" on a machine without IPv6: 127.0.0.1 alone is still loopback only.
        if (i > 0 && (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT')) {
          this.log.debug({ host, code }, 'loopback address not available: skipped');
          continue;
        }
        // Port 0: the port the first host got may be taken on the next one; pick another for all.
        if (i > 0 && code === 'EADDRINUSE' && o.plan.port === 0 && attempt < 5) {
          await Promise.all(o.servers.map((s) => (s.listening ? new Promise((r) => s.close(r)) : undefined)));
          o.addresses.length = 0;
          return this.listenAll(o, attempt + 1);
        }
        throw e;
      }
      port = (o.addresses[0] as AddressInfo).port;
    }
  }

  info(): ListenerInfo[] {
    return this.open.map((o) => {
      const port = o.addresses[0]?.port ?? o.plan.port;
      const scheme = o.plan.tls === undefined ? 'http' : 'https';
      return {
        role: o.plan.role,
        url: `${scheme}://${displayHost(o.plan.address)}:${port}`,
        port,
        addresses: [...o.addresses],
        serves: describeEndpoints(o.plan.endpoints),
        tls: o.plan.tls !== undefined,
        mutual: o.mutual,
      };
    });
  }

  get hasTls(): boolean {
    return this.open.some((o) => o.plan.tls !== undefined);
  }

  /**
   * Reads every listener's certificate again and installs it for new connections. Returns false when one
   * failed to load (it is logged; that listener keeps its previous certificate).
   */
  reloadTls(reason: string): boolean {
    let ok = true;
    for (const o of this.open) {
      if (o.plan.tls === undefined) continue;
      try {
        const tls = loadListenerTls(o.plan.tls.config, o.plan.tls.section);
        for (const s of o.servers) (s as unknown as HttpsServer).setSecureContext(tls.context);
        this.log.info({ listener: o.plan.role, reason }, `TLS certificate reloaded (${o.plan.tls.section})`);
      } catch (e) {
        ok = false;
        this.log.error(
          { listener: o.plan.role, reason, err: (e as Error).message },
          'TLS certificate reload failed: the previous certificate stays in use until a valid one is in place',
        );
      }
    }
    return ok;
  }

  private watchCertificates(): void {
    const files = new Set<string>();
    for (const o of this.open) {
      if (o.plan.tls === undefined) continue;
      for (const f of loadListenerTls(o.plan.tls.config, o.plan.tls.section).files) files.add(f);
    }
    for (const file of files) {
      const listener: StatsListener = (cur, prev) => {
        if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size && cur.ino === prev.ino) return;
        if (this.reloadTimer !== undefined) clearTimeout(this.reloadTimer);
        this.reloadTimer = setTimeout(() => {
          this.reloadTimer = undefined;
          this.reloadTls(`${file} changed`);
        }, RELOAD_DEBOUNCE_MS);
        this.reloadTimer.unref();
      };
      watchFile(file, { interval: WATCH_INTERVAL_MS, persistent: false }, listener);
      this.watched.set(file, listener);
    }
  }

  closeIdleConnections(): void {
    for (const s of this.all) s.closeIdleConnections();
  }

  /** Ends every connection still open, including ones that never sent a request (the last step of a shutdown). */
  closeAllConnections(): void {
    for (const s of this.all) s.closeAllConnections();
  }

  /** Stops accepting; resolves once every server has closed (open connections must be ended by the caller). */
  async close(): Promise<void> {
    for (const [file, listener] of this.watched) unwatchFile(file, listener);
    this.watched.clear();
    if (this.reloadTimer !== undefined) clearTimeout(this.reloadTimer);
    await Promise.all(
      this.all.map((s) => (s.listening ? new Promise<void>((r) => s.close(() => r())) : Promise.resolve())),
    );
  }
}

function listenOn(server: Server, port: number, host: string | undefined): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

function displayHost(address: string): string {
  if (address === '' || address === '0.0.0.0' || address === '::') return 'localhost';
  if (address.includes(':') && !address.startsWith('[')) return `[${address}]`;
  return address;
}
