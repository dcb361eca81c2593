/**
 * The address a request comes from, for per-address limits and logs (a client is never identified by it).
 * X-Forwarded-For and X-Real-IP are believed only when the peer itself is a trusted proxy
 * (`http_server.trusted_proxies`): anyone else can write them. Through a chain of trusted proxies the client is
 * the right-most X-Forwarded-For entry that is not a trusted proxy, so a client cannot pick its address by
 * sending its own X-Forwarded-For (proxies append to it).
 */
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import { parseCidr } from '../config/cidr.js';

/** "::ffff:1.2.3.4" → "1.2.3.4", "[::1]:80" → "::1", "1.2.3.4:80" → "1.2.3.4"; "" when it is no address. */
export function normalizeAddress(text: string): string {
  let a = text.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(a);
  if (bracketed) a = bracketed[1] as string;
  else if (/^\d{1,3}(\.\d{1,3}){3}:\d+$/.test(a)) a = a.slice(0, a.lastIndexOf(':'));
  const zone = a.indexOf('%');
  if (zone !== -1) a = a.slice(0, zone);
  if (/^::ffff:\d{1,3}(\.\d{1,3}){3}$/i.test(a)) a = a.slice(7);
  return isIP(a) === 0 ? '' : a.toLowerCase();
}

function firstHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v;
}

export class ClientAddresses {
  private readonly trusted = new BlockList();
  private readonly anyTrusted: boolean;

  constructor(trustedProxies: readonly string[]) {
    for (const t of trustedProxies) {
      const c = parseCidr(t);
      // The schema rejects what does not parse: nothing to skip silently here.
      if (c !== undefined) this.trusted.addSubnet(c.address, c.prefix, c.family);
    }
    this.anyTrusted = trustedProxies.length > 0;
  }

  private trusts(address: string): boolean {
    if (!this.anyTrusted || address === '') return false;
    return this.trusted.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
  }

  /** The client's address ("" when the socket has none, e.g. already closed). */
  of(req: IncomingMessage): string {
    const peer = normalizeAddress(req.socket.remoteAddress ?? '');
    if (!this.trusts(peer)) return peer;
    const forwarded = firstHeader(req.headers['x-forwarded-for']);
    if (forwarded !== undefined) {
      const hops = forwarded.split(',');
      for (let i = hops.length - 1; i >= 0; i--) {
        const a = normalizeAddress(hops[i] as string);
        // Garbage in the chain: nothing left of it can be believed.
        if (a === '') break;
        if (!this.trusts(a)) return a;
      }
    }
    const real = normalizeAddress(firstHeader(req.headers['x-real-ip']) ?? '');
    return real !== '' ? real : peer;
  }
}

/** The key an address is limited by: the address itself for IPv4, its /64 network for IPv6. */
export function limitKey(address: string): string {
  if (isIP(address) !== 6) return address;
  return `${expandIPv6(address).slice(0, 4).join(':')}::/64`;
}

/** The eight hextets of an IPv6 address ("2001:db8::1" → ["2001","db8","0",…,"1"]). */
function expandIPv6(address: string): string[] {
  let a = address;
  // An embedded IPv4 tail ("64:ff9b::1.2.3.4") becomes two hextets.
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(a);
  if (v4) {
    const [b1, b2, b3, b4] = v4.slice(1).map(Number) as [number, number, number, number];
    a = `${a.slice(0, v4.index)}${((b1 << 8) | b2).toString(16)}:${((b3 << 8) | b4).toString(16)}`;
  }
  const [head = '', tail] = a.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : new Array(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((h) => (h.replace(/^0+(?=.)/, '') || '0').toLowerCase());
}
