/**
 * Request schemas of the server API methods (Centrifugo v6 names and shapes, plus Chorus's `send`). A request
 * that does not fit is answered with error 107 naming the field. Unknown fields are ignored.
 */
import { z } from 'zod';

const channel = z.string({ error: 'must be a string' }).min(1, 'required');
const optionalString = z.string({ error: 'must be a string' }).optional();
const streamPosition = z.object({
  offset: z.number({ error: 'must be a number' }).int().min(0),
  epoch: z.string({ error: 'must be a string' }).default(''),
});
const boolValue = z.union([z.boolean(), z.object({ value: z.boolean() })]).optional();

const publishFields = {
  data: z.unknown().optional(),
  b64data: optionalString,
  skip_history: z.boolean({ error: 'must be a boolean' }).optional(),
  tags: z.record(z.string(), z.string({ error: 'tag values must be strings' })).optional(),
  idempotency_key: z.string({ error: 'must be a string' }).max(256, 'at most 256 characters').optional(),
  delta: z.boolean().optional(),
};

export const schemas = {
  publish: z.object({ channel, ...publishFields }),
  broadcast: z.object({
    channels: z.array(channel, { error: 'must be an array of channels' }).min(1, 'at least one channel').max(100_000),
    ...publishFields,
  }),
  subscribe: z.object({
    user: z.string({ error: 'must be a string' }),
    channel,
    client: optionalString,
    session: optionalString,
    info: z.unknown().optional(),
    b64info: optionalString,
    data: z.unknown().optional(),
    b64data: optionalString,
    recover_since: streamPosition.optional(),
    expire_at: z.number().int().min(0).optional(),
    override: z
      .object({
        presence: boolValue,
        join_leave: boolValue,
        force_push_join_leave: boolValue,
        force_recovery: boolValue,
        force_positioning: boolValue,
      })
      .optional(),
  }),
  unsubscribe: z.object({
    user: z.string({ error: 'must be a string' }),
    channel: z.string({ error: 'must be a string' }).default(''),
    client: optionalString,
    session: optionalString,
  }),
  disconnect: z.object({
    user: z.string({ error: 'must be a string' }).default(''),
    client: optionalString,
    session: optionalString,
    whitelist: z.array(z.string()).optional(),
    disconnect: z
      .object({
        code: z.number().int().min(3000, 'close codes start at 3000').max(4999, 'close codes end at 4999'),
        reason: z
          .string()
          .refine((r) => Buffer.byteLength(r) <= 123, 'at most 123 bytes (a WebSocket close reason)')
          .default(''),
      })
      .optional(),
  }),
  refresh: z.object({
    user: z.string({ error: 'must be a string' }),
    client: optionalString,
    session: optionalString,
    expired: z.boolean().optional(),
    expire_at: z.number().int().min(0).optional(),
    info: z.unknown().optional(),
    b64info: optionalString,
  }),
  presence: z.object({ channel }),
  presence_stats: z.object({ channel }),
  history: z.object({
    channel,
    limit: z.number({ error: 'must be a number' }).int().optional(),
    since: streamPosition.optional(),
    reverse: z.boolean().optional(),
  }),
  history_remove: z.object({ channel }),
  channels: z.object({ pattern: z.string().default('') }),
  info: z.object({}),
  /** Chorus extension: a `message` push to a connection, a user's connections, or everyone. */
  send: z.object({
    client: optionalString,
    user: optionalString,
    all: z.boolean().optional(),
    data: z.unknown().optional(),
    b64data: optionalString,
  }),
  batch: z.object({
    /**
     * Each is checked when it runs (one method per command), so that validating a batch of thousands of commands
     * is not one long step. Their number is capped by http_api.max_batch_commands, checked before this schema.
     */
    commands: z.array(z.unknown(), { error: 'must be an array of commands' }),
    parallel: z.boolean().optional(),
  }),
} as const;

export type Method = keyof typeof schemas;
export type Params<M extends Method> = z.output<(typeof schemas)[M]>;

export function isMethod(m: string): m is Method {
  return Object.hasOwn(schemas, m);
}
