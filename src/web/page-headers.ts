/**
 * Headers every page Chorus serves carries. The pages load scripts and styles only from /assets (no inline code,
 * no CDN), so the Content-Security-Policy can forbid everything else: an injected `<script>` or `on…=` attribute
 * does not run, the pages cannot be framed (clickjacking of the admin page), and they leak no URL to other sites.
 */
import type { IncomingMessage } from 'node:http';

/** A Host header safe to echo into the policy (a name or an IP, and a port). */
const HOST = /^(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

export function contentSecurityPolicy(req: IncomingMessage): string {
  // 'self' covers ws:/wss: to the same host in current browsers (CSP level 3); older ones need it spelled out.
  const host = req.headers.host ?? '';
  const sockets = HOST.test(host) ? ` ws://${host} wss://${host}` : '';
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self'${sockets}`,
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export function pageHeaders(req: IncomingMessage): Record<string, string> {
  return {
    'content-security-policy': contentSecurityPolicy(req),
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
  };
}
