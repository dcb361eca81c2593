/** The rpc and send commands: answered by the application's hooks (embedding code or the RPC proxy). */
import { DisconnectError, Disconnects, Errors, ReplyError } from '../../protocol/codes.js';
import type { Payload } from '../../protocol/messages.js';
import { callHook } from '../hooks.js';
import type { Client } from './client.js';

export async function handleRPC(client: Client, id: number, method: string, data: Payload | undefined): Promise<void> {
  const node = client.node;
  const handler = node.hooks.rpc.get(method);
  if (handler !== undefined) {
    const result = await callHook(node.log, () => handler(client, data));
    client.reply(id, 'rpc', { data: result });
    return;
  }
  const fallback = node.hooks.onUnknownRPC;
  const answer = fallback ? await callHook(node.log, () => fallback(client, method, data)) : undefined;
  if (answer === undefined) throw new ReplyError(Errors.notAvailable);
  client.reply(id, 'rpc', { data: answer.data });
}

export async function handleSend(client: Client, data: Payload | undefined): Promise<void> {
  const handler = client.node.hooks.onSend;
  if (handler === undefined) throw new DisconnectError(Disconnects.notAvailable, 'no handler for send');
  await callHook(client.node.log, () => handler(client, data));
}
