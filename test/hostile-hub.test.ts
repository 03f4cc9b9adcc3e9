/**
 * A lying Hub (or a URL host) must not make convcut write outside its caches, leave a partial file
 * in place of a real one, fill the disk, or hand HF_TOKEN to another host. Each attack below ran
 * against a stand-in on loopback (hub-server.ts with `intercept`); each must end in one line naming
 * what was wrong, with nothing written where the attack aimed.
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { download } from '../src/weights/download.js';
import { resolveModel, resolveWeights } from '../src/weights/sources.js';
import { FakeHub, sha256 } from './hub-server.js';

const hub = new FakeHub();
/** Another origin (another port): where a redirect may send the download, never the token. */
const elsewhere = new FakeHub();
const body = Buffer.from('not really weights, but bytes all the same\n'.repeat(300));
const SHA = sha256(body);
const SHA1 = createHash('sha1').update(body).digest('hex');
const COMMIT = 'd'.repeat(40);
let root = '';
let home = '';
/** Beside the caches: where each attack aims. */
let outside = '';

beforeAll(async () => {
  hub.add('org/repo', { commit: COMMIT, files: { 'model.safetensors': body } });
  await elsewhere.start();
  process.env.HF_ENDPOINT = await hub.start();
});
afterAll(async () => {
  await hub.stop();
  await elsewhere.stop();
});
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'convcut-hostile-'));
  home = path.join(root, 'home');
  outside = path.join(root, 'outside');
  mkdirSync(outside);
  process.env.HF_HOME = home;
  process.env.CONVCUT_CACHE = path.join(home, 'convcut');
  delete process.env.HF_HUB_CACHE;
  delete process.env.HF_HUB_OFFLINE;
  delete process.env.HF_TOKEN;
  hub.intercept = undefined;
  hub.log.length = 0;
  elsewhere.log.length = 0;
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** A relative path that climbs from anywhere in the cache to `target`. */
const climb = (target: string) => '../'.repeat(40) + target.replace(/^\/+/, '');
const blobsOf = (repo: string) => path.join(home, 'hub', `models--${repo.replace('/', '--')}`, 'blobs');

/** `p` fails with one line matching `re`. */
async function refused(p: Promise<unknown>, re: RegExp): Promise<void> {
  const e = (await p.then(
    () => undefined,
    (x: unknown) => x,
  )) as Error | undefined;
  expect(e, 'expected a refusal').toBeInstanceOf(Error);
  expect(e!.message).toMatch(re);
  expect(e!.message).not.toContain('\n');
}

/** Nothing but the caches under `root`, and `outside` holds only what the test put there. */
function nothingOutside(expected: string[] = []): void {
  expect(readdirSync(root).sort()).toEqual(existsSync(home) ? ['home', 'outside'] : ['outside']);
  expect(readdirSync(outside, { recursive: true }).map(String).sort()).toEqual(expected);
}

/** A HEAD/GET answer for `…/resolve/…` as the Hub gives a small file, with `headers` on top. */
function answerFile(req: http.IncomingMessage, res: http.ServerResponse, headers: Record<string, string>): true {
  res.writeHead(200, { 'x-repo-commit': COMMIT, etag: `"${SHA1}"`, 'content-length': String(body.length), ...headers });
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
}

/** A HEAD answer for an LFS file: 302 to `location`, with X-Linked-Etag / X-Linked-Size. */
function answerLfs(res: http.ServerResponse, location: string, headers: Record<string, string> = {}): true {
  res.writeHead(302, {
    location,
    'x-repo-commit': COMMIT,
    'x-linked-etag': `"${SHA}"`,
    'x-linked-size': String(body.length),
    etag: `"${SHA1}"`,
    ...headers,
  });
  res.end();
  return true;
}

const ENDPOINT = /http:\/\/127\.0\.0\.1:\d+/.source;

describe('a Hub answer never names a path outside the cache', () => {
  it('an ETag that climbs out of blobs/ is refused', async () => {
    const target = path.join(outside, 'pwned');
    hub.intercept = (req, res, url) => url.pathname.includes('/resolve/') && answerFile(req, res, { etag: `"${climb(target)}"` });
    await refused(
      resolveWeights('hf:org/repo/model.safetensors', 'test'),
      new RegExp(
        `^hf:org/repo/model\\.safetensors: ${ENDPOINT} answered an ETag that is not a Hub hash \\("\\.\\./\\.\\./.*"\\); refusing it$`,
      ),
    );
    expect(existsSync(target)).toBe(false);
    nothingOutside();
  });

  it('an X-Linked-Etag that climbs out of blobs/ is refused', async () => {
    const target = path.join(outside, 'pwned');
    hub.intercept = (_req, res, url) =>
      url.pathname.includes('/resolve/') && answerLfs(res, `/blobs/${SHA}`, { 'x-linked-etag': climb(target) });
    await refused(
      resolveWeights('hf:org/repo/model.safetensors', 'test'),
      new RegExp(
        `^hf:org/repo/model\\.safetensors: ${ENDPOINT} answered an ETag that is not a Hub hash \\("\\.\\./.*"\\); refusing it$`,
      ),
    );
    expect(existsSync(target)).toBe(false);
    nothingOutside();
  });

  it('an X-Repo-Commit that climbs out of snapshots/ is refused', async () => {
    const target = path.join(outside, 'snap');
    hub.intercept = (req, res, url) =>
      url.pathname.includes('/resolve/') && answerFile(req, res, { 'x-repo-commit': climb(target) });
    await refused(
      resolveWeights('hf:org/repo/model.safetensors', 'test'),
      new RegExp(
        `^hf:org/repo/model\\.safetensors: ${ENDPOINT} answered a commit that is not a Hub commit hash \\("\\.\\./.*"\\); refusing it$`,
      ),
    );
    expect(existsSync(target)).toBe(false);
    nothingOutside();
  });

  it('a listing naming a climbing or absolute file is refused; the file it aimed at is untouched', async () => {
    const target = path.join(outside, '.bashrc.onnx');
    writeFileSync(target, 'export PS1=original\n');
    let listed = [climb(target)];
    hub.intercept = (req, res, url) => {
      if (url.pathname.startsWith('/api/models/')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ siblings: listed.map((rfilename) => ({ rfilename })) }));
        return true;
      }
      return answerFile(req, res, {}); // whatever is asked for next: a valid-looking file
    };
    await refused(
      resolveModel('hf:org/evil'),
      new RegExp(
        `^hf:org/evil: ${ENDPOINT} listed a file name that is not a safe path \\("\\.\\./\\.\\./.*": .*\\); refusing the list$`,
      ),
    );
    expect(lstatSync(target).isSymbolicLink()).toBe(false);
    expect(readFileSync(target, 'utf8')).toBe('export PS1=original\n');

    listed = [path.join(outside, 'abs.onnx')];
    await refused(
      resolveModel('hf:org/evil'),
      /^hf:org\/evil: .* listed a file name that is not a safe path \("\/.*": absolute\); refusing the list$/,
    );
    nothingOutside(['.bashrc.onnx']);
    expect(hub.log.filter((r) => !r.url.startsWith('/api/'))).toEqual([]); // nothing was fetched from it
  });

  it('a climbing revision or file from the user is refused before any request', async () => {
    hub.intercept = (req, res, url) => url.pathname !== '/api/models/org/repo' && answerFile(req, res, {});
    await refused(
      resolveWeights('hf:org/repo@../../x/file', 'test'),
      /^hf:org\/repo@\.\.\/\.\.\/x\/file: the revision "\.\." is not a safe name: a "\.\." segment$/,
    );
    await refused(
      resolveWeights(`hf:org/repo/${climb(path.join(outside, 'user.safetensors'))}`, 'test'),
      /^hf:org\/repo\/(\.\.\/)+.*user\.safetensors: the file "\.\.\/.*" is not a safe path: a "\.\." segment$/,
    );
    await refused(
      resolveWeights('hf:org/repo/a//b.safetensors', 'test'),
      /the file "a\/\/b\.safetensors" is not a safe path: an empty segment$/,
    );
    await refused(
      resolveWeights('hf:../../model.safetensors', 'test'),
      /^hf:\.\.\/\.\.\/model\.safetensors: the repository "\.\.\/\.\." is not a safe name: a "\.\." segment$/,
    );
    expect(hub.log).toEqual([]);
    nothingOutside();
  });

  it('a refs/ file in the cache that names no commit is ignored', async () => {
    const aimed = path.join(outside, 'snap', 'model.safetensors');
    mkdirSync(path.dirname(aimed));
    writeFileSync(aimed, 'elsewhere');
    const refs = path.join(home, 'hub', 'models--org--repo', 'refs');
    mkdirSync(refs, { recursive: true });
    writeFileSync(path.join(refs, 'main'), climb(path.join(outside, 'snap')));
    process.env.HF_HUB_OFFLINE = '1';
    await refused(
      resolveWeights('hf:org/repo/model.safetensors', 'test'),
      /^hf:org\/repo\/model\.safetensors: not in the Hub cache/,
    );
  });
});

describe('URL downloads stay in the cache', () => {
  it('a URL whose path ends in dots, plain or encoded, lands inside urls/', async () => {
    hub.intercept = (req, res) => answerFile(req, res, {}); // `.%2e/.%2e/x` asks for /x
    const urls = path.join(home, 'convcut', 'urls');
    for (const tail of ['%2e%2e', '..', '%2E.', '..%2F..%2Fx.onnx', '.%2e/.%2e/x']) {
      const f = await resolveWeights(`${process.env.HF_ENDPOINT}/files/a/${tail}`, 'test');
      expect(path.relative(urls, f).split(path.sep)).toHaveLength(2); // urls/<hash>/<name>
      expect(path.basename(f)).not.toMatch(/^\.+$|[/\\]/);
      expect(readFileSync(f)).toEqual(body);
    }
    nothingOutside();
  });
});

describe('bodies that do not match what was announced', () => {
  it('a body longer than announced is stopped and deleted', async () => {
    hub.intercept = (req, res, url) => {
      if (url.pathname.includes('/resolve/')) return answerLfs(res, '/long');
      if (url.pathname !== '/long') return false;
      res.writeHead(200); // chunked: no Content-Length to stop the client
      res.end(Buffer.concat([body, Buffer.alloc(1 << 20)]));
      return true;
    };
    await refused(
      resolveWeights('hf:org/repo/model.safetensors', 'test'),
      new RegExp(
        `^hf:org/repo/model\\.safetensors: 127\\.0\\.0\\.1:\\d+ sent more than the ${body.length} bytes announced; the download was stopped and deleted$`,
      ),
    );
    expect(readdirSync(blobsOf('org/repo'))).toEqual([]);
    nothingOutside();
  });

  it('a body shorter than announced is deleted', async () => {
    hub.intercept = (req, res, url) => {
      if (url.pathname.includes('/resolve/')) return answerLfs(res, '/short');
      if (url.pathname !== '/short') return false;
      res.writeHead(200);
      res.end(body.subarray(0, 100));
      return true;
    };
    await refused(
      resolveWeights('hf:org/repo/model.safetensors', 'test'),
      new RegExp(
        `^hf:org/repo/model\\.safetensors: got 100 bytes, the server announced ${body.length}; the partial file was deleted, try again$`,
      ),
    );
    expect(readdirSync(blobsOf('org/repo'))).toEqual([]);
  });

  /** Answers `path` with a body that never ends (until the client hangs up). */
  const endless = (at: string) => (_req: http.IncomingMessage, res: http.ServerResponse, url: URL) => {
    if (url.pathname !== at) return false;
    res.writeHead(200);
    const chunk = Buffer.alloc(64 * 1024, 7);
    const pump = () => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', pump);
    };
    pump();
    return true;
  };

  it('an endless body is stopped at the announced size', { timeout: 30_000 }, async () => {
    const rest = endless('/endless');
    hub.intercept = (req, res, url) => (url.pathname.includes('/resolve/') ? answerLfs(res, '/endless') : rest(req, res, url));
    await refused(
      resolveWeights('hf:org/repo/model.safetensors', 'test'),
      /sent more than the \d+ bytes announced; the download was stopped and deleted$/,
    );
    expect(readdirSync(blobsOf('org/repo'))).toEqual([]);
  });

  it('an endless body with no announced size is stopped at the cap', { timeout: 30_000 }, async () => {
    hub.intercept = endless('/endless');
    const dest = path.join(home, 'dl', 'file');
    await refused(
      download(`${process.env.HF_ENDPOINT}/endless`, dest, { label: 'endless', inside: home, maxBytes: 1 << 20 }),
      /^endless: 127\.0\.0\.1:\d+ sent more than 1048576 bytes \(the most convcut downloads without an announced size\); the download was stopped and deleted$/,
    );
    expect(readdirSync(path.dirname(dest))).toEqual([]);
  });
});

describe('redirects', () => {
  it('HF_TOKEN goes to the endpoint only, never to the host a redirect leads to', async () => {
    process.env.HF_TOKEN = 'secret';
    elsewhere.statics.set('/cdn/blob', body);
    hub.intercept = (_req, res, url) => {
      if (url.pathname.includes('/resolve/')) return answerLfs(res, `/hop/${SHA}`); // same origin: token sent
      if (!url.pathname.startsWith('/hop/')) return false;
      res.writeHead(302, { location: `${elsewhere.url}/cdn/blob` }); // … then another origin
      res.end();
      return true;
    };
    const f = await resolveWeights('hf:org/repo/model.safetensors', 'test');
    expect(readFileSync(f)).toEqual(body);
    expect(hub.log.find((r) => r.url.startsWith('/hop/'))?.auth).toBe('Bearer secret');
    expect(elsewhere.log.map((r) => r.url)).toEqual(['/cdn/blob']);
    expect(elsewhere.log.map((r) => r.auth)).toEqual([undefined]);
  });

  it('a listing redirected to another host is asked for without the token', async () => {
    process.env.HF_TOKEN = 'secret';
    elsewhere.add('org/moved', { commit: COMMIT, files: { 'model.safetensors': body } });
    hub.intercept = (_req, res, url) => {
      if (!url.pathname.startsWith('/api/models/org/moved')) return false;
      res.writeHead(307, { location: `${elsewhere.url}${url.pathname}` });
      res.end();
      return true;
    };
    await resolveModel('hf:org/moved').catch(() => undefined); // the file itself is then asked of the endpoint
    expect(hub.log.find((r) => r.url.startsWith('/api/'))?.auth).toBe('Bearer secret');
    expect(elsewhere.log.map((r) => `${r.url} ${r.auth}`)).toEqual(['/api/models/org/moved undefined']);
  });

  it('a redirect to file:// or another scheme is refused at once', { timeout: 10_000 }, async () => {
    const target = path.join(outside, 'secret.txt');
    writeFileSync(target, 'local secret');
    hub.intercept = (_req, res, url) => {
      if (url.pathname.includes('/resolve/')) return answerLfs(res, '/hop');
      if (url.pathname !== '/hop') return false;
      res.writeHead(302, { location: `file://${target}` });
      res.end();
      return true;
    };
    await refused(
      resolveWeights('hf:org/repo/model.safetensors', 'test'),
      /^hf:org\/repo\/model\.safetensors: 127\.0\.0\.1:\d+ redirected to a file: URL; refusing it$/,
    );
    hub.intercept = (_req, res, url) => url.pathname.includes('/resolve/') && answerLfs(res, 'ftp://example.invalid/blob');
    await refused(
      resolveWeights('hf:org/repo/model.safetensors', 'test'),
      /^hf:org\/repo\/model\.safetensors: .* redirected to a ftp: URL; refusing it$/,
    );
    expect(readdirSync(blobsOf('org/repo'))).toEqual([]);
    nothingOutside(['secret.txt']);
  });
});
