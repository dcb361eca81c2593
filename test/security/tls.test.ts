/**
 * TLS built in, with certificates generated for the test: the `centrifuge` SDK over wss://, the server API and
 * the pages over HTTPS; a new certificate picked up (file change, SIGHUP) while a client stays connected; mutual
 * TLS refusing a client without a certificate; the internal listener's TLS; and the Centrifugo TLS settings Chorus
 * does not implement refusing the start instead of silently serving plain HTTP.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import type { Centrifuge, PublicationContext } from 'centrifuge';
import { loadConfig } from '../../src/config/load.js';
import { buildPages } from '../helpers/browser.js';
import { once, sdk, waitFor } from '../helpers/clients.js';
import { openChannels } from '../helpers/server.js';
import { createCA, type Issued, needOpenssl, type TestCA, webSocketWith } from './certs.js';
import { rawRequest, type Served, serve } from './serve.js';

const skip = needOpenssl();
const KEY = 'tls-api-key';

/** The certificate a new TLS connection to `port` is shown (its SHA-256 fingerprint). */
function servedFingerprint(port: number, ca: string, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host, port, ca, servername: 'localhost' }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.destroy();
      resolve(fp);
    });
    s.once('error', reject);
  });
}

function channelsConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    http_api: { key: KEY },
    demo: { enabled: true },
    client: { allow_anonymous_connect_without_token: true },
    channel: { without_namespace: openChannels() },
    ...extra,
  };
}

async function publish(base: string, ca: string, channel: string, data: unknown) {
  const r = await rawRequest(base, '/api/publish', {
    method: 'POST',
    headers: { 'x-api-key': KEY },
    body: JSON.stringify({ channel, data }),
    tls: { ca },
  });
  assert.equal(r.status, 200, r.body);
}

describe('TLS on the listener', skip, () => {
  let ca: TestCA;
  let first: Issued;
  let second: Issued;
  let s: Served;
  /** The files the server reads: overwritten to rotate the certificate. */
  let certFile: string;
  let keyFile: string;
  const clients: Centrifuge[] = [];

  before(async () => {
    buildPages();
    ca = createCA();
    first = ca.issue('first');
    second = ca.issue('second');
    certFile = join(ca.dir, 'live.pem');
    keyFile = join(ca.dir, 'live.key');
    copyFileSync(first.certFile, certFile);
    copyFileSync(first.keyFile, keyFile);
    s = await serve(channelsConfig({ http_server: { tls: { enabled: true, cert_pem: certFile, key_pem: keyFile } } }));
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await s.close();
  });

  test('the SDK connects over wss://, the API and the pages answer over HTTPS', async () => {
    assert.match(s.url, /^https:\/\//);
    const c = sdk(`${s.url.replace(/^https/, 'wss')}/connection/websocket`, {
      websocket: webSocketWith({ ca: ca.ca }),
    });
    clients.push(c);
    const sub = c.newSubscription('secure');
    const got = once<PublicationContext>(sub, 'publication');
    sub.subscribe();
    c.connect();
    await once(sub, 'subscribed');
    await publish(s.url, ca.ca, 'secure', { over: 'https' });
    assert.deepEqual((await got).data, { over: 'https' });
    const page = await rawRequest(s.url, '/demo/chat', { tls: { ca: ca.ca } });
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-security-policy']), /wss:\/\//);
    assert.equal(s.server.listeners()[0]?.tls, true);
  });

  test('plain HTTP on the TLS port is refused, and so is a client that does not trust the certificate', async () => {
    const plain = await rawRequest(s.url.replace(/^https/, 'http'), '/info').catch((e: Error) => e);
    assert.ok(plain instanceof Error || plain.status === 400, 'no plain HTTP answer on the TLS port');
    const untrusted = await rawRequest(s.url, '/info').catch((e: Error) => e);
    assert.ok(untrusted instanceof Error, 'a self-signed CA is not trusted by default');
  });

  test('a new certificate file is picked up without dropping the connected client', async () => {
    const port = Number(new URL(s.url).port);
    assert.equal(await servedFingerprint(port, ca.ca), first.fingerprint);
    const c = clients[0] as Centrifuge;
    let dropped = 0;
    c.on('disconnected', () => dropped++);
    c.on('connecting', () => dropped++);
    copyFileSync(second.keyFile, keyFile);
    copyFileSync(second.certFile, certFile);
    await waitFor(async () => (await servedFingerprint(port, ca.ca)) === second.fingerprint, 10_000, 'the new cert');
    assert.ok(
      s.log.lines.some((l) => /TLS certificate reloaded/.test(l.msg)),
      'the reload is logged',
    );
    // The client connected before the change is still connected and still receives.
    const sub = c.getSubscription('secure');
    assert.ok(sub, 'still subscribed');
    const got = once<PublicationContext>(sub, 'publication');
    await publish(s.url, ca.ca, 'secure', { after: 'reload' });
    assert.deepEqual((await got).data, { after: 'reload' });
    assert.equal(dropped, 0, 'no disconnect, no reconnect');
    assert.equal(c.state, 'connected');
  });

  test('a broken certificate file is refused and the previous one stays in use', async () => {
    const port = Number(new URL(s.url).port);
    writeFileSync(keyFile, first.key); // does not match the certificate in place (second)
    await waitFor(
      () => s.log.lines.some((l) => l.level === 'error' && /TLS certificate reload failed/.test(l.msg)),
      10_000,
      'the failed reload in the log',
    );
    assert.equal(await servedFingerprint(port, ca.ca), second.fingerprint, 'still the last good certificate');
    writeFileSync(keyFile, second.key);
    assert.equal(s.server.reloadTls('test'), true, 'a valid pair loads again');
  });
});

describe('PEM data forms (Centrifugo PEMData)', skip, () => {
  test('PEM text, base64 PEM and a file path all work', async () => {
    const ca = createCA();
    const cert = ca.issue('forms');
    for (const [form, tls] of [
      ['text', { cert_pem: cert.cert, key_pem: cert.key }],
      [
        'base64',
        { cert_pem: Buffer.from(cert.cert).toString('base64'), key_pem: Buffer.from(cert.key).toString('base64') },
      ],
      ['file', { cert_pem: cert.certFile, key_pem: cert.keyFile }],
    ] as const) {
      const s = await serve({ http_server: { tls: { enabled: true, ...tls } } });
      try {
        const port = Number(new URL(s.url).port);
        assert.equal(await servedFingerprint(port, ca.ca), cert.fingerprint, form);
      } finally {
        await s.close();
      }
    }
  });
});

describe('mutual TLS (client_ca_pem)', skip, () => {
  let ca: TestCA;
  let clientCA: TestCA;
  let s: Served;
  before(async () => {
    ca = createCA();
    clientCA = createCA('Chorus test client CA');
    const cert = ca.issue('mtls-server');
    s = await serve(
      channelsConfig({
        http_server: {
          tls: { enabled: true, cert_pem: cert.certFile, key_pem: cert.keyFile, client_ca_pem: clientCA.caFile },
        },
      }),
    );
  });
  after(() => s.close());

  test('a client without a certificate is refused; one signed by the client CA gets through', async () => {
    const none = await rawRequest(s.url, '/info', { tls: { ca: ca.ca } }).catch((e: Error) => e);
    assert.ok(none instanceof Error, `no client certificate: refused (${JSON.stringify(none)})`);
    const stranger = createCA('someone else').issue('stranger', 'client');
    const foreign = await rawRequest(s.url, '/info', {
      tls: { ca: ca.ca, cert: stranger.cert, key: stranger.key },
    }).catch((e: Error) => e);
    assert.ok(foreign instanceof Error, 'a certificate from another CA: refused');
    const mine = clientCA.issue('client', 'client');
    const ok = await rawRequest(s.url, '/info', { tls: { ca: ca.ca, cert: mine.cert, key: mine.key } });
    assert.equal(ok.status, 200);
    assert.equal(s.server.listeners()[0]?.mutual, true);
  });

  test('the SDK with a client certificate connects over wss://; without one it cannot', async () => {
    const wss = `${s.url.replace(/^https/, 'wss')}/connection/websocket`;
    const mine = clientCA.issue('sdk-client', 'client');
    const good = sdk(wss, { websocket: webSocketWith({ ca: ca.ca, cert: mine.cert, key: mine.key }) });
    const connected = once(good, 'connected');
    good.connect();
    await connected;
    good.disconnect();
    const bad = sdk(wss, { websocket: webSocketWith({ ca: ca.ca }) });
    let opened = false;
    bad.on('connected', () => {
      opened = true;
    });
    const tried = once(bad, 'connecting');
    bad.connect();
    await tried;
    await new Promise((r) => setTimeout(r, 500));
    bad.disconnect();
    assert.equal(opened, false, 'never connected without a client certificate');
  });
});

describe('TLS with the internal port', skip, () => {
  test('tls covers both listeners; tls_external keeps the internal one plain; internal_tls gives it its own', async () => {
    const ca = createCA();
    const pub = ca.issue('public');
    const inner = ca.issue('internal');
    const tls = { enabled: true, cert_pem: pub.certFile, key_pem: pub.keyFile };
    const both = await serve({ http_server: { internal_port: 0, tls } });
    try {
      assert.match(both.internalUrl as string, /^https:/);
      assert.equal(await servedFingerprint(Number(new URL(both.internalUrl as string).port), ca.ca), pub.fingerprint);
    } finally {
      await both.close();
    }
    const external = await serve({ http_server: { internal_port: 0, tls, tls_external: true } });
    try {
      assert.match(external.url, /^https:/);
      assert.match(external.internalUrl as string, /^http:/);
      assert.equal((await rawRequest(external.internalUrl as string, '/health')).status, 200);
    } finally {
      await external.close();
    }
    const own = await serve({
      http_server: {
        internal_port: 0,
        tls,
        internal_tls: { enabled: true, cert_pem: inner.certFile, key_pem: inner.keyFile },
      },
    });
    try {
      assert.equal(await servedFingerprint(Number(new URL(own.url).port), ca.ca), pub.fingerprint);
      assert.equal(await servedFingerprint(Number(new URL(own.internalUrl as string).port), ca.ca), inner.fingerprint);
    } finally {
      await own.close();
    }
  });
});

describe('TLS settings that cannot be honoured refuse the start', skip, () => {
  test('tls.enabled without a certificate, a missing file, a key that does not match: the key is named', () => {
    assert.throws(
      () => loadConfig({ base: { http_server: { tls: { enabled: true } } } }),
      /http_server\.tls\.cert_pem and http_server\.tls\.key_pem must be set when http_server\.tls\.enabled/,
    );
    assert.throws(
      () =>
        loadConfig({ base: { http_server: { tls: { enabled: true, cert_pem: '/nope.pem', key_pem: '/nope.key' } } } }),
      /http_server\.tls\.cert_pem: not PEM text, base64-encoded PEM, or the path of a readable file \("\/nope\.pem" does not exist\)/,
    );
    const ca = createCA();
    const a = ca.issue('a');
    const b = ca.issue('b');
    assert.throws(
      () => loadConfig({ base: { http_server: { tls: { enabled: true, cert_pem: a.certFile, key_pem: b.keyFile } } } }),
      /http_server\.tls: the certificate and key cannot be used together .*check http_server\.tls\.key_pem/,
    );
    assert.throws(
      () =>
        loadConfig({
          base: {
            http_server: { internal_port: 9001, internal_tls: { enabled: true, cert_pem: 'garbage', key_pem: 'x' } },
          },
        }),
      /http_server\.internal_tls\.cert_pem/,
    );
  });

  test('ACME autocert is refused naming the key and the alternative; client-side keys warn', () => {
    assert.throws(
      () => loadConfig({ base: { http_server: { tls_autocert: { enabled: true, host_whitelist: ['example.com'] } } } }),
      /http_server\.tls_autocert .*not built into Chorus.*http_server\.tls\.cert_pem/,
    );
    assert.throws(() => loadConfig({ env: {}, base: { http_server: { tls_autocert: { enabled: true } } } }), /certbot/);
    const off = loadConfig({ base: { http_server: { tls_autocert: { enabled: false, cache_dir: '/tmp' } } } });
    assert.ok(
      off.warnings.some((w) => w.includes('http_server.tls_autocert')),
      'autocert switched off: a warning only',
    );
    const ca = createCA();
    const cert = ca.issue('warn');
    const { warnings } = loadConfig({
      base: {
        http_server: {
          tls: { enabled: true, cert_pem: cert.certFile, key_pem: cert.keyFile, insecure_skip_verify: true },
        },
      },
    });
    assert.ok(
      warnings.some((w) => /"http_server\.tls\.insecure_skip_verify" only applies to outgoing/.test(w)),
      JSON.stringify(warnings),
    );
    const plain = loadConfig({ base: { http_server: { tls: { cert_pem: cert.certFile, key_pem: cert.keyFile } } } });
    assert.ok(
      plain.warnings.some((w) => /http_server\.tls\.enabled is false: that listener serves plain HTTP/.test(w)),
      'a certificate without tls.enabled warns that the listener is plain',
    );
  });
});

describe('chorus serve with TLS (the real CLI)', skip, () => {
  let child: ChildProcess | undefined;
  after(() => {
    if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
  });

  test('prints https:// and wss://, reloads on SIGHUP, and a config with autocert does not start', async () => {
    const ca = createCA();
    const a = ca.issue('cli-a');
    const b = ca.issue('cli-b');
    const cert = join(ca.dir, 'cli.pem');
    const key = join(ca.dir, 'cli.key');
    copyFileSync(a.certFile, cert);
    copyFileSync(a.keyFile, key);
    const config = join(ca.dir, 'config.json');
    writeFileSync(config, JSON.stringify({ http_server: { tls: { enabled: true, cert_pem: cert, key_pem: key } } }));
    const cli = ['--import', 'tsx', new URL('../../src/cli/run.ts', import.meta.url).pathname, 'serve'];
    child = spawn(process.execPath, [...cli, '--config', config, '--port', '0', '--address', '127.0.0.1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CHORUS_LOG_LEVEL: 'info' },
    });
    let out = '';
    child.stdout?.on('data', (d) => {
      out += d;
    });
    child.stderr?.on('data', (d) => {
      out += d;
    });
    await waitFor(() => /listening on https:\/\//.test(out), 20_000, 'the listening line');
    const port = Number(/listening on https:\/\/[^:]+:(\d+)/.exec(out)?.[1]);
    assert.match(out, /WebSocket endpoint: wss:\/\/127\.0\.0\.1:\d+\/connection\/websocket/);
    assert.equal(await servedFingerprint(port, ca.ca), a.fingerprint);
    // Replace the files and signal at once: SIGHUP reloads without waiting for the file watch.
    copyFileSync(b.keyFile, key);
    copyFileSync(b.certFile, cert);
    child.kill('SIGHUP');
    await waitFor(() => /SIGHUP: reloading the TLS certificates/.test(out), 5000, 'the SIGHUP line');
    await waitFor(async () => (await servedFingerprint(port, ca.ca)) === b.fingerprint, 5000, 'the new certificate');
    assert.equal(child.exitCode, null, 'SIGHUP does not stop the server');
    const exited = new Promise((r) => child?.once('exit', r));
    child.kill('SIGTERM');
    await exited;

    const refused = join(ca.dir, 'autocert.json');
    writeFileSync(refused, JSON.stringify({ http_server: { tls_autocert: { enabled: true } } }));
    const r = spawn(process.execPath, [...cli, '--config', refused, '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    r.stderr?.on('data', (d) => {
      err += d;
    });
    const code = await new Promise((res) => r.once('exit', res));
    assert.equal(code, 1, 'it does not start');
    assert.match(err, /http_server\.tls_autocert/);
  });
});
