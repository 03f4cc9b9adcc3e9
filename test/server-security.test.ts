/**
 * The server against the attacks reproduced on loopback: a slow uploader holding the video slot,
 * analyses outliving their client, unbounded face detection, other sites driving the API (CSRF,
 * DNS rebinding, framing), local paths in answers, an API open to anyone who reaches the port, and
 * uploads left in the temporary folder. Each test failed before the fix.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { apiKeyFrom, exposureWarning } from '../src/cli/serve.js';
import { paramSpecs } from '../src/engine/describe.js';
import { ConvCutModel } from '../src/infer/convcut-model.js';
import { PAGE_CSP, hostAllowed, originAllowed } from '../src/server/security.js';
import { buildServer, type ServerOptions } from '../src/server/server.js';
import { saveCheckpoint } from '../src/weights/checkpoint.js';
import { initWeights } from '../src/weights/weight-map.js';
import { convcut, smallConfig, startServe } from './helpers.js';

const cfg = smallConfig();
const weights = initWeights(paramSpecs(cfg), 5);
/** A folder whose name must never appear in an answer. */
const secretDir = mkdtempSync(path.join(tmpdir(), 'convcut-secret-folder-'));
const checkpoint = path.join(secretDir, 'm.safetensors');
const clips = mkdtempSync(path.join(tmpdir(), 'convcut-sec-clips-'));
const shortClip = path.join(clips, 'short.mp4');
const longClip = path.join(clips, 'long.mp4');
const KEY = 'k3y-for-tests-0123456789abcdef';
let model: ConvCutModel;
const servers: FastifyInstance[] = [];

async function start(o: ServerOptions = {}): Promise<{ url: string; app: FastifyInstance }> {
  const app = await buildServer(model, { webDir: '/nonexistent', ...o });
  servers.push(app);
  return { url: await app.listen({ port: 0, host: '127.0.0.1' }), app };
}

/** A request with any headers (fetch may not set Host), on its own connection. */
function request(
  url: string,
  o: { method?: string; headers?: Record<string, string>; body?: Buffer } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: o.method ?? 'GET', headers: o.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

const jpeg = (w = 120, h = 90) =>
  sharp({ create: { width: w, height: h, channels: 3, background: '#c08060' } })
    .jpeg()
    .toBuffer();

const postVideo = (url: string, file: string, o: { signal?: AbortSignal; headers?: Record<string, string> } = {}) =>
  fetch(`${url}/v1/predict-video?faces=false`, {
    method: 'POST',
    headers: { 'content-type': 'video/mp4', ...o.headers },
    body: new Uint8Array(readFileSync(file)),
    signal: o.signal,
  });

/** Upload folders (`v-*`) left under `root`'s per-server folders. */
const leftUploads = (root: string) =>
  readdirSync(root).flatMap((d) => readdirSync(path.join(root, d)).map((f) => path.join(d, f)));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(ok: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!ok() && Date.now() < end) await sleep(20);
  return ok();
}

beforeAll(async () => {
  await saveCheckpoint(checkpoint, cfg, weights);
  model = await ConvCutModel.load(checkpoint);
  const ff = (...a: string[]) => execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...a]);
  const x264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'];
  ff('-f', 'lavfi', '-i', 'color=c=0x806040:s=64x64:r=10', '-t', '1', ...x264, shortClip);
  // 7,500 frames: many seconds of analysis, a few kB of file.
  ff('-f', 'lavfi', '-i', 'color=c=0x406080:s=64x64:r=30', '-t', '250', ...x264, longClip);
}, 60_000);

afterAll(async () => {
  for (const s of servers) await s.close();
  await model.dispose();
});

describe('bounded work per request', () => {
  it('a slow uploader does not hold the analysis, is cut off at the upload deadline (408), and its file is removed', async () => {
    const uploadDir = mkdtempSync(path.join(tmpdir(), 'convcut-sec-up-'));
    const { url } = await start({ video: { uploadDeadlineMs: 1500, uploadDir } });
    const { port } = new URL(url);
    const t0 = Date.now();
    const slow = net.connect(Number(port), '127.0.0.1');
    let answer = '';
    slow.setEncoding('utf8');
    slow.on('data', (d: string) => (answer += d));
    const closed = new Promise<number>((resolve) => slow.on('close', () => resolve(Date.now() - t0)));
    slow.write(
      `POST /v1/predict-video HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: video/mp4\r\nContent-Length: 1000000\r\n\r\n`,
    );
    slow.write(readFileSync(shortClip).subarray(0, 100)); // a few bytes, then nothing
    await sleep(300);
    expect(leftUploads(uploadDir)).toHaveLength(1); // it is uploading
    // Another client's video is analysed meanwhile (it got 503: the slot was taken before the upload).
    const other = await postVideo(url, shortClip);
    expect(other.status).toBe(200);
    expect(((await other.json()) as { frames: number }).frames).toBe(10);
    // The slow one is answered 408 at its deadline, and its connection closed.
    const after = await closed;
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(answer).toMatch(/"upload_timeout"/);
    expect(after).toBeGreaterThanOrEqual(1400);
    expect(after).toBeLessThan(6000);
    expect(await until(() => leftUploads(uploadDir).length === 0, 2000)).toBe(true);
  }, 30_000);

  it('an upload over the size limit is refused at once (413), multipart or raw, even if its client then stalls', async () => {
    const { url } = await start({ video: { maxBytes: 5000, uploadDeadlineMs: 20_000 } });
    const { port } = new URL(url);
    const send = (type: string, body: string) =>
      new Promise<{ answer: string; ms: number }>((resolve) => {
        const t0 = Date.now();
        const s = net.connect(Number(port), '127.0.0.1');
        let answer = '';
        s.on('data', (d) => (answer += d));
        s.on('error', () => {});
        s.on('close', () => resolve({ answer, ms: Date.now() - t0 }));
        s.write(
          `POST /v1/predict-video HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: ${type}\r\nContent-Length: 100000\r\n\r\n${body}`,
        );
      });
    const big = 'a'.repeat(8000);
    for (const r of [
      await send('video/mp4', big),
      await send(
        'multipart/form-data; boundary=b0',
        `--b0\r\nContent-Disposition: form-data; name="video"; filename="a.mp4"\r\nContent-Type: video/mp4\r\n\r\n${big}`,
      ),
    ]) {
      expect(r.answer).toMatch(/^HTTP\/1\.1 413/);
      expect(r.answer).toMatch(/"body_too_large"/);
      expect(r.ms).toBeLessThan(3000);
    }
  });

  it('uploads arriving at once are bounded (503 past them)', async () => {
    const { url } = await start({ video: { uploadDeadlineMs: 3000, maxUploads: 1 } });
    const { port } = new URL(url);
    const slow = net.connect(Number(port), '127.0.0.1');
    slow.on('data', () => {});
    slow.on('error', () => {});
    slow.write(
      `POST /v1/predict-video HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: video/mp4\r\nContent-Length: 1000000\r\n\r\nxx`,
    );
    await sleep(300);
    const r = await postVideo(url, shortClip);
    expect(r.status).toBe(503);
    const { error } = (await r.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('overloaded');
    expect(error.message).toMatch(/being uploaded/);
    slow.destroy();
    // The place is free again once that client has gone.
    await sleep(200);
    expect((await postVideo(url, shortClip)).status).toBe(200);
  }, 30_000);

  it('a client that goes away stops its analysis: the next video is analysed at once, and no upload is left', async () => {
    const uploadDir = mkdtempSync(path.join(tmpdir(), 'convcut-sec-up-'));
    const { url } = await start({ video: { uploadDir } });
    const ac = new AbortController();
    const long = postVideo(url, longClip, { signal: ac.signal }).catch((e: Error) => e);
    await sleep(1500); // uploaded, being analysed
    ac.abort();
    expect(await long).toBeInstanceOf(Error);
    await sleep(200);
    const t0 = Date.now();
    const next = await postVideo(url, shortClip); // 503 for as long as the abandoned analysis ran
    expect(next.status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await until(() => leftUploads(uploadDir).length === 0, 2000)).toBe(true);
  }, 60_000);

  it('closing the server mid-analysis stops it (503) and removes its upload folder', async () => {
    const uploadDir = mkdtempSync(path.join(tmpdir(), 'convcut-sec-up-'));
    const { url, app } = await start({ video: { uploadDir } });
    const long = postVideo(url, longClip);
    await sleep(1500);
    const t0 = Date.now();
    await app.close();
    expect(Date.now() - t0).toBeLessThan(10_000);
    const r = await long;
    expect(r.status).toBe(503);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('shutting_down');
    expect(readdirSync(uploadDir)).toEqual([]);
  }, 60_000);

  it('face detections are bounded: past the running ones and their queue, 503; within it, all answered', async () => {
    const img = new Uint8Array(await jpeg(480, 360));
    const burst = async (url: string) =>
      Promise.all(
        Array.from({ length: 6 }, () =>
          fetch(`${url}/v1/predict?faces=1`, { method: 'POST', body: img, headers: { 'content-type': 'image/jpeg' } }).then(
            async (r) => [r.status, ((await r.json()) as { error?: { code: string } }).error?.code] as const,
          ),
        ),
      );
    const strict = await burst((await start({ maxFaceDetections: 1, faceQueue: 0 })).url);
    expect(strict.filter(([s]) => s === 200).length).toBeGreaterThan(0);
    expect(strict.filter(([s, c]) => s === 503 && c === 'overloaded').length).toBeGreaterThan(0);
    expect(strict.every(([s]) => s === 200 || s === 503)).toBe(true);
    const queued = await burst((await start({ maxFaceDetections: 1, faceQueue: 5 })).url);
    expect(queued.map(([s]) => s)).toEqual([200, 200, 200, 200, 200, 200]);
  }, 60_000);
});

describe('same origin', () => {
  it('answers only to the Host names it serves (DNS rebinding), probes to any', async () => {
    const { url } = await start({ allowedHosts: [] });
    const { port } = new URL(url);
    const at = (host: string, p = '/v1/model') => request(`${url}${p}`, { headers: { host } });
    const evil = await at(`rebind.evil.example:${port}`);
    expect(evil.status).toBe(421);
    expect(JSON.parse(evil.body).error.code).toBe('bad_host');
    expect(evil.body).not.toContain('\n');
    expect((await at(`127.0.0.1:${port}`)).status).toBe(200);
    expect((await at(`localhost:${port}`)).status).toBe(200);
    expect((await at(`LOCALHOST:${port}`)).status).toBe(200);
    expect((await at(`127.0.0.1:${Number(port) + 1}`)).status).toBe(421);
    expect((await at(`rebind.evil.example:${port}`, '/')).status).toBe(421);
    expect((await at('rebind.evil.example', '/healthz')).status).toBe(200);
    expect((await at('rebind.evil.example', '/readyz')).status).toBe(200);
    // Names given: they too; * any.
    const named = (await start({ allowedHosts: ['fer.example.com', '.corp.example'] })).url;
    expect((await request(`${named}/v1/model`, { headers: { host: 'fer.example.com' } })).status).toBe(200);
    expect((await request(`${named}/v1/model`, { headers: { host: 'a.corp.example:443' } })).status).toBe(200);
    expect((await request(`${named}/v1/model`, { headers: { host: 'evil.example' } })).status).toBe(421);
    const any = (await start({ allowedHosts: ['*'] })).url;
    expect((await request(`${any}/v1/model`, { headers: { host: 'evil.example' } })).status).toBe(200);
    expect(hostAllowed('[::1]:8080', ['[::1]:8080'])).toBe(true);
    expect(hostAllowed('x:y:z', ['x'])).toBe(false);
    expect(hostAllowed(undefined, [])).toBe(false);
  });

  it('refuses POSTs from other sites (Origin, Sec-Fetch-Site) and accepts same-origin ones', async () => {
    const { url } = await start({ allowedHosts: [] });
    const img = await jpeg();
    const post = (headers: Record<string, string>, p = '/v1/predict') =>
      request(`${url}${p}`, { method: 'POST', body: img, headers: { 'content-type': 'image/jpeg', ...headers } });
    for (const headers of [
      { origin: 'http://evil.example' },
      { origin: 'null' },
      { origin: `http://localhost:${Number(new URL(url).port) + 1}` },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      { origin: url, 'sec-fetch-site': 'cross-site' },
    ] as Record<string, string>[]) {
      const r = await post(headers);
      expect(r.status, JSON.stringify(headers)).toBe(403);
      expect(JSON.parse(r.body).error.code).toBe('cross_origin');
    }
    const v = await request(`${url}/v1/predict-video`, {
      method: 'POST',
      body: readFileSync(shortClip),
      headers: { 'content-type': 'video/mp4', origin: 'http://evil.example' },
    });
    expect(v.status).toBe(403);
    expect((await post({ origin: url, 'sec-fetch-site': 'same-origin' })).status).toBe(200);
    expect((await post({ 'sec-fetch-site': 'none' })).status).toBe(200);
    expect((await post({})).status).toBe(200); // curl and other clients send neither
    expect(originAllowed('https://fer.example.com', '127.0.0.1:8080', ['fer.example.com'])).toBe(true);
    expect(originAllowed('https://fer.example.com', '127.0.0.1:8080', ['*'])).toBe(false);
  });

  it('every answer forbids framing and sniffing; the page gets a CSP without inline script', async () => {
    const webDir = mkdtempSync(path.join(tmpdir(), 'convcut-sec-web-'));
    mkdirSync(path.join(webDir, 'assets'));
    writeFileSync(path.join(webDir, 'index.html'), '<!doctype html><script type="module" src="/assets/a.js"></script>');
    writeFileSync(path.join(webDir, 'assets', 'a.js'), 'console.log(1)');
    const { url } = await start({ webDir });
    const answers = await Promise.all(
      ['/', '/assets/a.js', '/v1/model', '/healthz', '/nothing-here', '/v1/predict?top_k=x'].map((p) =>
        request(
          `${url}${p}`,
          p.includes('top_k') ? { method: 'POST', body: Buffer.from('x'), headers: { 'content-type': 'image/png' } } : {},
        ),
      ),
    );
    for (const r of answers) {
      expect(r.headers['x-content-type-options']).toBe('nosniff');
      expect(r.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
      expect(r.headers['x-frame-options']).toBe('DENY');
      expect(r.headers['referrer-policy']).toBe('no-referrer');
      expect(r.headers['cross-origin-opener-policy']).toBe('same-origin');
      expect(r.headers['cross-origin-embedder-policy']).toBe('require-corp');
    }
    expect(answers[0]!.status).toBe(200);
    expect(answers[0]!.headers['content-security-policy']).toBe(PAGE_CSP);
    const script = /script-src ([^;]*)/.exec(PAGE_CSP)![1]!.split(' ');
    for (const bad of ["'unsafe-inline'", "'unsafe-eval'", '*', 'data:', 'blob:', 'http:', 'https:'])
      expect(script).not.toContain(bad);
    expect(answers[5]!.status).toBe(400);
  });
});

describe('what answers reveal', () => {
  it('no path of this machine in the model info, predictions, video answers or errors', async () => {
    const { url } = await start();
    const bodies: string[] = [];
    const info = await fetch(`${url}/v1/model`);
    const m = (await info.clone().json()) as { id: string };
    expect(m.id).toBe('m.safetensors');
    bodies.push(await info.text());
    const p = await fetch(`${url}/v1/predict`, {
      method: 'POST',
      body: new Uint8Array(await jpeg()),
      headers: { 'content-type': 'image/jpeg' },
    });
    expect(p.status).toBe(200);
    bodies.push(await p.text());
    const v = await postVideo(url, shortClip);
    expect(v.status).toBe(200);
    bodies.push(await v.text());
    const bad = await fetch(`${url}/v1/predict-video`, {
      method: 'POST',
      body: 'not a video',
      headers: { 'content-type': 'video/mp4' },
    });
    expect(bad.status).toBe(422);
    bodies.push(await bad.text());
    expect(JSON.parse(bodies[1]!).model).toBe('m.safetensors');
    expect(JSON.parse(bodies[2]!).model).toBe('m.safetensors');
    for (const b of bodies) {
      expect(b).not.toContain(secretDir);
      expect(b).not.toContain(path.basename(secretDir));
      expect(b).not.toContain(tmpdir() + path.sep);
    }
  }, 30_000);
});

describe('API key', () => {
  it('every /v1 route needs the Bearer key (401 otherwise); probes, the page and its assets stay open', async () => {
    const webDir = mkdtempSync(path.join(tmpdir(), 'convcut-sec-web-'));
    writeFileSync(path.join(webDir, 'index.html'), '<!doctype html>');
    const { url } = await start({ apiKey: KEY, webDir });
    const get = (p: string, headers: Record<string, string> = {}) => request(`${url}${p}`, { headers });
    for (const p of ['/v1/model', '/v1/auth', '/v1/model.onnx', '/v1/nothing']) {
      for (const headers of [
        {},
        { authorization: 'Bearer wrong-key-0123456789' },
        { authorization: KEY },
        { authorization: `Basic ${KEY}` },
      ] as Record<string, string>[]) {
        const r = await get(p, headers);
        expect(r.status, `${p} ${JSON.stringify(headers)}`).toBe(401);
        expect(r.headers['www-authenticate']).toMatch(/^Bearer/);
        expect(JSON.parse(r.body).error.code).toBe('unauthorized');
        expect(r.body).not.toContain('\n');
      }
    }
    const img = await jpeg();
    const post = (headers: Record<string, string>) =>
      request(`${url}/v1/predict`, { method: 'POST', body: img, headers: { 'content-type': 'image/jpeg', ...headers } });
    expect((await post({})).status).toBe(401);
    expect((await post({ authorization: `Bearer ${KEY}` })).status).toBe(200);
    expect((await get('/v1/model', { authorization: `Bearer ${KEY}` })).status).toBe(200);
    expect((await get('/v1/auth', { authorization: `bearer ${KEY}` })).status).toBe(200);
    expect((await get(`/v1/model?x=1`, { authorization: `Bearer ${KEY}x` })).status).toBe(401);
    expect((await get('/v1/faces/landmarks.onnx')).status).toBe(401); // the page's face graphs are API answers too
    for (const p of ['/healthz', '/readyz', '/']) expect((await get(p)).status, p).toBe(200);
    // Without a key, /v1/auth says so.
    const open = (await start()).url;
    expect((await request(`${open}/v1/auth`)).status).toBe(200);
  });

  it('a key shorter than 16 characters is refused in one line that does not show it; listening beyond loopback without a key warns', async () => {
    expect(() => apiKeyFrom('short-key')).toThrow(/at least 16 characters/);
    expect(() => apiKeyFrom(undefined, { CONVCUT_API_KEY: 'short' })).toThrow(/at least 16/);
    expect(apiKeyFrom(undefined, { CONVCUT_API_KEY: KEY })).toBe(KEY);
    expect(apiKeyFrom(undefined, {})).toBeUndefined();
    const r = await convcut('serve', '-m', '/nonexistent.safetensors', '--api-key', 'tiny-secret');
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/at least 16 characters/);
    expect(r.stderr).not.toContain('tiny-secret');
    expect(exposureWarning('0.0.0.0', undefined)).toMatch(/warning: .*without an API key/);
    expect(exposureWarning('::', undefined)).toMatch(/warning/);
    expect(exposureWarning('0.0.0.0', KEY)).toBeUndefined();
    for (const h of ['127.0.0.1', '::1', 'localhost']) expect(exposureWarning(h, undefined)).toBeUndefined();
  });

  it('convcut serve --port 0: the real port is the allowed Host, the key from CONVCUT_API_KEY is required; SIGTERM mid-analysis leaves no upload', async () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'convcut-sec-tmp-'));
    const { child, address, exited, output } = await startServe(['-m', checkpoint, '--port', '0'], {
      ...process.env,
      CONVCUT_API_KEY: KEY,
      TMPDIR: tmp,
    });
    try {
      const auth = { authorization: `Bearer ${KEY}` };
      expect((await request(`${address}/v1/model`, { headers: auth })).status).toBe(200);
      expect((await request(`${address}/v1/model`)).status).toBe(401);
      expect((await request(`${address}/v1/model`, { headers: { ...auth, host: 'evil.example' } })).status).toBe(421);
      expect((await request(`${address}/readyz`)).status).toBe(200);
      expect(output()).not.toMatch(/warning/);
      // SIGTERM while a long video is analysed: it is stopped, answered, and its upload removed.
      const uploads = () => readdirSync(tmp).filter((d) => d.startsWith('convcut-uploads-'));
      const long = postVideo(address, longClip, { headers: auth });
      await sleep(1500);
      expect(uploads()).toHaveLength(1);
      child.kill('SIGTERM');
      const r = await long;
      expect(r.status).toBe(503);
      expect(await exited).toBe(0);
      expect(uploads()).toEqual([]);
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);
});
