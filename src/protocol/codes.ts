/**
 * The catalogue of client-visible codes. Numbers and messages are Centrifugo's (centrifuge errors.go and
 * disconnect.go) because the SDKs act on them: reply errors 100–113, disconnect codes 3000–3499 (the client
 * reconnects) and 3500–3999 (terminal), unsubscribe push codes 2000/2500+. docs/protocol.md lists them and
 * test/unit/codes.test.ts checks this file against that document, so no code appears silently.
 */

export interface ProtocolError {
  readonly code: number;
  readonly message: string;
  readonly temporary?: boolean;
}

export const Errors = {
  internal: { code: 100, message: 'internal server error', temporary: true },
  unauthorized: { code: 101, message: 'unauthorized' },
  unknownChannel: { code: 102, message: 'unknown channel' },
  permissionDenied: { code: 103, message: 'permission denied' },
  methodNotFound: { code: 104, message: 'method not found' },
  alreadySubscribed: { code: 105, message: 'already subscribed' },
  limitExceeded: { code: 106, message: 'limit exceeded' },
  badRequest: { code: 107, message: 'bad request' },
  notAvailable: { code: 108, message: 'not available' },
  tokenExpired: { code: 109, message: 'token expired' },
  expired: { code: 110, message: 'expired' },
  tooManyRequests: { code: 111, message: 'too many requests', temporary: true },
  unrecoverablePosition: { code: 112, message: 'unrecoverable position' },
  concurrentPagination: { code: 113, message: 'concurrent pagination', temporary: true },
} as const satisfies Record<string, ProtocolError>;

/**
 * Chorus's own reply errors, for its extensions. They sit in the range Centrifugo leaves to applications
 * (400–1999), so the SDKs treat them as final errors of the call.
 */
export const ChorusErrors = {
  targetOffline: { code: 404, message: 'target not connected' },
} as const satisfies Record<string, ProtocolError>;

export interface Disconnect {
  readonly code: number;
  readonly reason: string;
}

export const Disconnects = {
  connectionClosed: { code: 3000, reason: 'connection closed' },
  shutdown: { code: 3001, reason: 'shutdown' },
  serverError: { code: 3004, reason: 'internal server error' },
  expired: { code: 3005, reason: 'connection expired' },
  subExpired: { code: 3006, reason: 'subscription expired' },
  slow: { code: 3008, reason: 'slow' },
  writeError: { code: 3009, reason: 'write error' },
  insufficientState: { code: 3010, reason: 'insufficient state' },
  forceReconnect: { code: 3011, reason: 'force reconnect' },
  noPong: { code: 3012, reason: 'no pong' },
  tooManyRequests: { code: 3013, reason: 'too many requests' },
  stateInvalidated: { code: 3014, reason: 'state invalidated' },
  invalidToken: { code: 3500, reason: 'invalid token' },
  badRequest: { code: 3501, reason: 'bad request' },
  stale: { code: 3502, reason: 'stale' },
  forceNoReconnect: { code: 3503, reason: 'force disconnect' },
  connectionLimit: { code: 3504, reason: 'connection limit' },
  channelLimit: { code: 3505, reason: 'channel limit' },
  inappropriateProtocol: { code: 3506, reason: 'inappropriate protocol' },
  permissionDenied: { code: 3507, reason: 'permission denied' },
  notAvailable: { code: 3508, reason: 'not available' },
  tooManyErrors: { code: 3509, reason: 'too many errors' },
} as const satisfies Record<string, Disconnect>;

/** Codes carried by an `unsubscribe` push. Below 2500 the subscription ends; 2500 and above make the SDK resubscribe. */
export const UnsubscribeCodes = {
  server: { code: 2000, reason: 'server unsubscribe' },
  insufficientState: { code: 2500, reason: 'insufficient state' },
  expired: { code: 2501, reason: 'subscription expired' },
  stateInvalidated: { code: 2502, reason: 'state invalidated' },
} as const satisfies Record<string, Disconnect>;

/** Whether an SDK reconnects after this close code (Centrifugo's rule; 1009 is the one terminal transport code). */
export function shouldReconnect(code: number): boolean {
  if (code === 1009) return false;
  if (code < 3000) return true;
  if (code >= 3500 && code < 4000) return false;
  if (code >= 4500 && code < 5000) return false;
  return true;
}

/**
 * Thrown inside command handling to answer the command with a protocol error. It is an answer, not a failure, and
 * a client can have thousands of commands refused in one frame: it carries no stack trace, whose capture costs
 * several times what answering the command does (and held the event loop for hundreds of ms per burst).
 */
export class ReplyError extends Error {
  constructor(
    readonly error: ProtocolError,
    readonly detail?: string,
  ) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(detail ? `${error.message}: ${detail}` : error.message);
    Error.stackTraceLimit = limit;
  }
}

/** Thrown inside command handling to close the connection with a disconnect code. */
export class DisconnectError extends Error {
  constructor(
    readonly disconnect: Disconnect,
    /** What exactly was wrong, for the log (the client only sees the code and reason). */
    readonly detail?: string,
  ) {
    super(detail ? `${disconnect.reason}: ${detail}` : disconnect.reason);
  }
}
