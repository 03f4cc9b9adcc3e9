/**
 * Downloading a large file properly: into `<dest>.incomplete`, resumed with an HTTP Range request
 * after an interruption (a dropped connection, or a killed process: the partial file stays),
 * retried with back-off, checked against its sha256 when it is known (a mismatch deletes the file),
 * and renamed into place only when whole. A lock file beside it makes a second process wait for the
 * first instead of writing the same file. Progress goes to the reporter `setDownloadReporter` sets
 * (the CLI draws a bar on a terminal; a library caller gets none unless it asks).
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';

export interface DownloadOptions {
  /** Expected sha256 (hex): checked after the download; a mismatch deletes the file. */
  sha256?: string;
  /** Expected size in bytes, when the server said it (progress, and a check). */
  size?: number;
  headers?: Record<string, string>;
  /** What to call the file in messages and on the progress bar. */
  label?: string;
  retries?: number;
}

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

const HEADERS_TIMEOUT_MS = 30_000;
/** A body that sends nothing for this long is treated as a dropped connection (and resumed). */
const STALL_MS = 60_000;

export async function download(url: string, dest: string, o: DownloadOptions = {}): Promise<void> {
  await fs.mkdir(path.dirname(dest), { recursive: true });
  const release = await lock(dest);
  try {
    if (await exists(dest)) return; // another process finished it while we waited
    const partial = `${dest}.incomplete`;
    const retries = o.retries ?? 5;
    for (let attempt = 0; ; attempt++) {
      try {
        await fetchInto(url, partial, o);
        break;
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        if (err.code === 'ENOSPC') throw new Error(`disk full writing ${partial}`, { cause: e });
        if (e instanceof HttpError || attempt >= retries) throw e;
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
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(HEADERS_TIMEOUT_MS), redirect: 'follow' }).catch(
    (e: Error) => {
      throw new Error(`cannot reach ${new URL(url).host} (${causeOf(e)})`, { cause: e });
    },
  );
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
  try {
    const reader = res.body!.getReader();
    for (;;) {
      const { done, value } = await withStallTimeout(reader.read(), () => void reader.cancel());
      if (done) break;
      await file.write(value);
      reporter?.progress(value.length);
    }
  } finally {
    await file.close();
    reporter?.done();
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
