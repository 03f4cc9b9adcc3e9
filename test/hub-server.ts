/**
 * A stand-in for the Hugging Face Hub on 127.0.0.1, speaking the file API its clients use (SPEC §6,
 * as huggingface_hub's file_download.py reads it): `HEAD|GET /{repo}/resolve/{revision}/{file}`
 * answers 302 to `/blobs/{sha256}` for LFS files with X-Repo-Commit, X-Linked-Etag, X-Linked-Size
 * and ETag (small files: 200 with ETag), 401/403/404 with X-Error-Code; blobs honour Range;
 * `GET /api/models/{repo}[/revision/{rev}]` lists `siblings`. Faults can be injected per blob, and
 * `intercept` lets a test answer any request itself (a lying Hub: hostile-hub.test.ts).
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRepo {
  commit: string;
  /** Extra revision names (branches, tags) for the same commit. */
  revisions?: string[];
  files: Record<string, Buffer>;
  /** Files served as LFS (302 to a blob); others are answered directly. Default: every file. */
  lfs?: (file: string) => boolean;
  /** Answer 403 GatedRepo unless this Bearer token is sent. */
  token?: string;
}

export interface Fault {
  /** Close the connection after this many body bytes (once per fault). */
  cutAfter?: number;
  /** Flip one byte of the body. */
  corrupt?: boolean;
}

export class FakeHub {
  readonly repos = new Map<string, FakeRepo>();
  readonly log: { method: string; url: string; range?: string; auth?: string }[] = [];
  readonly faults = new Map<string, Fault>();
  /** Plain files at fixed paths (a URL download, a Keras mirror). */
  readonly statics = new Map<string, Buffer>();
  /** Answers a request in place of the stand-in (after logging it); returns true when it did. */
  intercept?: (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => boolean;
  private server?: http.Server;
  private readonly blobs = new Map<string, Buffer>();
  url = '';

  add(repo: string, r: FakeRepo): void {
    this.repos.set(repo, r);
    for (const b of Object.values(r.files)) this.blobs.set(sha256(b), b);
  }

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }
  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url!, 'http://x');
    this.log.push({ method: req.method!, url: url.pathname, range: req.headers.range, auth: req.headers.authorization });
    if (this.intercept?.(req, res, url)) return;
    const stat = this.statics.get(url.pathname);
    if (stat) {
      res.writeHead(200, { 'content-length': String(stat.length) });
      return void res.end(req.method === 'HEAD' ? undefined : stat);
    }
    const blob = /^\/blobs\/([0-9a-f]{64})$/.exec(url.pathname);
    if (blob) return this.sendBlob(req, res, blob[1]!);
    const api = /^\/api\/models\/([^/]+\/[^/]+)(?:\/revision\/([^/]+))?$/.exec(url.pathname);
    if (api) {
      const r = this.repos.get(api[1]!);
      if (!r) return error(res, 401, 'RepoNotFound');
      return json(res, { id: api[1], sha: r.commit, siblings: Object.keys(r.files).map((rfilename) => ({ rfilename })) });
    }
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!m) return error(res, 404, 'EntryNotFound');
    const [, repoName, rev, fileEnc] = m as unknown as [string, string, string, string];
    const r = this.repos.get(repoName);
    if (!r) return error(res, 401, 'RepoNotFound');
    if (r.token && req.headers.authorization !== `Bearer ${r.token}`) return error(res, 403, 'GatedRepo');
    if (rev !== 'main' && rev !== r.commit && !r.revisions?.includes(decodeURIComponent(rev)))
      return error(res, 404, 'RevisionNotFound');
    const file = decodeURIComponent(fileEnc);
    const body = r.files[file];
    if (!body) return error(res, 404, 'EntryNotFound');
    const sha = sha256(body);
    if (r.lfs?.(file) ?? true) {
      res.writeHead(302, {
        location: `/blobs/${sha}`,
        'x-repo-commit': r.commit,
        'x-linked-etag': `"${sha}"`,
        'x-linked-size': String(body.length),
        etag: `"${createHash('sha1').update(body).digest('hex')}"`,
      });
      return void res.end();
    }
    res.writeHead(200, {
      'x-repo-commit': r.commit,
      etag: `"${createHash('sha1').update(body).digest('hex')}"`,
      'content-length': String(body.length),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private sendBlob(req: http.IncomingMessage, res: http.ServerResponse, sha: string): void {
    let body = this.blobs.get(sha);
    if (!body) return error(res, 404, 'EntryNotFound');
    const fault = this.faults.get(sha);
    if (fault?.corrupt) {
      body = Buffer.from(body);
      body[body.length >> 1]! ^= 0xff;
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    if (start >= body.length && range) {
      res.writeHead(416, { 'content-range': `bytes */${body.length}` });
      return void res.end();
    }
    const part = body.subarray(start);
    res.writeHead(range ? 206 : 200, {
      'content-length': String(part.length),
      'accept-ranges': 'bytes',
      ...(range ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
    });
    if (req.method === 'HEAD') return void res.end();
    if (fault?.cutAfter !== undefined) {
      const cut = fault.cutAfter;
      delete fault.cutAfter; // once
      res.write(part.subarray(0, cut), () => res.destroy());
      return;
    }
    res.end(part);
  }
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function error(res: http.ServerResponse, status: number, code: string): void {
  res.writeHead(status, { 'x-error-code': code, 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: code }));
}
function json(res: http.ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
