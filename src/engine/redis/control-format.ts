/**
 * Control messages between nodes on Redis pub/sub: JSON, with byte payloads as `{"$b64": "…"}`. Internal to
 * Chorus nodes (every node of a cluster runs the same format), never seen by clients.
 */
import type { ControlMessage } from '../../core/ports/control.js';

export function encodeControl(message: ControlMessage): string {
  return JSON.stringify(message, function bytesAsBase64(this: Record<string, unknown>, key: string, value: unknown) {
    // `value` is what toJSON made of a Buffer: the original is on the holder.
    const original = this[key];
    if (original instanceof Uint8Array) return { $b64: Buffer.from(original).toString('base64') };
    return value;
  });
}

/** The message, or undefined when it is not one (a foreign or corrupted publication on the control channel). */
export function decodeControl(raw: Buffer): ControlMessage | undefined {
  try {
    const message = JSON.parse(raw.toString('utf8'), (_key, value: unknown) => {
      if (typeof value === 'object' && value !== null && '$b64' in value) {
        const b64 = (value as { $b64: unknown }).$b64;
        if (typeof b64 === 'string' && Object.keys(value).length === 1) return Buffer.from(b64, 'base64');
      }
      return value;
    }) as unknown;
    if (typeof message !== 'object' || message === null || typeof (message as { op?: unknown }).op !== 'string') {
      return undefined;
    }
    return message as ControlMessage;
  } catch {
    return undefined;
  }
}
