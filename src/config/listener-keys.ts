/**
 * Centrifugo keys about Chorus's own listeners (TLS, the internal port) that Chorus does not implement. Silently
 * ignoring them would leave a deployment less secure than its operator believes (plain HTTP where certificates
 * were asked for), so an enabling value refuses the start with the key and the alternative named. Keys that
 * only matter to outgoing connections have no effect on a listener, in Centrifugo too: they warn.
 */

type Verdict = { error: string } | { warning: string };

const CLIENT_SIDE = ['server_ca_pem', 'insecure_skip_verify', 'server_name'];

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The verdict on an unsupported key under http_server, or undefined when it is not one of these. */
export function classifyListenerKey(path: string, value: unknown): Verdict | undefined {
  if (path === 'http_server.tls_autocert' || path.startsWith('http_server.tls_autocert.')) {
    const enabled = path === 'http_server.tls_autocert' ? isObj(value) && value.enabled === true : undefined;
    if (enabled === true || (path === 'http_server.tls_autocert.enabled' && value === true)) {
      return {
        error:
          "http_server.tls_autocert (automatic ACME / Let's Encrypt certificates) is not built into Chorus: get the " +
          'certificate with certbot, acme.sh or your platform and set http_server.tls.cert_pem and ' +
          'http_server.tls.key_pem to its files (Chorus reloads them when they change and on SIGHUP), or terminate ' +
          'TLS in a proxy in front of Chorus',
      };
    }
    return undefined;
  }
  const m = /^http_server\.(tls|internal_tls)\.(\w+)$/.exec(path);
  if (m !== null && CLIENT_SIDE.includes(m[2] as string)) {
    return {
      warning:
        `config key "${path}" only applies to outgoing TLS connections: a listener ignores it (as Centrifugo's ` +
        'does); use client_ca_pem to verify clients',
    };
  }
  return undefined;
}
