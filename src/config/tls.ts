/**
 * TLS of Chorus's own listeners (`http_server.tls`, `http_server.internal_tls`): reading Centrifugo's PEMData
 * values and turning a section into what node:tls takes. Used at config validation (so `checkconfig` and the
 * start refuse a bad certificate with the key named) and by the listeners, which call it again on reload.
 */
import { readFileSync, statSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Config } from './schema.js';

export type ListenerTlsConfig = Config['http_server']['tls'];

const PEM_BLOCK = /-----BEGIN [A-Z0-9 ]+-----[\s\S]+?-----END [A-Z0-9 ]+-----/;
const BASE64 = /^[A-Za-z0-9+/=\s]+$/;

export interface LoadedPem {
  pem: string;
  /** The file it came from, when the value is a path (watched for changes). */
  file?: string;
}

/**
 * Centrifugo's PEMData, tried in its order: the PEM text itself, the PEM text base64-encoded, the path of a file
 * holding PEM text. Throws an error whose message names `key`.
 */
export function loadPem(value: string, key: string): LoadedPem {
  if (PEM_BLOCK.test(value)) return { pem: value };
  if (BASE64.test(value) && value.length >= 16) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    if (PEM_BLOCK.test(decoded)) return { pem: decoded };
  }
  let isFile = false;
  try {
    isFile = statSync(value).isFile();
  } catch {
    // not a path: reported below
  }
  if (!isFile) {
    throw new Error(
      `${key}: not PEM text, base64-encoded PEM, or the path of a readable file` +
        (value.length < 256 && !value.includes('\n') ? ` ("${value}" does not exist)` : ''),
    );
  }
  let text: string;
  try {
    text = readFileSync(value, 'utf8');
  } catch (e) {
    throw new Error(`${key}: cannot read ${value}: ${(e as Error).message}`);
  }
  if (!PEM_BLOCK.test(text)) throw new Error(`${key}: ${value} holds no PEM data`);
  return { pem: text, file: value };
}

export interface ListenerTls {
  /** For https.createServer and server.setSecureContext. */
  context: SecureContextOptions;
  /** Mutual TLS: clients must present a certificate signed by `client_ca_pem`. */
  mutual: boolean;
  /** The PEM files the section reads (watched: a change reloads the certificate). */
  files: string[];
}

/**
 * Reads a TLS section (`section` is its key, e.g. "http_server.tls") and checks that the key matches the
 * certificate. Throws an error naming the key at fault.
 */
export function loadListenerTls(cfg: ListenerTlsConfig, section: string): ListenerTls {
  if (cfg.cert_pem === '' || cfg.key_pem === '') {
    throw new Error(`${section}.cert_pem and ${section}.key_pem must be set when ${section}.enabled`);
  }
  const cert = loadPem(cfg.cert_pem, `${section}.cert_pem`);
  const key = loadPem(cfg.key_pem, `${section}.key_pem`);
  const ca = cfg.client_ca_pem === '' ? undefined : loadPem(cfg.client_ca_pem, `${section}.client_ca_pem`);
  const context: SecureContextOptions = { cert: cert.pem, key: key.pem };
  if (ca !== undefined) context.ca = ca.pem;
  try {
    createSecureContext(context);
  } catch (e) {
    const message = (e as Error).message;
    const which = /key/i.test(message) ? `${section}.key_pem` : `${section}.cert_pem`;
    throw new Error(
      `${section}: the certificate and key cannot be used together (${message}); check ${which}` +
        (ca !== undefined ? ` and ${section}.client_ca_pem` : ''),
    );
  }
  const files = [cert.file, key.file, ca?.file].filter((f): f is string => f !== undefined);
  return { context, mutual: ca !== undefined, files };
}

/** Problems of the listeners' TLS sections (unreadable PEM, a key that does not match …), keys named. */
export function listenerTlsProblems(cfg: Config): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  const hs = cfg.http_server;
  for (const [section, tls] of [
    ['http_server.tls', hs.tls],
    ['http_server.internal_tls', hs.internal_tls],
  ] as const) {
    if (tls.enabled) {
      try {
        loadListenerTls(tls, section);
      } catch (e) {
        errors.push((e as Error).message);
      }
    } else if (tls.cert_pem !== '' || tls.key_pem !== '') {
      warnings.push(
        `${section}.cert_pem/key_pem are set but ${section}.enabled is false: that listener serves plain HTTP`,
      );
    }
  }
  if (hs.internal_tls.enabled && hs.internal_port === undefined) {
    warnings.push('http_server.internal_tls.enabled has no effect without http_server.internal_port');
  }
  if (hs.tls_external && hs.internal_port === undefined) {
    warnings.push('http_server.tls_external has no effect without http_server.internal_port');
  }
  return { errors, warnings };
}
