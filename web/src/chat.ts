/// <reference lib="dom" />
/**
 * The demo chat (/demo/chat): rooms on open namespace-less channels (`room-<name>`), recent history on join,
 * presence, private messages through Chorus's `chorus.send` RPC, and recovery of what was missed while offline.
 *
 * Connections are anonymous, so names travel in the data: every chat publication carries the sender's name, a
 * client publishes `{kind: "hello"}` once per connection and room, and the members already there answer it with
 * an `intro` direct message, so the presence list (which only knows connection ids) can show names.
 * User text is only ever put into the page with textContent.
 */
import {
  Centrifuge,
  type ClientInfo,
  type PublicationContext,
  type SubscribedContext,
  type Subscription,
} from 'centrifuge';
import './chat.css';

const MAX_NAME = 32;
const MAX_TEXT = 1000;
const HISTORY_LIMIT = 100;
const DEFAULT_ROOMS = ['lobby', 'random'];
const DM_METHOD = 'chorus.send';

type ChatData = { kind: 'msg'; name: string; text: string; ts: number } | { kind: 'hello'; name: string; ts: number };
type DirectData =
  | { kind: 'pm'; name: string; text: string; ts: number; room: string }
  | { kind: 'intro'; name: string };

// --- elements ---------------------------------------------------------------------------------------------

function el<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (e === null) throw new Error(`#${id} is missing from the page`);
  return e as T;
}

const ui = {
  state: el<HTMLSpanElement>('state'),
  transport: el<HTMLSpanElement>('transport'),
  joinView: el<HTMLElement>('join-view'),
  joinForm: el<HTMLFormElement>('join-form'),
  name: el<HTMLInputElement>('name'),
  joinRoom: el<HTMLInputElement>('join-room'),
  joinError: el<HTMLParagraphElement>('join-error'),
  chatView: el<HTMLElement>('chat-view'),
  rooms: el<HTMLUListElement>('rooms'),
  roomForm: el<HTMLFormElement>('room-form'),
  newRoom: el<HTMLInputElement>('new-room'),
  people: el<HTMLUListElement>('people'),
  peopleCount: el<HTMLSpanElement>('people-count'),
  roomTitle: el<HTMLHeadingElement>('room-title'),
  me: el<HTMLSpanElement>('me'),
  messages: el<HTMLOListElement>('messages'),
  composer: el<HTMLFormElement>('composer'),
  privateTo: el<HTMLDivElement>('private-to'),
  privateName: el<HTMLElement>('private-name'),
  privateCancel: el<HTMLButtonElement>('private-cancel'),
  message: el<HTMLInputElement>('message'),
  send: el<HTMLButtonElement>('send'),
  sendError: el<HTMLParagraphElement>('send-error'),
};

// --- state ------------------------------------------------------------------------------------------------

let client: Centrifuge | null = null;
let myName = '';
let myClient = '';
let everConnected = false;
/** Every connection id this page has had: publications from any of them are "mine". */
const myClients = new Set<string>();
/** Connection id → the name it announced. */
const names = new Map<string, string>();
const rooms: string[] = [...DEFAULT_ROOMS];
let room = '';
let sub: Subscription | null = null;
/** Offsets of the current room's publications already handled (recovery replays and history overlap). */
let seen = new Set<number>();
let maxOffset = 0;
let epoch = '';
/** `${connection}|${room}` for which a hello was published. */
const greeted = new Set<string>();
let presence = new Map<string, ClientInfo>();
let presenceSeq = 0;
let presenceTimer: ReturnType<typeof setTimeout> | undefined;
let target: { client: string; name: string } | null = null;

// --- helpers ----------------------------------------------------------------------------------------------

function cleanName(v: unknown): string {
  return typeof v === 'string' ? v.replace(/\s+/g, ' ').trim().slice(0, MAX_NAME) : '';
}

function cleanText(v: unknown): string {
  return typeof v === 'string' ? v.slice(0, MAX_TEXT) : '';
}

/** Room names become channel names: ASCII, no namespace boundary. */
function cleanRoom(v: string): string {
  return v
    .trim()
    .toLowerCase()
    .replace(/^#/, '')
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 32);
}

const channelOf = (r: string) => `room-${r}`;

function parseChat(d: unknown): ChatData | null {
  if (typeof d !== 'object' || d === null) return null;
  const o = d as Record<string, unknown>;
  const name = cleanName(o.name);
  const ts = typeof o.ts === 'number' && Number.isFinite(o.ts) ? o.ts : Date.now();
  if (name === '') return null;
  if (o.kind === 'msg' && typeof o.text === 'string') return { kind: 'msg', name, text: cleanText(o.text), ts };
  if (o.kind === 'hello') return { kind: 'hello', name, ts };
  return null;
}

function parseDirect(d: unknown): DirectData | null {
  if (typeof d !== 'object' || d === null) return null;
  const o = d as Record<string, unknown>;
  const name = cleanName(o.name);
  if (name === '') return null;
  if (o.kind === 'intro') return { kind: 'intro', name };
  if (o.kind === 'pm' && typeof o.text === 'string') {
    const ts = typeof o.ts === 'number' && Number.isFinite(o.ts) ? o.ts : Date.now();
    return { kind: 'pm', name, text: cleanText(o.text), ts, room: typeof o.room === 'string' ? o.room : '' };
  }
  return null;
}

function nameOf(clientId: string): string {
  return names.get(clientId) ?? `guest-${clientId.slice(0, 4)}`;
}

/** A stable hue per name, so senders are easy to tell apart. */
function hueOf(name: string): number {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) % 360;
  return h;
}

function describeError(e: unknown): string {
  if (typeof e === 'object' && e !== null) {
    const o = e as { code?: unknown; message?: unknown };
    if (typeof o.message === 'string' && o.message !== '') {
      return typeof o.code === 'number' ? `${o.message} (${o.code})` : o.message;
    }
  }
  return String(e);
}

function setState(state: 'disconnected' | 'connecting' | 'connected' | 'reconnecting'): void {
  ui.state.textContent = state;
  ui.state.dataset.state = state;
  document.body.dataset.connection = state;
}

function showSendError(text: string): void {
  ui.sendError.textContent = text;
  ui.sendError.hidden = text === '';
}

// --- message list -----------------------------------------------------------------------------------------

function nearBottom(): boolean {
  const m = ui.messages;
  return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
}

/** Whether the list follows new messages: true unless the reader scrolled up. */
let following = true;

function scrollToEnd(): void {
  ui.messages.scrollTop = ui.messages.scrollHeight;
}

/** Puts a message in its place: by offset for room messages, at the end for everything else. */
function place(li: HTMLLIElement, offset: number | undefined): void {
  if (offset === undefined || offset > maxOffset) {
    ui.messages.append(li);
  } else {
    let before: Element | null = null;
    for (const node of ui.messages.querySelectorAll<HTMLElement>('li[data-offset]')) {
      if (Number(node.dataset.offset) > offset) {
        before = node;
        break;
      }
    }
    ui.messages.insertBefore(li, before);
  }
  if (offset !== undefined && offset > maxOffset) maxOffset = offset;
  if (following) scrollToEnd();
}

function messageItem(opts: {
  name: string;
  text: string;
  ts: number;
  mine: boolean;
  offset?: number;
  privateNote?: string;
}): HTMLLIElement {
  const li = document.createElement('li');
  li.className = 'msg';
  if (opts.mine) li.classList.add('mine');
  if (opts.offset !== undefined) li.dataset.offset = String(opts.offset);
  const head = document.createElement('div');
  head.className = 'msg-head';
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = opts.name;
  who.style.setProperty('--hue', String(hueOf(opts.name)));
  head.append(who);
  if (opts.privateNote !== undefined) {
    li.classList.add('private');
    li.dataset.private = 'true';
    const tag = document.createElement('span');
    tag.className = 'tag';
    tag.textContent = opts.privateNote;
    head.append(tag);
  }
  const when = new Date(opts.ts);
  const time = document.createElement('time');
  time.dateTime = when.toISOString();
  const sameDay = when.toDateString() === new Date().toDateString();
  time.textContent = sameDay
    ? when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : when.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  time.title = when.toLocaleString();
  head.append(time);
  const body = document.createElement('div');
  body.className = 'text';
  body.textContent = opts.text;
  li.append(head, body);
  return li;
}

function notice(text: string): void {
  const li = document.createElement('li');
  li.className = 'notice';
  li.textContent = text;
  place(li, undefined);
}

function resetMessages(): void {
  ui.messages.replaceChildren();
  seen = new Set();
  maxOffset = 0;
  following = true;
}

// --- room publications ------------------------------------------------------------------------------------

function onPublication(s: Subscription, p: PublicationContext, fromHistory: boolean): void {
  if (s !== sub) return;
  if (p.offset !== undefined) {
    if (seen.has(p.offset)) return;
    seen.add(p.offset);
  }
  const d = parseChat(p.data);
  if (d === null) return;
  const from = p.info?.client;
  if (from !== undefined && from !== '') {
    const known = names.get(from);
    names.set(from, d.name);
    if (known !== d.name && presence.has(from)) renderPresence();
  }
  if (d.kind === 'hello') {
    // Someone new (or reconnected): tell them who we are, since they cannot learn names from presence.
    if (!fromHistory && from !== undefined && from !== '' && !myClients.has(from)) void introduce(from);
    return;
  }
  const mine = from !== undefined && myClients.has(from);
  place(messageItem({ name: d.name, text: d.text, ts: d.ts, mine, offset: p.offset }), p.offset);
}

async function introduce(to: string): Promise<void> {
  const c = client;
  if (c === null) return;
  try {
    await c.rpc(DM_METHOD, { client: to, data: { kind: 'intro', name: myName } });
  } catch {
    // The newcomer may already be gone; nothing to do.
  }
}

async function loadHistory(s: Subscription): Promise<void> {
  try {
    const h = await s.history({ limit: HISTORY_LIMIT, reverse: true });
    if (s !== sub) return;
    for (const p of [...h.publications].reverse()) onPublication(s, p, true);
  } catch (e) {
    if (s === sub) notice(`Could not load the history: ${describeError(e)}`);
  }
}

function onSubscribed(s: Subscription, ctx: SubscribedContext): void {
  if (s !== sub) return;
  const newEpoch = ctx.streamPosition?.epoch ?? '';
  if (epoch !== '' && newEpoch !== '' && newEpoch !== epoch) {
    // The stream was reset on the server: offsets start over, so start the list over.
    resetMessages();
    notice('The room was reset on the server.');
  }
  if (newEpoch !== '') epoch = newEpoch;
  // For tests and the curious: how the last subscribe went.
  ui.messages.dataset.subscribe = !ctx.wasRecovering ? 'fresh' : ctx.recovered ? 'recovered' : 'unrecovered';
  if (!ctx.wasRecovering) {
    void loadHistory(s);
  } else if (!ctx.recovered) {
    notice('Some messages could not be recovered; showing the latest ones.');
    void loadHistory(s);
  }
  // Recovered publications (if any) arrive as publication events right after this one.
  // Say hello on every fresh subscribe and once per connection (a reconnect brings a new connection id).
  const key = `${myClient}|${room}`;
  if (myClient !== '' && (!ctx.wasRecovering || !greeted.has(key))) {
    greeted.add(key);
    s.publish({ kind: 'hello', name: myName, ts: Date.now() }).catch(() => greeted.delete(key));
  }
  void refreshPresence();
}

// --- presence ---------------------------------------------------------------------------------------------

async function refreshPresence(): Promise<void> {
  const s = sub;
  if (s === null) return;
  const seq = ++presenceSeq;
  try {
    const r = await s.presence();
    if (s !== sub || seq !== presenceSeq) return;
    presence = new Map(Object.entries(r.clients));
    renderPresence();
  } catch {
    // Not subscribed at the moment: the next subscribed event refreshes it.
  }
}

function schedulePresence(): void {
  clearTimeout(presenceTimer);
  presenceTimer = setTimeout(() => void refreshPresence(), 150);
}

function renderPresence(): void {
  const entries = [...presence.keys()].map((id) => ({ id, name: nameOf(id), me: id === myClient }));
  entries.sort((a, b) => (a.me === b.me ? a.name.localeCompare(b.name) : a.me ? -1 : 1));
  const items = entries.map((p) => {
    const li = document.createElement('li');
    const dot = document.createElement('span');
    dot.className = 'dot';
    dot.setAttribute('aria-hidden', 'true');
    const label = document.createElement('span');
    label.className = 'person-name';
    label.textContent = p.name;
    if (p.me) {
      li.className = 'person self';
      const you = document.createElement('span');
      you.className = 'muted';
      you.textContent = ' (you)';
      li.append(dot, label, you);
      return li;
    }
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'person';
    b.dataset.client = p.id;
    b.title = `Write privately to ${p.name}`;
    b.setAttribute('aria-pressed', String(target?.client === p.id));
    b.append(dot, label);
    b.addEventListener('click', () => choosePrivate(target?.client === p.id ? null : { client: p.id, name: p.name }));
    li.append(b);
    return li;
  });
  ui.people.replaceChildren(...items);
  ui.peopleCount.textContent = String(entries.length);
  if (target !== null && presence.has(target.client)) {
    const fresh = nameOf(target.client);
    if (fresh !== target.name) choosePrivate({ client: target.client, name: fresh });
  }
}

function choosePrivate(t: { client: string; name: string } | null): void {
  target = t;
  ui.privateTo.hidden = t === null;
  ui.privateName.textContent = t?.name ?? '';
  ui.message.placeholder = t === null ? `Write to #${room}…` : `Write privately to ${t.name}…`;
  for (const b of ui.people.querySelectorAll<HTMLButtonElement>('button.person')) {
    b.setAttribute('aria-pressed', String(t !== null && b.dataset.client === t.client));
  }
  ui.composer.classList.toggle('private', t !== null);
  ui.message.focus();
}

// --- rooms ------------------------------------------------------------------------------------------------

function renderRooms(): void {
  ui.rooms.replaceChildren(
    ...rooms.map((r) => {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'room';
      b.textContent = `#${r}`;
      if (r === room) b.setAttribute('aria-current', 'true');
      b.addEventListener('click', () => openRoom(r));
      li.append(b);
      return li;
    }),
  );
}

function openRoom(r: string): void {
  const c = client;
  if (c === null || r === room) return;
  if (!rooms.includes(r)) rooms.push(r);
  if (sub !== null) c.removeSubscription(sub);
  room = r;
  epoch = '';
  presence = new Map();
  presenceSeq++;
  resetMessages();
  choosePrivate(null);
  renderPresence();
  renderRooms();
  ui.roomTitle.textContent = `#${r}`;
  document.title = `#${r} · Chorus chat`;
  history.replaceState(null, '', `#${encodeURIComponent(r)}`);
  const s = c.getSubscription(channelOf(r)) ?? c.newSubscription(channelOf(r), { recoverable: true, joinLeave: true });
  sub = s;
  s.on('subscribed', (ctx) => onSubscribed(s, ctx));
  s.on('publication', (ctx) => onPublication(s, ctx, false));
  s.on('join', (ctx) => {
    if (s !== sub) return;
    presence.set(ctx.info.client, ctx.info);
    renderPresence();
    schedulePresence();
  });
  s.on('leave', (ctx) => {
    if (s !== sub) return;
    presence.delete(ctx.info.client);
    if (target?.client === ctx.info.client) {
      notice(`${target.name} left; back to writing to the room.`);
      choosePrivate(null);
    }
    renderPresence();
    schedulePresence();
  });
  s.on('error', (ctx) => {
    if (s === sub) console.warn('subscription error', ctx.type, ctx.error);
  });
  s.on('unsubscribed', (ctx) => {
    if (s === sub && ctx.code !== 0) notice(`Left #${r}: ${ctx.reason}`);
  });
  s.subscribe();
}

// --- connection -------------------------------------------------------------------------------------------

function onDirect(raw: unknown): void {
  if (typeof raw !== 'object' || raw === null) return;
  const { from, data } = raw as { from?: { client?: unknown }; data?: unknown };
  const fromClient = typeof from?.client === 'string' ? from.client : '';
  const d = parseDirect(data);
  if (d === null || fromClient === '') return;
  const known = names.get(fromClient);
  names.set(fromClient, d.name);
  if (known !== d.name && presence.has(fromClient)) renderPresence();
  if (d.kind === 'pm') {
    const where = d.room !== '' && d.room !== room ? ` (from #${d.room})` : '';
    place(
      messageItem({ name: d.name, text: d.text, ts: d.ts, mine: false, privateNote: `private${where}` }),
      undefined,
    );
  }
}

/** How the transports are shown in the top bar. */
const TRANSPORT_NAMES: Record<string, string> = {
  websocket: 'WebSocket',
  http_stream: 'HTTP-streaming',
  sse: 'SSE',
};

/**
 * WebSocket first; where a network blocks it, HTTP-streaming, then Server-Sent Events (both with their commands
 * POSTed to /emulation). The SDK tries them in this order; a server without the fallbacks enabled answers them
 * 404 and only WebSocket is used.
 */
function transports(): Array<{ transport: 'websocket' | 'http_stream' | 'sse'; endpoint: string }> {
  const ws = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/connection/websocket`;
  return [
    { transport: 'websocket', endpoint: ws },
    { transport: 'http_stream', endpoint: `${location.origin}/connection/http_stream` },
    { transport: 'sse', endpoint: `${location.origin}/connection/sse` },
  ];
}

function start(name: string, firstRoom: string): void {
  myName = name;
  ui.me.textContent = `you are ${name}`;
  const c = new Centrifuge(transports(), {
    name: 'chorus-demo-chat',
    emulationEndpoint: `${location.origin}/emulation`,
  });
  client = c;
  let lost = false;
  c.on('connecting', () => {
    setState(everConnected ? 'reconnecting' : 'connecting');
    if (everConnected && !lost) {
      lost = true;
      notice('Connection lost; reconnecting…');
    }
  });
  c.on('connected', (ctx) => {
    everConnected = true;
    myClient = ctx.client;
    myClients.add(ctx.client);
    names.set(ctx.client, myName);
    if (lost) notice('Back online.');
    lost = false;
    ui.transport.textContent = `via ${TRANSPORT_NAMES[ctx.transport] ?? ctx.transport}`;
    ui.transport.dataset.transport = ctx.transport;
    ui.transport.hidden = false;
    setState('connected');
  });
  c.on('disconnected', (ctx) => {
    setState('disconnected');
    notice(`Disconnected: ${ctx.reason}`);
  });
  c.on('message', (ctx) => onDirect(ctx.data));
  c.on('error', (ctx) => console.warn('client error', ctx.type, ctx.error));
  ui.joinView.hidden = true;
  ui.chatView.hidden = false;
  openRoom(firstRoom);
  c.connect();
  ui.message.focus();
}

async function sendMessage(): Promise<void> {
  const text = ui.message.value.trim().slice(0, MAX_TEXT);
  const s = sub;
  const c = client;
  if (text === '' || s === null || c === null) return;
  showSendError('');
  ui.send.disabled = true;
  const t = target;
  try {
    if (t !== null) {
      await c.rpc(DM_METHOD, { client: t.client, data: { kind: 'pm', name: myName, text, ts: Date.now(), room } });
      place(
        messageItem({ name: myName, text, ts: Date.now(), mine: true, privateNote: `private · to ${t.name}` }),
        undefined,
      );
    } else {
      await s.publish({ kind: 'msg', name: myName, text, ts: Date.now() });
    }
    ui.message.value = '';
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    showSendError(
      code === 404 && t !== null ? `${t.name} is not connected any more.` : `Not sent: ${describeError(e)}`,
    );
  } finally {
    ui.send.disabled = false;
    ui.message.focus();
  }
}

// --- wiring -----------------------------------------------------------------------------------------------

function init(): void {
  setState('disconnected');
  let fromHash = '';
  try {
    fromHash = cleanRoom(decodeURIComponent(location.hash.slice(1)));
  } catch {
    // A malformed address: start in the default room.
  }
  if (fromHash !== '') ui.joinRoom.value = fromHash;
  try {
    ui.name.value = localStorage.getItem('chorus-chat-name') ?? '';
  } catch {
    // Storage may be disabled; the field just starts empty.
  }
  ui.joinForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = cleanName(ui.name.value);
    const r = cleanRoom(ui.joinRoom.value) || 'lobby';
    if (name === '') {
      ui.joinError.textContent = 'Pick a name first.';
      ui.joinError.hidden = false;
      ui.name.focus();
      return;
    }
    try {
      localStorage.setItem('chorus-chat-name', name);
    } catch {
      // Not remembered, that is all.
    }
    start(name, r);
  });
  ui.roomForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const r = cleanRoom(ui.newRoom.value);
    if (r === '') return;
    ui.newRoom.value = '';
    openRoom(r);
  });
  ui.composer.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void sendMessage();
  });
  ui.privateCancel.addEventListener('click', () => choosePrivate(null));
  ui.messages.addEventListener('scroll', () => {
    following = nearBottom();
  });
  // Keep the newest message in view when the list shrinks (private mode, narrow screens, a resize).
  new ResizeObserver(() => {
    if (following) scrollToEnd();
  }).observe(ui.messages);
  ui.message.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && target !== null) choosePrivate(null);
  });
  ui.name.focus();
}

init();
