/**
 * A chat room: Chorus embedded in an Express 5 app that logs people in with a signed session cookie.
 *
 *   node --import tsx examples/express-chat/server.ts        # PORT (default 3000), HOST, CHORUS_HTTP_API_KEY
 *
 * The browser connects to Chorus on the app's own http.Server and the app authenticates the WebSocket from the
 * cookie (onConnecting), validates and stamps every message (onPublish), answers an RPC (whoami), and serves
 * the Centrifugo-compatible HTTP API next to its own routes.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Chorus,
  type ChorusOptions,
  createChorus,
  DisconnectError,
  Disconnects,
  Errors,
  ReplyError,
} from 'chorus-server';
import express from 'express';

export const LOBBY = 'chat:lobby';
export const MAX_MESSAGE_CHARS = 500;
export const SESSION_COOKIE = 'chat_session';
const SESSION_SECONDS = 12 * 3600;
const NAME = /^[\p{L}\p{N}_.\- ]{1,32}$/u;

// --- the session cookie: base64url({name, exp}) + "." + HMAC-SHA256 of it, with a secret made at start ------

const secret = randomBytes(32);
const mac = (payload: string) => createHmac('sha256', secret).update(payload).digest('base64url');

function signSession(name: string): string {
  const payload = Buffer.from(JSON.stringify({ name, exp: Math.floor(Date.now() / 1000) + SESSION_SECONDS }));
  const encoded = payload.toString('base64url');
  return `${encoded}.${mac(encoded)}`;
}

/** The user name in a valid, unexpired session cookie; undefined for anything else. */
function verifySession(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const dot = value.indexOf('.');
  if (dot <= 0) return undefined;
  const encoded = value.slice(0, dot);
  const given = Buffer.from(value.slice(dot + 1), 'base64url');
  const expected = Buffer.from(mac(encoded), 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  try {
    const { name, exp } = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')) as {
      name?: unknown;
      exp?: unknown;
    };
    if (typeof name !== 'string' || !NAME.test(name)) return undefined;
    if (typeof exp !== 'number' || exp <= Date.now() / 1000) return undefined;
    return name;
  } catch {
    return undefined;
  }
}

function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

const sessionUser = (cookieHeader: string | undefined) => verifySession(readCookie(cookieHeader, SESSION_COOKIE));

// --- the app ----------------------------------------------------------------------------------------------

export interface ExampleOptions {
  /** 0: any free port. Default 3000. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** The server API key (`http_api.key`); default CHORUS_HTTP_API_KEY or a random one. */
  apiKey?: string;
  /** Chorus's logs (default: none). */
  log?: ChorusOptions['log'];
}

export interface Example {
  /** The page, e.g. http://127.0.0.1:3000/ */
  url: string;
  /** The WebSocket endpoint the SDK connects to. */
  wsUrl: string;
  apiKey: string;
  chorus: Chorus;
  server: Server;
  close(): Promise<void>;
}

export async function startExample(opts: ExampleOptions = {}): Promise<Example> {
  const apiKey = opts.apiKey ?? process.env.CHORUS_HTTP_API_KEY ?? randomBytes(18).toString('base64url');
  const chorus = await createChorus({
    log: opts.log,
    config: {
      // No allowed_origins: only pages served from this host may open the WebSocket (cookies are sent on
      // cross-site WebSocket requests too, so this check is what keeps other sites out).
      channel: {
        namespaces: [
          {
            name: 'chat',
            allow_subscribe_for_client: true,
            allow_presence_for_subscriber: true, // the page shows who is online
            allow_history_for_subscriber: true, // and the last messages when it opens
            presence: true,
            join_leave: true,
            history_size: 50,
            history_ttl: '600s',
            force_recovery: true,
          },
        ],
      },
      http_api: { key: apiKey },
    },
    hooks: {
      // The WebSocket upgrade carries the browser's cookies: no connection token needed.
      onConnecting: ({ headers }) => {
        const name = sessionUser(headers.cookie);
        if (name === undefined) throw new DisconnectError(Disconnects.permissionDenied, 'no valid session cookie');
        return { user: name, info: { name } };
      },
      // Client publications to chat channels are validated and rewritten: the server stamps who and when.
      onPublish: ({ client, channel, data }) => {
        if (!channel.startsWith('chat:')) return undefined;
        const text = typeof data === 'object' && data !== null ? (data as { text?: unknown }).text : undefined;
        if (typeof text !== 'string') throw new ReplyError(Errors.badRequest, 'a message is {text}');
        const trimmed = text.trim();
        if (trimmed === '' || [...trimmed].length > MAX_MESSAGE_CHARS) {
          throw new ReplyError(Errors.badRequest, `a message has 1 to ${MAX_MESSAGE_CHARS} characters`);
        }
        return { data: { text: trimmed, user: client.user, at: new Date().toISOString() } };
      },
      rpc: {
        whoami: (client) => ({ user: client.user }),
      },
    },
  });

  const app = express();
  app.disable('x-powered-by');
  // The server API reads its own request bodies: mount it before any body parser.
  app.use(chorus.apiMiddleware());

  app.get('/', (req, res) => {
    res.type('html').send(page(sessionUser(req.headers.cookie)));
  });

  app.post(
    '/login',
    express.urlencoded({ extended: false, limit: '2kb' }),
    express.json({ limit: '2kb' }),
    (req, res) => {
      const raw = (req.body as { name?: unknown } | undefined)?.name;
      const name = typeof raw === 'string' ? raw.trim() : '';
      const wantsJSON = req.is('application/json') !== false;
      if (!NAME.test(name)) {
        const error = 'name: 1 to 32 letters, digits, spaces, "_", "-" or "."';
        if (wantsJSON) res.status(400).json({ error });
        else res.status(400).type('text').send(error);
        return;
      }
      res.cookie(SESSION_COOKIE, signSession(name), {
        httpOnly: true,
        sameSite: 'lax',
        secure: req.secure,
        path: '/',
        maxAge: SESSION_SECONDS * 1000,
      });
      if (wantsJSON) res.json({ user: name });
      else res.redirect(303, '/');
    },
  );

  app.post('/logout', (req, res) => {
    res.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'lax', secure: req.secure, path: '/' });
    if (req.is('application/json')) res.json({});
    else res.redirect(303, '/');
  });

  const sdk = browserSDK();
  app.get('/vendor/centrifuge.js', (_req, res) => {
    res.type('js').send(sdk);
  });

  const server = createServer(app);
  chorus.attach(server); // the WebSocket endpoint: /connection/websocket on this same server

  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 3000, host, () => {
      server.off('error', fail);
      ok();
    });
  });
  const { port } = server.address() as AddressInfo;
  const origin = `${host.includes(':') ? `[${host}]` : host}:${port}`;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${origin}/`,
    wsUrl: `ws://${origin}/connection/websocket`,
    apiKey,
    chorus,
    server,
    close() {
      closing ??= (async () => {
        // Clients first (code 3001: the SDKs reconnect, to another instance in a real deployment), then HTTP.
        await chorus.close();
        await new Promise<void>((done) => {
          server.close(() => done());
          server.closeIdleConnections();
          // WebSocket peers that never answer the close frame are cut off by Chorus after a grace period.
          setTimeout(() => server.closeAllConnections(), 3000).unref();
        });
      })();
      return closing;
    },
  };
}

/** The SDK's browser bundle (sets globalThis.Centrifuge); its ES module build if the bundle is missing. */
function browserSDK(): string {
  const root = join(dirname(createRequire(import.meta.url).resolve('centrifuge')), '..');
  const bundle = join(root, 'dist', 'centrifuge.js');
  if (existsSync(bundle)) return readFileSync(bundle, 'utf8').replace(/\n\/\/# sourceMappingURL=.*\s*$/, '\n');
  return `${readFileSync(join(root, 'build', 'index.mjs'), 'utf8')}\nglobalThis.Centrifuge = Centrifuge;\n`;
}

const escapeHTML = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

function page(user: string | undefined): string {
  const body =
    user === undefined
      ? `<form method="post" action="/login">
  <label>Your name <input name="name" maxlength="32" required autofocus></label> <button>Join the lobby</button>
</form>`
      : `<form method="post" action="/logout">Signed in as <b>${escapeHTML(user)}</b> <button>Log out</button></form>
<p id="status">connecting…</p>
<p id="online"></p>
<ul id="log"></ul>
<form id="send"><input id="text" maxlength="${MAX_MESSAGE_CHARS}" autocomplete="off" autofocus> <button>Send</button></form>
<script type="module" src="/vendor/centrifuge.js"></script>
<script type="module">${CLIENT_SCRIPT}</script>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chorus chat</title>
<style>
  body { font: 16px/1.4 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
  #log { list-style: none; padding: 0; height: 22rem; overflow-y: auto; border: 1px solid #ccc; }
  #log li { padding: .15rem .5rem; } .note { color: #777; font-style: italic; } .error { color: #b00; }
  #text { width: 75%; }
</style>
</head>
<body>
<h1>Chorus chat</h1>
${body}
</body>
</html>
`;
}

/** The browser side: the centrifuge SDK, with the cookie doing the authentication. */
const CLIENT_SCRIPT = `
const { Centrifuge } = globalThis;
const $ = (id) => document.getElementById(id);
const line = (text, cls) => {
  const li = document.createElement('li');
  li.textContent = text;
  if (cls) li.className = cls;
  $('log').append(li);
  li.scrollIntoView({ block: 'nearest' });
};
const seen = new Set();
const show = (m, offset) => {
  if (offset !== undefined && offset > 0) {
    if (seen.has(offset)) return;
    seen.add(offset);
  }
  line(new Date(m.at).toLocaleTimeString() + ' ' + m.user + ': ' + m.text);
};

const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
const centrifuge = new Centrifuge(scheme + '://' + location.host + '/connection/websocket');
const lobby = centrifuge.newSubscription('chat:lobby', { joinLeave: true }); // join/leave pushes are opt-in

const online = async () => {
  const { clients } = await lobby.presence();
  $('online').textContent = 'online: ' + [...new Set(Object.values(clients).map((c) => c.user))].join(', ');
};

centrifuge.on('connected', async () => {
  const { data } = await centrifuge.rpc('whoami', {});
  $('status').textContent = 'connected as ' + data.user;
});
centrifuge.on('connecting', (ctx) => { $('status').textContent = 'reconnecting… (' + ctx.reason + ')'; });
centrifuge.on('disconnected', (ctx) => {
  $('status').textContent = 'disconnected: ' + ctx.reason + ' (' + ctx.code + ')' +
    (ctx.code === 3507 ? ' — your session has ended, reload the page to log in again' : '');
});
centrifuge.on('message', (ctx) => line('notice: ' + JSON.stringify(ctx.data), 'note'));

lobby.on('subscribed', async (ctx) => {
  if (!ctx.recovered) {
    const { publications } = await lobby.history({ limit: 50 });
    for (const p of publications) show(p.data, p.offset);
  }
  online();
});
lobby.on('publication', (ctx) => show(ctx.data, ctx.offset));
lobby.on('join', (ctx) => { line(ctx.info.user + ' joined', 'note'); online(); });
lobby.on('leave', (ctx) => { line(ctx.info.user + ' left', 'note'); online(); });

$('send').addEventListener('submit', async (e) => {
  e.preventDefault();
  const text = $('text').value;
  try {
    await lobby.publish({ text });
    $('text').value = '';
  } catch (err) {
    line('not sent: ' + err.message + ' (' + err.code + ')', 'error');
  }
});

lobby.subscribe();
centrifuge.connect();
`;

// --- run directly -------------------------------------------------------------------------------------------

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const port = process.env.PORT === undefined || process.env.PORT === '' ? 3000 : Number(process.env.PORT);
  const levels = ['trace', 'debug', 'info', 'warn', 'error', 'none'] as const;
  const level = levels.find((l) => l === process.env.LOG_LEVEL) ?? 'info';
  const ex = await startExample({ port, host: process.env.HOST, log: level });
  console.log(`Chorus chat: ${ex.url}`);
  console.log(
    `server API key: ${ex.apiKey}${process.env.CHORUS_HTTP_API_KEY ? '' : ' (random; set CHORUS_HTTP_API_KEY)'}`,
  );
  console.log(
    `  curl -X POST ${ex.url}api/publish -H 'X-API-Key: ${ex.apiKey}' -d '{"channel":"${LOBBY}","data":{"text":"hello from curl","user":"server","at":"${new Date().toISOString()}"}}'`,
  );
  const stop = (signal: string) => {
    console.log(`${signal}: closing`);
    setTimeout(() => {
      console.error('did not close in 10s: exiting anyway');
      process.exit(1);
    }, 10_000).unref();
    ex.close().then(
      () => process.exit(0),
      (err) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
