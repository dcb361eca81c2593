/** What channel commands need from the session that runs them: the subscriber's view, plus replies and hooks. */
import type { ReplyMethod, ResultOf } from '../../protocol/messages.js';
import type { ClientContext } from '../hooks.js';
import type { SubscriberSession } from './subscription.js';

export interface ChannelSession extends SubscriberSession {
  /** The connection as hooks see it. */
  readonly context: ClientContext;
  reply<M extends ReplyMethod>(id: number, method: M, result: ResultOf[M]): void;
}
