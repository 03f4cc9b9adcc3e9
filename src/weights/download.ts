/**
 * Downloading a large file properly: into `<dest>.incomplete`, resumed with an HTTP Range request
 * after an interruption (a dropped connection, or a killed process: the partial file stays),
 * retried with back-off, checked against its sha256 when it is known (a mismatch deletes the file),
 * and renamed into place only when whole. A lock file beside it makes a second process wait for the
 * first instead of writing the same file. Progress goes to the reporter `setDownloadReporter` sets
 * (the CLI draws a bar on a terminal; a library caller gets none unless it asks).
 *
 * The server is not trusted: a body longer than announced (or, unannounced, than MAX_DOWNLOAD_BYTES)
 * is cut off and deleted, redirects are followed here, only to http(s), and the caller's headers
 * (HF_TOKEN) are dropped as soon as a redirect leaves the origin they were meant for.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { insideDir } from './safe-path.js';

export interface DownloadOptions {
  /** Expected sha256 (hex): checked after the download; a mismatch deletes the file. */
  sha256?: string;
  /** Expected size in bytes, when the server said it (progress, and a check). */
  size?: number;
  headers?: Record<string, string>;
  /** What to call the file in messages and on the progress bar. */
  label?: string;
  retries?: number;
  /** The cache folder `dest` (and its .incomplete and .lock files) must lie in. */
  inside?: string;
  /** The most bytes taken when no size is known (default MAX_DOWNLOAD_BYTES). */
  maxBytes?: number;
}

/** A body with no announced size is refused past this (far above any ConvNeXt checkpoint). */
export const MAX_DOWNLOAD_BYTES = 20 * 2 ** 30;
const MAX_REDIRECTS = 10;

export interface DownloadReporter {
  start(label: string, total: number | undefined, already: number): void;
  progress(bytes: number): void;
  done(): void;
}

let reporter: DownloadReporter | undefined;
/** Where download progress goes (the CLI sets a progress bar when stderr is a terminal). */
export function setDownloadReporter(r: DownloadReporter | undefined): void {
  reporter = r;
}

/** An HTTP answer that more tries will not change (4xx other than 408/429). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly headers: Headers,
    message: string,
  ) {
    super(message);
  }
}

/** A server answer that is refused outright: more tries will not make it safe. */
class Refused extends Error {}

const HEADERS_TIMEOUT_MS = 30_000;
/** A body that sends nothing for this long is treated as a dropped connection (and resumed). */
const STALL_MS = 60_000;

export async function download(url: string, dest: string, o: DownloadOptions = {}): Promise<void> {
  const partial = `${dest}.incomplete`;
  if (o.inside) for (const f of [dest, partial, `${dest}.lock`]) insideDir(o.inside, f, o.label ?? url);
  await fs.mkdir(path.dirname(dest), { recursive: true });
  const release = await lock(dest);
  try {
    if (await exists(dest)) return; // another process finished it while we waited
    const retries = o.retries ?? 5;
    for (let attempt = 0; ; attempt++) {
      try {
        await fetchInto(url, partial, o);
        break;
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        if (err.code === 'ENOSPC') throw new Error(`disk full writing ${partial}`, { cause: e });
        if (e instanceof HttpError || e instanceof Refused) throw e;
        if (attempt >= retries) throw new Error(`${o.label ?? url}: ${err.message}`, { cause: e });
        await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
      }
    }
    await verify(partial, o);
    await fs.rename(partial, dest);
  } finally {
    await release();
  }
}

async function fetchInto(url: string, partial: string, o: DownloadOptions): Promise<void> {
  const have = (await fs.stat(partial).catch(() => undefined))?.size ?? 0;
  if (o.size !== undefined && have === o.size) return;
  const headers: Record<string, string> = { ...o.headers };
  if (have > 0) headers.range = `bytes=${have}-`;
  const res = await fetchFollowing(url, headers, o.label ?? url);
  if (res.status === 416 && have > 0) return; // already whole; verify() decides
  if (!res.ok) {
    const retryable = res.status >= 500 || res.status === 408 || res.status === 429;
    const msg = `${o.label ?? url}: HTTP ${res.status} from ${new URL(url).host}`;
    await res.body?.cancel();
    if (retryable) throw new Error(msg);
    throw new HttpError(res.status, res.headers, msg);
  }
  const resumed = res.status === 206;
  const length = Number(res.headers.get('content-length') ?? NaN);
  const total = o.size ?? (Number.isFinite(length) ? length + (resumed ? have : 0) : undefined);
  const file = await fs.open(partial, resumed ? 'a' : 'w'); // a 200 to a Range request: start over
  reporter?.start(o.label ?? path.basename(partial, '.incomplete'), total, resumed ? have : 0);
  let got = resumed ? have : 0;
  const limit = o.size ?? o.maxBytes ?? MAX_DOWNLOAD_BYTES;
  let tooLong = false;
  try {
    const reader = res.body!.getReader();
    for (;;) {
      const { done, value } = await withStallTimeout(reader.read(), () => void reader.cancel());
      if (done) break;
      // Stop at the first byte past what was announced: an endless body must not fill the disk.
      if (got + value.length > limit) {
        tooLong = true;
        await reader.cancel().catch(() => undefined);
        break;
      }
      await file.write(value);
      got += value.length;
      reporter?.progress(value.length);
    }
  } finally {
    await file.close();
    reporter?.done();
  }
  if (tooLong) {
    await fs.rm(partial, { force: true });
    const announced =
      o.size !== undefined
        ? `the ${o.size} bytes announced`
        : `${limit} bytes (the most convcut downloads without an announced size)`;
    throw new Refused(
      `${o.label ?? url}: ${new URL(res.url || url).host} sent more than ${announced}; the download was stopped and deleted`,
    );
  }
}

/**
 * `fetch` with redirects followed here rather than by fetch: only to http(s) URLs, at most
 * MAX_REDIRECTS, and once the origin changes with Range only, so a token given for the endpoint
 * never reaches the host a blob URL redirects to (whatever fetch's own redirect handling does).
 */
async function fetchFollowing(url: string, headers: Record<string, string>, label: string): Promise<Response> {
  let current = new URL(url);
  if (!isHttp(current)) throw new Refused(`${label}: not an http(s) URL; refusing it`);
  let sent = headers;
  for (let hop = 0; ; hop++) {
    const res = await fetchHeaders(current, sent);
    const location = res.headers.get('location');
    if (![301, 302, 303, 307, 308].includes(res.status) || !location) return res;
    await res.body?.cancel();
    const next = parseUrl(location, current);
    if (!next || !isHttp(next))
      throw new Refused(
        `${label}: ${current.host} redirected to ${next ? `a ${next.protocol} URL` : 'no valid URL'}; refusing it`,
      );
    if (hop >= MAX_REDIRECTS)
      throw new Refused(`${label}: more than ${MAX_REDIRECTS} redirects from ${current.host}; refusing them`);
    if (next.origin !== current.origin) sent = headers.range ? { range: headers.range } : {};
    current = next;
  }
}

/**
 * The answer's headers within HEADERS_TIMEOUT_MS; the body then has no deadline (a large file takes
 * what it takes; a stalled one is caught by withStallTimeout).
 */
async function fetchHeaders(url: URL, headers: Record<string, string>): Promise<Response> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new Error(`no answer in ${HEADERS_TIMEOUT_MS / 1000} s`)), HEADERS_TIMEOUT_MS);
  try {
    return await fetch(url, { headers, signal: ctl.signal, redirect: 'manual' });
  } catch (e) {
    throw new Error(`cannot reach ${url.host} (${causeOf(e as Error)})`, { cause: e });
  } finally {
    clearTimeout(timer);
  }
}

export const isHttp = (u: URL): boolean => u.protocol === 'http:' || u.protocol === 'https:';

/** `new URL(s, base)`, or undefined when `s` is no URL. */
export function parseUrl(s: string, base?: URL | string): URL | undefined {
  try {
    return new URL(s, base);
  } catch {
    return undefined;
  }
}

async function verify(partial: string, o: DownloadOptions): Promise<void> {
  const size = (await fs.stat(partial)).size;
  if (o.size !== undefined && size !== o.size) {
    await fs.rm(partial, { force: true });
    throw new Error(
      `${o.label ?? partial}: got ${size} bytes, the server announced ${o.size}; the partial file was deleted, try again`,
    );
  }
  if (!o.sha256) return;
  const got = await sha256File(partial);
  if (got !== o.sha256.toLowerCase()) {
    await fs.rm(partial, { force: true });
    throw new Error(`${o.label ?? partial}: sha256 mismatch (expected ${o.sha256}, got ${got}); the download was deleted`);
  }
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

function withStallTimeout<T>(p: Promise<T>, onStall: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stall = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onStall();
      reject(new Error(`no data for ${STALL_MS / 1000} s`));
    }, STALL_MS);
  });
  return Promise.race([p, stall]).finally(() => clearTimeout(timer));
}

/** `<dest>.lock`, created exclusively; a lock left by a dead process is taken over. */
async function lock(dest: string): Promise<() => Promise<void>> {
  const file = `${dest}.lock`;
  for (;;) {
    try {
      const h = await fs.open(file, 'wx');
      await h.write(String(process.pid));
      await h.close();
      return () => fs.rm(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const pid = Number(await fs.readFile(file, 'utf8').catch(() => ''));
    if (!alive(pid)) {
      await fs.rm(file, { force: true });
      continue;
    }
    await new Promise((r) => setTimeout(r, 200)); // another process is downloading this file
  }
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    () => false,
  );
}

/** The low-level reason of a failed fetch (ECONNREFUSED, ENOTFOUND, a timeout…). */
export function causeOf(e: Error): string {
  const c = (e as { cause?: { code?: string; message?: string } }).cause;
  return c?.code ?? c?.message ?? e.message;
}
