/**
 * Answers an upgrade request Chorus will not take (wrong path, foreign origin, shutting down) with a plain HTTP
 * status, then drops the socket. Node hands upgrade sockets over without its own 'error' listener, so a peer that
 * resets the connection while the refusal is being written would raise an unhandled 'error' and end the process:
 * the listener added here swallows it (the peer is gone; there is nothing to tell it).
 */
import type { Duplex } from 'node:stream';

/** How long a refused peer may take to read the refusal before the socket is destroyed anyway. */
const REFUSAL_LINGER_MS = 5_000;

function ignoreSocketError(): void {}

/** Makes sure a socket's errors are handled (idempotent). */
export function guardSocket(socket: Duplex): void {
  if (!socket.listeners('error').includes(ignoreSocketError)) socket.on('error', ignoreSocketError);
}

export function refuseUpgrade(
  socket: Duplex,
  status: number,
  text: string,
  body = '',
  headers: Record<string, string> = {},
): void {
  guardSocket(socket);
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const payload = body === '' ? '' : `${body}\n`;
  const timer = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.once('finish', () => socket.destroy());
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\n${extra}Content-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`,
  );
}
