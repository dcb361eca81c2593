/**
 * Browser Origin checks at the WebSocket upgrade. No Origin header (a non-browser client) passes. With
 * `client.allowed_origins` empty only same-origin requests pass (Origin host equals the Host header), as in
 * Centrifugo; otherwise the Origin must match one pattern, where "*" matches any run of characters
 * ("https://*.example.com", "http://localhost:*") and a lone "*" allows every origin.
 */
export function compileOrigins(patterns: readonly string[]): RegExp[] {
  return patterns.map((p) => {
    const escaped = p
      .toLowerCase()
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
      .join('.*');
    return new RegExp(`^${escaped}$`);
  });
}

export function originAllowed(origin: string | undefined, host: string | undefined, allowed: RegExp[]): boolean {
  if (origin === undefined || origin === '') return true;
  const o = origin.toLowerCase();
  if (allowed.length === 0) {
    try {
      return new URL(o).host === (host ?? '').toLowerCase();
    } catch {
      return false;
    }
  }
  return allowed.some((re) => re.test(o));
}
