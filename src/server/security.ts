/**
 * Who may talk to the server, and what browsers are told about its answers.
 *
 * - Host check (DNS rebinding): with `allowedHosts` set, a request whose `Host` header is not one
 *   of them, nor one of the addresses the server listens on (found when it starts listening), gets
 *   421. `*` allows any Host; `.example.com` allows example.com and its subdomains; an entry without
 *   a port allows any port. `/healthz` and `/readyz` answer whatever the Host (probes of a load
 *   balancer use addresses of their own; they reveal nothing).
 * - Cross-site requests (CSRF): a request that may change something (any method but GET, HEAD and
 *   OPTIONS) marked `Sec-Fetch-Site: cross-site` or `same-site`, or whose `Origin` is not this server
 *   (the request's own Host, or an allowed host), gets 403. Clients that are not browsers send
 *   neither header and are not affected.
 * - API key: with `apiKey` set, every `/v1/*` request needs `Authorization: Bearer <key>`, else 401
 *   with `WWW-Authenticate: Bearer`. The page and its assets stay open (the page asks for the key).
 * - Every answer carries nosniff, no-referrer, frame denial and a Content-Security-Policy.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { hostname as osHostname, networkInterfaces } from 'node:os';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * The page's Content-Security-Policy: no inline script, nothing from elsewhere, never framed.
 * (`'wasm-unsafe-eval'`: onnxruntime-web compiles its WebAssembly; `blob:` workers: its threads.)
 */
export const PAGE_CSP =
  "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; img-src 'self' data: blob:; " +
  "media-src 'self' blob: mediastream:; style-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; " +
  "form-action 'self'; frame-ancestors 'none'";

/** The API's answers (JSON, ONNX) are never documents: they may load nothing and never be framed. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** Keys shorter than this are refused (a guessable key is no key). */
export const MIN_API_KEY_LENGTH = 16;

export interface SecurityOptions {
  /** Hosts the `Host` header may name (see above); undefined: any. The listening addresses are added. */
  allowedHosts?: readonly string[];
  /** Bearer token every `/v1/*` request must carry; undefined: none needed. */
  apiKey?: string;
}

interface HostPort {
  host: string;
  port?: string;
}

/** `example.com:8080`, `[::1]:80`, `Example.COM.` → lower-case host (brackets kept for IPv6) and port; undefined if malformed. */
export function parseHost(value: string): HostPort | undefined {
  const v = value.trim().toLowerCase();
  let host: string;
  let port: string | undefined;
  if (v.startsWith('[')) {
    const end = v.indexOf(']');
    if (end < 0) return undefined;
    host = v.slice(0, end + 1);
    const rest = v.slice(end + 1);
    if (rest && !/^:\d{1,5}$/.test(rest)) return undefined;
    port = rest ? rest.slice(1) : undefined;
  } else {
    const parts = v.split(':');
    if (parts.length > 2) return undefined;
    host = parts[0]!;
    port = parts[1];
    if (port !== undefined && !/^\d{1,5}$/.test(port)) return undefined;
  }
  host = host.replace(/\.$/, '');
  if (!host || /[^a-z0-9.\-_[\]:]/.test(host)) return undefined;
  return { host, port };
}

/** Whether `hostHeader` is one of `allowed` (undefined: any). */
export function hostAllowed(hostHeader: string | undefined, allowed: readonly string[] | undefined, defaultPort = '80'): boolean {
  if (allowed === undefined || allowed.includes('*')) return true;
  if (!hostHeader) return false;
  const h = parseHost(hostHeader);
  if (!h) return false;
  const port = h.port ?? defaultPort;
  return allowed.some((entry) => {
    const e = parseHost(entry.startsWith('.') ? entry.slice(1) : entry);
    if (!e) return false;
    const hostOk = entry.startsWith('.') ? h.host === e.host || h.host.endsWith(`.${e.host}`) : h.host === e.host;
    return hostOk && (e.port === undefined || e.port === port);
  });
}

/** Whether `origin` (an Origin header) is this server: the request's own Host, or an allowed host (`*` aside). */
export function originAllowed(origin: string, hostHeader: string | undefined, allowed: readonly string[] | undefined): boolean {
  let u: URL;
  try {
    u = new URL(origin);
  } catch {
    return false; // "null" (sandboxed frames, file: pages) and junk
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  const o = `${u.hostname}:${port}`;
  if (hostHeader) {
    const h = parseHost(hostHeader);
    if (h && h.host === u.hostname.toLowerCase() && (h.port ?? (u.protocol === 'https:' ? '443' : '80')) === port) return true;
  }
  const named = (allowed ?? []).filter((a) => a !== '*');
  return named.length > 0 && hostAllowed(o, named);
}

/** The Host values a listening address answers to: loopback by every loopback name, any-address by every interface. */
export function servedHosts(addresses: readonly { address: string; port: number }[]): string[] {
  const out = new Set<string>();
  const add = (host: string, port: number) => {
    const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
    out.add(`${h.toLowerCase()}:${port}`);
    if (port === 80) out.add(h.toLowerCase());
  };
  const loopback = (port: number) => ['127.0.0.1', 'localhost', '::1'].forEach((h) => add(h, port));
  for (const { address, port } of addresses) {
    if (address === '0.0.0.0' || address === '::') {
      loopback(port);
      add(osHostname(), port);
      for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) add(i.address.replace(/%.*$/, ''), port);
    } else if (isLoopback(address)) loopback(port);
    else add(address, port);
  }
  return [...out];
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::ffff:127.0.0.1';
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Whether an Authorization header carries `key` as a Bearer token (constant time: digests are compared). */
export function bearerMatches(header: string | undefined, keyDigest: Buffer): boolean {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  // A digest is compared even when there is no token, so an answer's timing says nothing either way.
  const given = digest(m?.[1] ?? '');
  return timingSafeEqual(given, keyDigest) && m !== null;
}

/** `/healthz` and `/readyz`: open to any Host and without a key. */
const PROBES = new Set(['/healthz', '/readyz']);

function pathOf(req: FastifyRequest): string {
  return req.url.split('?')[0]!;
}

function isApi(req: FastifyRequest): boolean {
  const p = pathOf(req);
  return p === '/v1' || p.startsWith('/v1/') || (req.routeOptions.url ?? '').startsWith('/v1');
}

function refuse(reply: FastifyReply, status: number, code: string, message: string) {
  return reply.code(status).header('connection', 'close').type('application/json').send({ error: { code, message } });
}

/** The checks and headers above, as hooks on `app`. */
export function registerSecurity(app: FastifyInstance, o: SecurityOptions): void {
  const named = o.allowedHosts;
  let served: string[] | undefined;
  // The listening addresses are known once listening (port 0 gets its real port then): read at the first request.
  const allowedNow = (): readonly string[] | undefined => {
    if (named === undefined || named.includes('*')) return undefined;
    if (!served) {
      const a = app.server.address();
      if (!a || typeof a === 'string') return named;
      served = [...named, ...servedHosts([a])];
    }
    return served;
  };
  const keyDigest = o.apiKey === undefined ? undefined : digest(o.apiKey);

  app.addHook('onRequest', async (req, reply) => {
    const p = pathOf(req);
    const allowed = allowedNow();
    if (!PROBES.has(p) && !hostAllowed(req.headers.host, allowed))
      return refuse(
        reply,
        421,
        'bad_host',
        `this server does not answer to Host "${String(req.headers.host ?? '').slice(0, 100)}" (convcut serve --allowed-hosts names more)`,
      );
    if (!['GET', 'HEAD', 'OPTIONS'].includes(req.method)) {
      const site = req.headers['sec-fetch-site'];
      const origin = req.headers.origin;
      if (
        site === 'cross-site' ||
        site === 'same-site' ||
        (origin !== undefined && !originAllowed(origin, req.headers.host, allowed))
      )
        return refuse(
          reply,
          403,
          'cross_origin',
          'requests from other sites are refused; call the API from this server’s page or a non-browser client',
        );
    }
    if (keyDigest && isApi(req) && !bearerMatches(req.headers.authorization, keyDigest)) {
      reply.header('www-authenticate', 'Bearer realm="convcut"');
      return refuse(reply, 401, 'unauthorized', 'this server needs an API key: send "Authorization: Bearer <key>"');
    }
  });

  app.addHook('onSend', async (req, reply) => {
    const p = pathOf(req);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
    reply.header('content-security-policy', isApi(req) || PROBES.has(p) ? API_CSP : PAGE_CSP);
  });
}
