/**
 * The Redis broker: publications, join/leave and control messages over Redis PUB/SUB; history streams in Redis.
 *
 * - Publish is one Lua script per channel: it assigns the next offset (HINCRBY on the stream's meta hash, whose
 *   epoch is created when missing), appends to the history list, trims it, sets the TTLs and PUBLISHes — so a
 *   publication never reaches any node without its offset, and every node sees a channel's publications in
 *   offset order (Redis runs scripts one at a time).
 * - A history read of a channel without a stream writes nothing: the empty position is computed (empty-epoch.ts,
 *   salted with the key prefix, so every node reports the same one).
 * - A node subscribes to a channel's Redis pub/sub only while it has local subscribers; SUBSCRIBE/UNSUBSCRIBE of
 *   one event-loop turn go out as one command per shard.
 * - After a lost pub/sub connection comes back, ioredis resubscribes every channel; the broker then reports the
 *   reconnect (onBrokerReconnect) so the node compares its subscribers' positions with the streams and tells
 *   every client that may have missed something (insufficient state) — loss is never silent.
 *
 * Storage and pub/sub use the engine's own versioned record format (../publication-format.ts), never a client
 * encoding: history lists hold `<offset>:<record>`, pub/sub carries `P<offset>:<epoch>:<record>`, `J<info record>`
 * and `L<info record>`; control messages are JSON on `<prefix>.control` (./control-format.ts).
 */
import type { Config } from '../../config/schema.js';
import type { ControlMessage } from '../../core/ports/control.js';
import type {
  Broker,
  BrokerEventHandler,
  HistoryQuery,
  HistoryResult,
  PublicationInput,
  PublishOptions,
  PublishResult,
} from '../../core/ports/engine.js';
import type { Log } from '../../core/ports/log.js';
import type { ClientInfo, Publication } from '../../protocol/messages.js';
import { continuedEmptyEpochs, emptyStreamEpoch } from '../empty-epoch.js';
import { newEpoch } from '../epoch.js';
import {
  decodeStoredClientInfo,
  decodeStoredPublication,
  encodeStoredClientInfo,
  encodeStoredPublication,
} from '../publication-format.js';
import { decodeControl, encodeControl } from './control-format.js';
import type { Shard, Shards } from './shards.js';

// KEYS: stream list, meta hash, idempotency key ('' when none), pub/sub channel
// ARGV: publication record (../publication-format.ts, without offset), unused, history size, history ttl ms,
//       meta ttl ms, new epoch, idempotency ttl ms, now ms
const PUBLISH = `
local stream, meta, idem, channel = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local record = ARGV[1]
local size, ttl, metaTtl, idemTtl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[7])
if idem ~= '' then
  local prev = redis.call('get', idem)
  if prev then return {'dup', prev} end
end
local offset, epoch = 0, ''
if size > 0 and ttl > 0 then
  epoch = redis.call('hget', meta, 'e')
  if not epoch then
    epoch = ARGV[6]
    -- 'c': when the stream began, which tells the empty-stream epochs it continues (see empty-epoch.ts).
    redis.call('hset', meta, 'e', epoch, 'c', ARGV[8])
    -- A new stream: items of a lost one must not mix with its offsets.
    redis.call('del', stream)
  end
  offset = redis.call('hincrby', meta, 's', 1)
  if metaTtl > 0 then redis.call('pexpire', meta, metaTtl) end
  redis.call('rpush', stream, offset .. ':' .. record)
  redis.call('ltrim', stream, -size, -1)
  redis.call('pexpire', stream, ttl)
  redis.call('publish', channel, 'P' .. offset .. ':' .. epoch .. ':' .. record)
else
  redis.call('publish', channel, 'P0::' .. record)
end
if idem ~= '' then redis.call('set', idem, offset .. ':' .. epoch, 'PX', idemTtl) end
return {tostring(offset), epoch}
`;

// KEYS: stream list, meta hash. ARGV: meta ttl ms, include items (1/0), since offset ('' for none), reverse (1/0),
// limit (-1: none), max bytes (-1: none).
// Read-only for a channel without a stream: nothing is created (the caller computes the empty position).
// Only the items asked for leave Redis: the list holds consecutive offsets (each publish appends the next one),
// so the range is computed from the first item's offset; the caller still filters by offset. With max bytes,
// items stop after the first one that passes it (the caller decides what fits exactly).
const HISTORY = `
local stream, meta = KEYS[1], KEYS[2]
local m = redis.call('hmget', meta, 'e', 's', 'c')
if not m[1] then return {'0', '', {}, '0'} end
local metaTtl = tonumber(ARGV[1])
if metaTtl > 0 then redis.call('pexpire', meta, metaTtl) end
local items = {}
local n = 0
if ARGV[2] == '1' then n = redis.call('llen', stream) end
if n > 0 then
  local first = tonumber(string.match(redis.call('lindex', stream, 0), '^(%d+):'))
  local since, limit = tonumber(ARGV[3]), tonumber(ARGV[5])
  local lo, hi = 0, n - 1
  if ARGV[4] == '0' then
    if since ~= nil then lo = math.max(0, since + 1 - first) end
    if limit > 0 then hi = math.min(hi, lo + limit - 1) end
  else
    if since ~= nil then hi = math.min(hi, since - 1 - first) end
    if limit > 0 then lo = math.max(0, hi - limit + 1) end
  end
  if lo <= hi then
    local maxBytes = tonumber(ARGV[6])
    if maxBytes < 0 then
      items = redis.call('lrange', stream, lo, hi)
    else
      -- In pages, so a budget far smaller than the range never copies the whole range.
      local bytes, step = 0, 16
      if ARGV[4] == '1' then
        local newest = {}
        local i = hi
        while i >= lo and bytes <= maxBytes do
          local chunk = redis.call('lrange', stream, math.max(lo, i - step + 1), i)
          for j = #chunk, 1, -1 do
            if bytes > maxBytes then break end
            newest[#newest + 1] = chunk[j]
            bytes = bytes + #chunk[j]
          end
          i = i - step
        end
        for j = #newest, 1, -1 do items[#items + 1] = newest[j] end
      else
        local i = lo
        while i <= hi and bytes <= maxBytes do
          local chunk = redis.call('lrange', stream, i, math.min(hi, i + step - 1))
          for j = 1, #chunk do
            if bytes > maxBytes then break end
            items[#items + 1] = chunk[j]
            bytes = bytes + #chunk[j]
          end
          i = i + step
        end
      end
    end
  end
end
return {m[2] or '0', m[1], items, m[3] or '0'}
`;

const JOIN = Buffer.from('J');
const LEAVE = Buffer.from('L');

type ScriptRedis = {
  chorusPublish(...args: (string | number | Buffer)[]): Promise<[string, string]>;
  chorusHistoryBuffer(...args: (string | number)[]): Promise<[Buffer, Buffer, Buffer[], Buffer]>;
};

export class RedisBroker implements Broker {
  private handler: BrokerEventHandler | undefined;
  private readonly prefix: string;
  private readonly subscribed = new Set<string>();
  private readonly pending = new Map<Shard, { sub: Set<string>; unsub: Set<string>; waiters: Array<() => void> }>();
  private flushScheduled = false;
  /** The chain of pub/sub changes in flight: one batch at a time. */
  private changes: Promise<void> = Promise.resolve();
  private readonly controlChannel: string;

  constructor(
    private readonly shards: Shards,
    cfg: Config['engine']['redis'],
    private readonly log: Log,
  ) {
    this.prefix = cfg.prefix;
    this.controlChannel = `${this.prefix}.control`;
    for (const s of shards.list) {
      s.cmd.defineCommand('chorusPublish', { numberOfKeys: 4, lua: PUBLISH });
      s.cmd.defineCommand('chorusHistory', { numberOfKeys: 2, lua: HISTORY });
    }
  }

  private pubsubChannel(channel: string): string {
    return `${this.prefix}.client.${channel}`;
  }

  private keys(channel: string): { stream: string; meta: string } {
    // The {…} hash tag keeps a channel's keys together in Redis Cluster.
    return { stream: `${this.prefix}.stream.{${channel}}`, meta: `${this.prefix}.meta.{${channel}}` };
  }

  async start(handler: BrokerEventHandler): Promise<void> {
    this.handler = handler;
    const clientPrefix = `${this.prefix}.client.`;
    for (const shard of this.shards.list) {
      shard.sub.on('messageBuffer', (chBuf: Buffer, msgBuf: Buffer) => {
        const ch = chBuf.toString();
        if (ch === this.controlChannel) {
          const message = decodeControl(msgBuf);
          if (message === undefined) this.log.warn({}, 'malformed control message ignored');
          else this.handler?.onControl(message);
          return;
        }
        if (ch.startsWith(clientPrefix)) this.dispatch(ch.slice(clientPrefix.length), msgBuf);
      });
      let wasDown = false;
      shard.sub.on('close', () => {
        wasDown = true;
      });
      shard.sub.on('ready', () => {
        if (!wasDown) return;
        wasDown = false;
        // Make the link's subscriptions exactly what this node needs now (changes made during the outage were
        // refused), then let the node look for publications lost while the link was down.
        this.resubscribe(shard)
          .catch((e) => this.log.warn({ err: (e as Error).message }, 'resubscribe after reconnect failed'))
          .finally(() => this.handler?.onBrokerReconnect?.());
      });
    }
    // Control messages travel through the first shard: every node listens there.
    const first = this.shards.list[0] as Shard;
    await first.sub.subscribe(this.controlChannel).catch((e: Error) => {
      // Redis is unreachable (its outage is logged once by Shards): the subscription is made when it is back.
      this.log.debug({ err: e.message }, 'control channel subscribe failed; retrying when redis is back');
    });
  }

  /** After a reconnect: drop whatever ioredis restored, subscribe to what is needed now (and the control channel). */
  private async resubscribe(shard: Shard): Promise<void> {
    const wanted = [...this.subscribed]
      .filter((ch) => this.shards.forChannel(ch) === shard)
      .map((ch) => this.pubsubChannel(ch));
    if (shard === this.shards.list[0]) wanted.push(this.controlChannel);
    const run = this.changes.then(async () => {
      await shard.sub.unsubscribe();
      if (wanted.length > 0) await shard.sub.subscribe(...wanted);
      await shard.sub.ping();
    });
    this.changes = run.catch(() => {});
    await run;
  }

  /** A message on a channel's pub/sub: `P<offset>:<epoch>:<record>`, `J<info record>` or `L<info record>`. */
  private dispatch(channel: string, msg: Buffer): void {
    const h = this.handler;
    if (h === undefined) return;
    const kind = msg[0];
    try {
      if (kind === 0x50 /* P */) {
        const a = msg.indexOf(0x3a, 1);
        const b = msg.indexOf(0x3a, a + 1);
        const offset = Number(msg.toString('latin1', 1, a));
        const epoch = msg.toString('latin1', a + 1, b);
        h.onPublication(channel, decodeStoredPublication(msg.subarray(b + 1), offset), epoch);
      } else if (kind === 0x4a /* J */ || kind === 0x4c /* L */) {
        const info = decodeStoredClientInfo(msg.subarray(1));
        if (kind === 0x4a) h.onJoin(channel, info);
        else h.onLeave(channel, info);
      }
    } catch (e) {
      this.log.warn({ err: (e as Error).message, channel }, 'unreadable pub/sub message ignored');
    }
  }

  /** Queues a (un)subscribe; one SUBSCRIBE/UNSUBSCRIBE per shard and event-loop turn. */
  private change(channel: string, subscribe: boolean): Promise<void> {
    const shard = this.shards.forChannel(channel);
    let p = this.pending.get(shard);
    if (p === undefined) {
      p = { sub: new Set(), unsub: new Set(), waiters: [] };
      this.pending.set(shard, p);
    }
    const ch = this.pubsubChannel(channel);
    if (subscribe) {
      p.unsub.delete(ch);
      p.sub.add(ch);
    } else {
      p.sub.delete(ch);
      p.unsub.add(ch);
    }
    const entry = p;
    const done = new Promise<void>((resolve) => entry.waiters.push(resolve));
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // Batches go out one after another, so a later SUBSCRIBE never overtakes an earlier UNSUBSCRIBE.
      setImmediate(() => {
        this.changes = this.changes.then(() => this.flushChanges());
      });
    }
    return done.then(() => {
      if (subscribe && !shard.sub.status.startsWith('ready')) {
        throw new Error('redis pub/sub unavailable');
      }
    });
  }

  private async flushChanges(): Promise<void> {
    this.flushScheduled = false;
    const batches = [...this.pending];
    this.pending.clear();
    await Promise.all(
      batches.map(async ([shard, p]) => {
        try {
          // Sent back to back (ioredis keeps call order), awaited together.
          await Promise.all([
            p.sub.size > 0 ? shard.sub.subscribe(...p.sub) : undefined,
            p.unsub.size > 0 ? shard.sub.unsubscribe(...p.unsub) : undefined,
          ]);
        } catch (e) {
          const fields = { err: (e as Error).message, shard: shard.address };
          if (shard.sub.status === 'ready') this.log.warn(fields, 'redis subscribe/unsubscribe failed');
          else this.log.debug(fields, 'redis subscribe/unsubscribe failed: redis unreachable');
        } finally {
          for (const w of p.waiters) w();
        }
      }),
    );
  }

  async subscribe(channel: string): Promise<void> {
    this.subscribed.add(channel);
    await this.change(channel, true);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.subscribed.delete(channel);
    await this.change(channel, false);
  }

  async publish(channel: string, pub: PublicationInput, opts: PublishOptions): Promise<PublishResult> {
    const shard = this.shards.forChannel(channel);
    const { stream, meta } = this.keys(channel);
    const withHistory = opts.historySize > 0 && opts.historyTtlMs > 0;
    const record = encodeStoredPublication({ ...pub, time: withHistory ? Date.now() : undefined });
    const idem = opts.idempotencyKey ? `${this.prefix}.idem.{${channel}}.${opts.idempotencyKey}` : '';
    const r = await (shard.cmd as unknown as ScriptRedis).chorusPublish(
      stream,
      meta,
      idem,
      this.pubsubChannel(channel),
      record,
      '',
      withHistory ? opts.historySize : 0,
      opts.historyTtlMs,
      opts.historyMetaTtlMs,
      newEpoch(),
      opts.idempotencyTtlMs ?? 300_000,
      Date.now(),
    );
    if (r[0] === 'dup') {
      const [offset, epoch] = String(r[1]).split(':');
      return { offset: Number(offset), epoch: epoch ?? '', suppressed: true };
    }
    return { offset: Number(r[0]), epoch: r[1] };
  }

  private async publishRaw(channel: string, msg: Buffer): Promise<void> {
    await this.shards.forChannel(channel).cmd.publish(this.pubsubChannel(channel), msg);
  }

  async publishJoin(channel: string, info: ClientInfo): Promise<void> {
    await this.publishRaw(channel, Buffer.concat([JOIN, encodeStoredClientInfo(info)]));
  }

  async publishLeave(channel: string, info: ClientInfo): Promise<void> {
    await this.publishRaw(channel, Buffer.concat([LEAVE, encodeStoredClientInfo(info)]));
  }

  async publishControl(message: ControlMessage): Promise<void> {
    await (this.shards.list[0] as Shard).cmd.publish(this.controlChannel, encodeControl(message));
  }

  async history(channel: string, q: HistoryQuery): Promise<HistoryResult> {
    const { stream, meta } = this.keys(channel);
    const metaTtl = q.historyMetaTtlMs;
    const r = await (this.shards.forChannel(channel).cmd as unknown as ScriptRedis).chorusHistoryBuffer(
      stream,
      meta,
      metaTtl,
      q.limit === 0 ? '0' : '1',
      q.since === undefined ? '' : q.since.offset,
      q.reverse ? '1' : '0',
      q.limit,
      q.maxBytes === undefined || !Number.isFinite(q.maxBytes) ? -1 : Math.floor(q.maxBytes),
    );
    const salt = this.prefix;
    if (r[1].length === 0) {
      const now = Date.now();
      return {
        publications: [],
        position: { offset: 0, epoch: emptyStreamEpoch(salt, channel, metaTtl, now) },
        get emptyEpochs() {
          return continuedEmptyEpochs(salt, channel, metaTtl, now);
        },
      };
    }
    const position = { offset: Number(r[0].toString()), epoch: r[1].toString() };
    // Streams written before Chorus recorded creation times continue no empty epoch.
    const createdAt = Number(r[3].toString());
    const emptyEpochs = () => (createdAt > 0 ? continuedEmptyEpochs(salt, channel, metaTtl, createdAt) : []);
    if (q.limit === 0) {
      return {
        publications: [],
        position,
        get emptyEpochs() {
          return emptyEpochs();
        },
      };
    }
    let pubs: Publication[] = r[2].map((item) => {
      const colon = item.indexOf(0x3a);
      return decodeStoredPublication(item.subarray(colon + 1), Number(item.toString('latin1', 0, colon)));
    });
    if (!q.reverse) {
      const after = q.since?.offset ?? 0;
      pubs = pubs.filter((p) => p.offset > after);
    } else {
      const before = q.since !== undefined ? q.since.offset : Number.POSITIVE_INFINITY;
      pubs = pubs.filter((p) => p.offset < before).reverse();
    }
    if (q.limit > 0 && pubs.length > q.limit) pubs = pubs.slice(0, q.limit);
    return {
      publications: pubs,
      position,
      get emptyEpochs() {
        return emptyEpochs();
      },
    };
  }

  async removeHistory(channel: string): Promise<void> {
    await this.shards.forChannel(channel).cmd.del(this.keys(channel).stream);
  }

  async close(): Promise<void> {
    this.subscribed.clear();
  }
}
