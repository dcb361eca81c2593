/**
 * The `b64data` / `b64info` fields of the server API, tokens and proxy answers: standard base64 (RFC 4648, `+` and
 * `/`), padded or not, as Centrifugo's clients and SDKs write it. Anything else is refused rather than decoded
 * leniently into bytes nobody sent.
 */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The bytes `text` encodes, or undefined when it is not base64. */
export function decodeBase64(text: string): Buffer | undefined {
  if (!BASE64.test(text) || text.length % 4 === 1) return undefined;
  const padding = text.indexOf('=');
  if (padding !== -1 && text.length % 4 !== 0) return undefined;
  return Buffer.from(text, 'base64');
}
