/**
 * The emulated sessions this process holds, by their secret session id: where an emulation request's commands
 * go once it reaches this node (directly, or routed by another node through the engine).
 */
import type { Client } from '../../core/session/client.js';
import type { StreamTransport } from './stream-transport.js';

interface Held {
  client: Client;
  transport: StreamTransport;
}

export class EmulatedSessions {
  private readonly held = new Map<string, Held>();

  add(session: string, client: Client, transport: StreamTransport): void {
    this.held.set(session, { client, transport });
  }

  remove(session: string): void {
    this.held.delete(session);
  }

  get size(): number {
    return this.held.size;
  }

  /**
   * Hands a frame of commands (in the session's encoding) to the session, and resolves once it takes more: at
   * once, unless it has too many commands waiting. A session that is gone takes nothing (its stream has ended,
   * which is how its client learns).
   */
  deliver = async (session: string, frame: Uint8Array): Promise<void> => {
    const h = this.held.get(session);
    if (h === undefined || frame.length === 0) return;
    h.client.handleFrame(frame);
    await h.transport.whenReading();
  };
}
