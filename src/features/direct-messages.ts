/**
 * Chorus's built-in client-to-client message (`client.direct_messages`, a Chorus extension):
 * `rpc("chorus.send", {user | client, data})`. The receiver gets a `message` push
 * `{"from": {"user", "client"}, "data": …}` whose sender identity the server fills in, so it cannot be forged.
 * An RPC handler like any other, registered by the composition root; JSON clients only (the request is JSON).
 */
import type { ClientContext, RPCHandler } from '../core/hooks.js';
import type { Node } from '../core/node.js';
import { TokenBucket } from '../core/rate-limiter.js';
import { ChorusErrors, Errors, ReplyError } from '../protocol/codes.js';
import type { Payload } from '../protocol/messages.js';
import { rawValueAt } from '../protocol/raw-json.js';

export interface DirectMessageSettings {
  allow_anonymous: boolean;
  /** Messages one connection may send per second (0: unlimited). */
  rate_limit: number;
}

const EMPTY_RESULT = Buffer.from('{}');

export function directMessages(node: Node, settings: DirectMessageSettings): RPCHandler {
  // One bucket per connection, gone with it.
  const buckets = new WeakMap<ClientContext, TokenBucket>();
  return async (ctx, data) => {
    if (ctx.user === '' && !settings.allow_anonymous) throw new ReplyError(Errors.permissionDenied, 'anonymous sender');
    const rate = settings.rate_limit;
    let bucket = buckets.get(ctx);
    if (bucket === undefined) {
      bucket = new TokenBucket(rate, rate, node.clock.now());
      buckets.set(ctx, bucket);
    }
    if (!bucket.tryTake(node.clock.now())) throw new ReplyError(Errors.tooManyRequests);
    const text = data === undefined ? undefined : Buffer.from(data).toString('utf8');
    let req: unknown;
    try {
      req = text === undefined ? undefined : JSON.parse(text);
    } catch {
      req = undefined;
    }
    if (typeof req !== 'object' || req === null || Array.isArray(req)) {
      throw new ReplyError(Errors.badRequest, 'direct message needs {user or client, data}');
    }
    const { user, client } = req as { user?: unknown; client?: unknown };
    if ((user !== undefined && typeof user !== 'string') || (client !== undefined && typeof client !== 'string')) {
      throw new ReplyError(Errors.badRequest, 'user and client must be strings');
    }
    if ((user === undefined) === (client === undefined)) {
      throw new ReplyError(Errors.badRequest, 'direct message needs exactly one of user or client');
    }
    // "" would address every anonymous connection at once.
    if (user === '' || client === '') throw new ReplyError(Errors.badRequest, 'user and client must not be empty');
    const payload = rawValueAt(text as string, ['data']) ?? 'null';
    if (!(await node.ops.isOnline({ user, client }))) throw new ReplyError(ChorusErrors.targetOffline);
    const from = JSON.stringify({ user: ctx.user, client: ctx.client });
    const message: Payload = Buffer.from(`{"from":${from},"data":${payload}}`);
    await node.ops.send({ user, client, data: message });
    return EMPTY_RESULT;
  };
}
