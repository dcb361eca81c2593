/**
 * Encoded pushes the hub queues, unchanged, to many connections (publications, join/leave). A transport may build
 * its wire frame for such a message once and write the same bytes to every socket, instead of framing per socket.
 */
export const sharedFrames = new WeakSet<Uint8Array>();
