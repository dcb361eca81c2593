/**
 * Centrifugo-style HTTP proxies: the app's backend decides connect, subscribe, publish and RPC. The backend here
 * is a real HTTP server on loopback; the client is the real SDK.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Centrifuge, PublicationContext } from 'centrifuge';
import WebSocket from 'ws';
import { once, sleep } from '../helpers/clients.js';
import { JSON_SDK, PROTOBUF_SDK, type SdkEncoding, sdkClient } from '../helpers/sdk-encodings.js';
import { startServer, type TestServer } from '../helpers/server.js';

/** Binary connection info (and connect data) the backend grants: not JSON. */
const BINARY_INFO = Buffer.from([0x00, 0xff, 0x10, 0x80]).toString('base64');

type Handler = (body: Record<string, unknown>, req: IncomingMessage) => unknown | Promise<unknown>;

describe('HTTP proxies', () => {
  let backend: Server;
  let base = '';
  const handlers = new Map<string, Handler>();
  const calls: Array<{ path: string; body: Record<string, unknown>; cookie?: string }> = [];
  let s: TestServer;
  const clients: Centrifuge[] = [];

  /** An SDK client whose WebSocket handshake carries a cookie (as a browser's would). */
  function withCookie(cookie: string, enc: SdkEncoding = JSON_SDK): Centrifuge {
    class CookieWebSocket extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { headers: { cookie } });
      }
    }
    const c = sdkClient(enc, s.wsUrl, { websocket: CookieWebSocket });
    clients.push(c);
    return c;
  }

  before(async () => {
    backend = createServer((req, res) => {
      let text = '';
      req.on('data', (d) => {
        text += d;
      });
      req.on('end', async () => {
        const body = JSON.parse(text) as Record<string, unknown>;
        calls.push({ path: req.url ?? '', body, cookie: req.headers.cookie });
        const h = handlers.get(req.url ?? '');
        if (h === undefined) {
          res.writeHead(404).end();
          return;
        }
        const answer = await h(body, req);
        if (answer === 'http-500') {
          res.writeHead(500).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
      });
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
    const headers = ['Cookie'];
    s = await startServer({
      client: {
        proxy: { connect: { enabled: true, endpoint: `${base}/connect`, timeout: '500ms', http_headers: headers } },
      },
      channel: {
        proxy: {
          subscribe: { endpoint: `${base}/subscribe`, http_headers: headers },
          publish: { endpoint: `${base}/publish`, http_headers: headers },
        },
        namespaces: [
          { name: 'px', subscribe_proxy_enabled: true, publish_proxy_enabled: true },
          { name: 'open', allow_subscribe_for_client: true },
        ],
      },
      rpc: {
        proxy: { endpoint: `${base}/rpc`, http_headers: headers },
        namespaces: [{ name: 'app', proxy_enabled: true }],
      },
    });
    handlers.set('/connect', (_body, req) => {
      const m = /session=(\w+)/.exec(req.headers.cookie ?? '');
      if (!m) return { disconnect: { code: 4501, reason: 'login first' } };
      if (m[1] === 'slow') return new Promise((r) => setTimeout(() => r({ result: { user: 'slow' } }), 2000));
      if (m[1] === 'broken') return 'http-500';
      if (m[1] === 'binary') return { result: { user: 'binary', b64info: BINARY_INFO, b64data: BINARY_INFO } };
      return { result: { user: m[1], info: { via: 'proxy' }, channels: ['open:welcome'] } };
    });
    handlers.set('/subscribe', (body) => {
      if (body.channel === 'px:secret') return { error: { code: 103, message: 'permission denied' } };
      return { result: { info: { room: body.channel } } };
    });
    handlers.set('/publish', (body) => {
      if (typeof body.b64data === 'string') {
        // Binary in, binary out: the backend answers the bytes reversed.
        return { result: { b64data: Buffer.from(body.b64data, 'base64').reverse().toString('base64') } };
      }
      const data = body.data as { text?: string };
      if (!data.text) return { error: { code: 107, message: 'text required' } };
      return { result: { data: { text: data.text.toUpperCase(), by: body.user } } };
    });
    handlers.set('/rpc', (body) =>
      typeof body.b64data === 'string'
        ? { result: { b64data: body.b64data } }
        : { result: { data: { method: body.method, echo: body.data, user: body.user } } },
    );
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await s.close();
    await new Promise<void>((r) => backend.close(() => r()));
  });

  test('connect: the backend authenticates from the forwarded cookie and grants server-side channels', async () => {
    const c = withCookie('session=alice');
    const welcome = once<{ channel: string }>(c, 'subscribed');
    const connected = once<{ client: string }>(c, 'connected');
    c.connect();
    await connected;
    assert.equal((await welcome).channel, 'open:welcome');
    const call = calls.find((x) => x.path === '/connect' && x.cookie === 'session=alice');
    assert.ok(call, 'the proxy saw the cookie');
    assert.equal(call.body.client !== undefined && call.body.protocol, 'json');
  });

  test('connect: a disconnect answer closes with its code; a backend failure is a temporary error (SDK retries)', async () => {
    const anon = withCookie('none=1');
    const closed = once<{ code: number; reason: string }>(anon, 'disconnected');
    anon.connect();
    const ctx = await closed;
    assert.equal(ctx.code, 4501);
    assert.equal(ctx.reason, 'login first');
    const broken = withCookie('session=broken');
    broken.connect();
    const before = calls.filter((x) => x.cookie === 'session=broken').length;
    await sleep(700);
    assert.ok(calls.filter((x) => x.cookie === 'session=broken').length > before + 1, 'the SDK retried');
    assert.equal(broken.state, 'connecting');
    broken.disconnect();
  });

  test('subscribe: the backend allows with chan_info or denies with its error', async () => {
    const c = withCookie('session=bob');
    c.connect();
    await once(c, 'connected');
    const ok = c.newSubscription('px:room');
    const okDone = once(ok, 'subscribed');
    ok.subscribe();
    await okDone;
    const presenceless = calls.filter((x) => x.path === '/subscribe' && x.body.channel === 'px:room');
    assert.equal(presenceless[0]?.body.user, 'bob');
    assert.equal(presenceless[0]?.cookie, 'session=bob');
    const denied = c.newSubscription('px:secret');
    const end = once<{ code: number }>(denied, 'unsubscribed');
    denied.subscribe();
    assert.equal((await end).code, 103);
    // A namespace without the proxy keeps its own permissions.
    const open = c.newSubscription('open:lobby');
    const openDone = once(open, 'subscribed');
    open.subscribe();
    await openDone;
  });

  test('publish: the backend transforms or rejects; subscribers get the transformed data', async () => {
    const c = withCookie('session=carol');
    c.connect();
    await once(c, 'connected');
    const sub = c.newSubscription('px:chat');
    const done = once(sub, 'subscribed');
    sub.subscribe();
    await done;
    const got = once<PublicationContext>(sub, 'publication');
    await sub.publish({ text: 'hello' });
    assert.deepEqual((await got).data, { text: 'HELLO', by: 'carol' });
    await assert.rejects(sub.publish({ nope: 1 }), (e: { code: number }) => e.code === 107);
  });

  test('rpc: methods in a proxied namespace go to the backend; others answer 108', async () => {
    const c = withCookie('session=dave');
    c.connect();
    await once(c, 'connected');
    const r = await c.rpc('app:echo', { x: 1 });
    assert.deepEqual(r.data, { method: 'app:echo', echo: { x: 1 }, user: 'dave' });
    await assert.rejects(c.rpc('other', {}), (e: { code: number }) => e.code === 108);
  });

  test('a Protobuf client: binary payloads travel as b64data both ways (protocol "protobuf", encoding "binary")', async () => {
    const c = withCookie('session=binary', PROTOBUF_SDK);
    const connected = once<{ data: Uint8Array }>(c, 'connected');
    c.connect();
    assert.deepEqual(Buffer.from((await connected).data), Buffer.from(BINARY_INFO, 'base64'));
    const sub = c.newSubscription('px:bin');
    const done = once(sub, 'subscribed');
    sub.subscribe();
    await done;
    const got = once<PublicationContext>(sub, 'publication');
    await sub.publish(Uint8Array.from([1, 2, 0xfe]));
    const pub = await got;
    assert.deepEqual(Buffer.from(pub.data as Uint8Array), Buffer.from([0xfe, 2, 1]), 'the backend reversed them');
    assert.deepEqual(Buffer.from(pub.info?.connInfo as Uint8Array), Buffer.from(BINARY_INFO, 'base64'));
    const publishCall = calls.find((x) => x.path === '/publish' && x.body.user === 'binary');
    assert.equal(publishCall?.body.protocol, 'protobuf');
    assert.equal(publishCall?.body.encoding, 'binary');
    assert.equal(publishCall?.body.b64data, Buffer.from([1, 2, 0xfe]).toString('base64'));
    assert.equal(publishCall?.body.data, undefined);
    const r = await c.rpc('app:bytes', Uint8Array.from([0x80, 0x81]));
    assert.deepEqual(Buffer.from(r.data as Uint8Array), Buffer.from([0x80, 0x81]));
    // JSON bytes from a Protobuf client still travel as JSON `data`.
    await sub.publish(new TextEncoder().encode('{"text":"hi"}'));
    const jsonCall = calls.findLast((x) => x.path === '/publish' && x.body.user === 'binary');
    assert.deepEqual(jsonCall?.body.data, { text: 'hi' });
    assert.equal(jsonCall?.body.encoding, 'json');
  });

  test('a backend slower than the proxy timeout is a temporary internal error, not a hang', async () => {
    const c = withCookie('session=slow');
    const errors: number[] = [];
    c.on('error', (ctx) => errors.push((ctx.error as { code: number }).code));
    c.connect();
    await sleep(1200);
    assert.notEqual(c.state, 'connected');
    assert.ok(errors.includes(100), `errors: ${errors}`);
    c.disconnect();
  });
});

describe('proxy configuration', () => {
  test('a namespace with subscribe_proxy_enabled needs channel.proxy.subscribe.endpoint', async () => {
    await assert.rejects(
      startServer({ channel: { namespaces: [{ name: 'px', subscribe_proxy_enabled: true }] } }),
      /channel\.proxy\.subscribe\.endpoint must be set/,
    );
  });
});
