/**
 * Certificates made for a test with openssl (EC P-256, a throw-away CA): server certificates for localhost,
 * 127.0.0.1 and ::1, and client certificates for mutual TLS. Never committed; written to a temporary directory.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket, { type ClientOptions } from 'ws';

export function needOpenssl(): { skip?: string } {
  if (spawnSync('openssl', ['version']).status === 0) return {};
  const why = 'openssl is not installed';
  if (process.env.CI === 'true') throw new Error(`${why}: CI requires it`);
  console.warn(`\n!!!!! SKIPPING the TLS suites: ${why} !!!!!\n`);
  return { skip: why };
}

export interface Issued {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
  /** SHA-256 fingerprint, as tls.TLSSocket#getPeerCertificate reports it. */
  fingerprint: string;
}

export interface TestCA {
  dir: string;
  caFile: string;
  ca: string;
  /** A certificate signed by this CA; `kind` "server" (names localhost, 127.0.0.1, ::1) or "client". */
  issue(name: string, kind?: 'server' | 'client'): Issued;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

export function createCA(label = 'Chorus test CA'): TestCA {
  const dir = mkdtempSync(join(tmpdir(), 'chorus-tls-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', `/CN=${label}`]);
  const caFile = join(dir, 'ca.pem');
  return {
    dir,
    caFile,
    ca: readFileSync(caFile, 'utf8'),
    issue(name, kind = 'server') {
      const ext = join(dir, `${name}.ext`);
      writeFileSync(
        ext,
        kind === 'server'
          ? 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n'
          : 'extendedKeyUsage=clientAuth\n',
      );
      openssl(dir, ['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
      openssl(dir, [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-days',
        '2',
        '-out',
        `${name}.pem`,
        '-extfile',
        ext,
      ]);
      const certFile = join(dir, `${name}.pem`);
      const keyFile = join(dir, `${name}.key`);
      const cert = readFileSync(certFile, 'utf8');
      return {
        certFile,
        keyFile,
        cert,
        key: readFileSync(keyFile, 'utf8'),
        fingerprint: new X509Certificate(cert).fingerprint256,
      };
    },
  };
}

/** A `ws` WebSocket class with TLS options baked in (the centrifuge SDK constructs it with the URL only). */
export function webSocketWith(opts: ClientOptions): typeof WebSocket {
  return class extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, opts);
    }
  } as typeof WebSocket;
}
