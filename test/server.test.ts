/** The HTTP API with a real server on loopback, as clients meet it. */
import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { paramSpecs } from '../src/engine/describe.js';
import { ConvCutModel } from '../src/infer/convcut-model.js';
import { buildServer, type ServerOptions } from '../src/server/server.js';
import { initWeights } from '../src/weights/weight-map.js';
import { FIXTURES, smallConfig, startServe } from './helpers.js';
import { Rng } from '../src/util/rng.js';

const cfg = smallConfig();
const weights = initWeights(paramSpecs(cfg), 1);
let model: ConvCutModel;
const servers: FastifyInstance[] = [];

async function start(o: ServerOptions = {}): Promise<string> {
  const app = await buildServer(model, { webDir: '/nonexistent', ...o });
  servers.push(app);
  return app.listen({ port: 0, host: '127.0.0.1' });
}

const jpeg = () =>
  sharp({ create: { width: 120, height: 90, channels: 3, background: '#c08060' } })
    .jpeg()
    .toBuffer();
const png = () =>
  sharp({ create: { width: 64, height: 64, channels: 3, background: '#406080' } })
    .png()
    .toBuffer();
const form = (field: string, data: Buffer, type = 'image/jpeg') => {
  const f = new FormData();
  f.append(field, new Blob([new Uint8Array(data)], { type }), 'x.jpg');
  return f;
};

describe('convcut serve API', () => {
  let url = '';
  beforeAll(async () => {
    model = await ConvCutModel.fromWeights(cfg, weights, { id: 'test-model' });
    url = await start({ bodyLimit: 200_000 });
  });
  afterAll(async () => {
    for (const s of servers) await s.close();
    await model.dispose();
  });

  it('answers health and model queries', async () => {
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok', queue: 0 });
    const m = await (await fetch(`${url}/v1/model`)).json();
    expect(m).toMatchObject({ id: 'test-model', classes: cfg.head.classes, inputSize: 112, attention: 'token' });
    const onnx = await fetch(`${url}/v1/model.onnx`);
    expect(onnx.status).toBe(200);
    expect((await onnx.arrayBuffer()).byteLength).toBeGreaterThan(10_000);
  });

  it('predicts a JPEG (multipart) and a PNG (raw body) with the same numbers as the library', async () => {
    const j = await fetch(`${url}/v1/predict?top_k=2`, { method: 'POST', body: form('image', await jpeg()) });
    expect(j.status).toBe(200);
    const body = await j.json();
    expect(body.model).toBe('test-model');
    expect(body.faces).toHaveLength(1);
    expect(body.faces[0].box).toEqual({ x: 0, y: 0, width: 120, height: 90 });
    expect(body.faces[0].top).toHaveLength(2);
    expect(body.timing.total_ms).toBeGreaterThan(0);
    const [lib] = await model.predict([await jpeg()], { topK: 2 });
    expect(body.faces[0].label).toBe(lib!.label);
    expect(body.faces[0].score).toBeCloseTo(lib!.score, 5);
    const p = await fetch(`${url}/v1/predict`, {
      method: 'POST',
      body: new Uint8Array(await png()),
      headers: { 'content-type': 'image/png' },
    });
    expect(p.status).toBe(200);
    expect((await p.json()).faces[0].top).toHaveLength(3);
  });

  it('rejects bad requests with 4xx JSON errors and keeps answering afterwards', async () => {
    const post = (body: BodyInit, type?: string, query = '') =>
      fetch(`${url}/v1/predict${query}`, { method: 'POST', body, headers: type ? { 'content-type': type } : undefined });
    const expectError = async (r: Response, status: number, code: string) => {
      expect(r.status).toBe(status);
      expect(r.headers.get('content-type')).toMatch(/application\/json/);
      const b = await r.json();
      expect(b.error.code).toBe(code);
      expect(b.error.message.length).toBeGreaterThan(5);
    };
    const j = await jpeg();
    await expectError(await post('this is text', 'image/jpeg'), 422, 'not_an_image');
    await expectError(await post(new Uint8Array(j.subarray(0, j.length >> 1)), 'image/jpeg'), 422, 'not_an_image');
    await expectError(await post(new Uint8Array(300_000), 'image/png'), 413, 'body_too_large');
    await expectError(await post(form('image', Buffer.alloc(300_000))), 413, 'body_too_large');
    // a decompression bomb: a valid PNG whose header claims 20,000 × 20,000 pixels
    const bomb = Buffer.from(await png());
    bomb.writeUInt32BE(20000, 16);
    bomb.writeUInt32BE(20000, 20);
    bomb.writeUInt32BE(crc32(bomb.subarray(12, 29)), 29); // a valid IHDR checksum, as a real bomb has
    await expectError(await post(new Uint8Array(bomb), 'image/png'), 413, 'image_too_large');
    await expectError(await post('hello', 'text/plain'), 415, 'unsupported_media_type');
    await expectError(await post('{"image": 1}', 'application/json'), 415, 'unsupported_media_type');
    await expectError(await post(form('photo', j)), 400, 'missing_image');
    await expectError(await post(new Uint8Array(0), 'image/jpeg'), 400, 'missing_image');
    await expectError(await fetch(`${url}/v2/predict`, { method: 'POST' }), 404, 'not_found');
    // query parameters are checked (top_k=abc was a 500 "internal error")
    for (const query of ['?top_k=abc', '?top_k=0', '?top_k=1.5', '?faces=maybe'])
      await expectError(await post(form('image', j), undefined, query), 400, 'bad_parameter');
    expect((await (await post(form('image', j), undefined, '?top_k=99')).json()).faces[0].top).toHaveLength(7);
    // still healthy and still predicting
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await post(form('image', j))).status).toBe(200);
  });

  it('an answered request leaves no time-limit timer behind (it held each rejected body for 30 s)', async () => {
    const url = await start({ requestTimeout: 30_123 });
    const armed = new Set<unknown>();
    const setSpy = vi.spyOn(globalThis, 'setTimeout');
    const clearSpy = vi.spyOn(globalThis, 'clearTimeout');
    const junk = new Uint8Array(5000).map((_, i) => (i * 7919) & 255);
    try {
      for (let i = 0; i < 50; i++) {
        const r = await fetch(`${url}/v1/predict`, { method: 'POST', body: junk, headers: { 'content-type': 'image/jpeg' } });
        expect(r.status).toBe(422);
      }
      setSpy.mock.calls.forEach((c, i) => c[1] === 30_123 && armed.add(setSpy.mock.results[i]!.value));
      expect(armed.size).toBe(50); // one time limit per request
      for (const c of clearSpy.mock.calls) armed.delete(c[0]);
    } finally {
      setSpy.mockRestore();
      clearSpy.mockRestore();
    }
    expect(armed.size).toBe(0); // every one cleared once its request was answered
  });

  it('fuzz: 600 mutated JPEG/PNG/WebP/GIF/TIFF/BMP bodies (seeded) get a 2xx/4xx answer each, never a 5xx or a hang', async () => {
    const url = await start();
    const base = sharp({ create: { width: 64, height: 48, channels: 3, background: '#c08060' } });
    const bmp = Buffer.alloc(54 + 2 * 12); // 24-bit, 4×2
    bmp.write('BM');
    bmp.writeUInt32LE(bmp.length, 2);
    bmp.writeUInt32LE(54, 10);
    bmp.writeUInt32LE(40, 14);
    bmp.writeInt32LE(4, 18);
    bmp.writeInt32LE(2, 22);
    bmp.writeUInt16LE(1, 26);
    bmp.writeUInt16LE(24, 28);
    const seeds: [string, Buffer][] = [
      ['jpeg', await base.clone().jpeg().toBuffer()],
      ['png', await base.clone().png().toBuffer()],
      ['webp', await base.clone().webp().toBuffer()],
      ['gif', await base.clone().gif().toBuffer()],
      ['tiff', await base.clone().tiff().toBuffer()],
      ['bmp', bmp],
    ];
    const rng = new Rng(7);
    const statuses = new Map<number, number>();
    for (let i = 0; i < 600; i++) {
      const [kind, seed] = seeds[i % seeds.length]!;
      const m = Buffer.from(seed);
      const op = rng.int(3);
      let body = m;
      if (op === 0)
        body = m.subarray(0, rng.int(m.length)); // truncated
      else if (op === 1)
        for (let j = 0; j <= rng.int(8); j++) m[rng.int(m.length)] = rng.int(256); // flipped bytes
      else m.writeUInt32LE(rng.int(2 ** 32) >>> 0, Math.min(rng.int(m.length), m.length - 4)); // a wild 32-bit field
      const r = await fetch(`${url}/v1/predict`, { method: 'POST', body, headers: { 'content-type': `image/${kind}` } });
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      expect(r.status, `${kind} case ${i}`).toBeLessThan(500);
      await r.arrayBuffer();
    }
    expect(statuses.get(422)).toBeGreaterThan(300); // most mutations are unreadable, and said so
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('fuzz: 1,500 seeded random HTTP requests (methods, paths, queries, headers, multipart) and 100 garbage byte streams: no 5xx, no crash, memory flat', async () => {
    const url = await start({ bodyLimit: 100_000 });
    const img = await jpeg();
    const rng = new Rng(11);
    const pick = <T>(xs: T[]): T => xs[rng.int(xs.length)]!;
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => rng.int(256)));
    const junk = () =>
      bytes(rng.int(40))
        .toString('latin1')
        .replace(/[^ -~\u0080-\u00ff]/g, '');
    const paths = [
      '/v1/predict',
      '/v1/model',
      '/v1/model.onnx',
      '/healthz',
      '/',
      '/index.html',
      '/v1/',
      '/v1/predict/x',
      '/../etc/passwd',
      '/%00',
      '/assets/../../x',
    ];
    const queries = [
      '',
      '?top_k=3',
      '?top_k=-1',
      '?top_k=1e9',
      '?top_k=abc',
      '?faces=true',
      '?faces=maybe',
      '?top_k=2&top_k=3',
      '?%zz=1',
      `?${encodeURIComponent(junk())}=${encodeURIComponent(junk())}`,
    ];
    const multipart = (boundary: string, parts: string) =>
      Buffer.concat([
        Buffer.from(`--${boundary}\r\n${parts}\r\n\r\n`),
        pick([img, bytes(rng.int(2000)), Buffer.alloc(0)]),
        Buffer.from(pick([`\r\n--${boundary}--\r\n`, '', `--${boundary}`])),
      ]);
    let before = 0;
    const statuses = new Map<number, number>();
    for (let i = 0; i < 1500; i++) {
      if (i === 500) before = process.memoryUsage().rss; // after warm-up (sessions, arenas, sockets)
      const method = pick(['GET', 'POST', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD']);
      const headers: Record<string, string> = {};
      let body: Buffer | undefined;
      if (method !== 'GET' && method !== 'HEAD') {
        const kind = rng.int(5);
        if (kind === 0) {
          headers['content-type'] = pick([
            'image/jpeg',
            'image/png',
            'application/octet-stream',
            'text/plain',
            'application/json',
            junk() || 'x/y',
          ]);
          body = pick([img, bytes(rng.int(5000)), Buffer.alloc(0), img.subarray(0, rng.int(img.length))]);
        } else if (kind === 1) {
          const boundary = pick(['b0undary', junk() || 'x', '']);
          headers['content-type'] = `multipart/form-data; boundary=${boundary}`;
          body = multipart(
            boundary,
            pick([
              'Content-Disposition: form-data; name="image"; filename="x.jpg"\r\nContent-Type: image/jpeg',
              'Content-Disposition: form-data; name="other"',
              'Content-Disposition: form-data',
              junk(),
            ]),
          );
        } else if (kind === 2) {
          headers['content-type'] = 'application/json';
          body = Buffer.from(pick(['{', '{"image": 1}', '[]', 'null', junk()]));
        } else if (kind === 3)
          body = bytes(rng.int(200_000)); // some over the body limit
        else body = undefined;
      }
      if (rng.int(4) === 0) headers[pick(['accept', 'x-junk', 'content-encoding', 'transfer-encoding-x'])] = junk();
      const r = await fetch(`${url}${pick(paths)}${pick(queries)}`, {
        method,
        headers,
        body: body && new Uint8Array(body),
      }).catch((e: Error) => e);
      if (r instanceof Error) throw new Error(`request ${i} (${method}) failed: ${r.message}`);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      expect(
        r.status,
        `request ${i}: ${method} ${r.url} ${JSON.stringify(headers)}: ${r.status >= 500 ? await r.clone().text() : ''}`,
      ).toBeLessThan(500);
      await r.arrayBuffer();
    }
    // Bytes that are not HTTP at all, straight onto the socket.
    const net = await import('node:net');
    const { port } = new URL(url);
    for (let i = 0; i < 100; i++) {
      await new Promise<void>((resolve) => {
        const sock = net.connect(Number(port), '127.0.0.1', () =>
          sock.end(
            pick([
              bytes(rng.int(300)),
              Buffer.from(`POST /v1/predict HTTP/1.1\r\nContent-Length: ${junk()}\r\n\r\n`),
              Buffer.from('GET / HTTP/9.9\r\n\r\n'),
            ]),
          ),
        );
        sock.on('data', () => {});
        sock.on('error', () => resolve());
        sock.on('close', () => resolve());
        sock.setTimeout(5000, () => sock.destroy());
      });
    }
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect([...statuses.keys()].every((s) => s < 500)).toBe(true);
    expect(statuses.get(200)).toBeGreaterThan(50); // some of it was valid, and was answered
    // The last 1,000 requests and the garbage streams leave memory flat.
    expect((process.memoryUsage().rss - before) / 2 ** 20).toBeLessThan(50);
  });

  it('a full queue and a request over its time limit get 503', async () => {
    const full = await start({ maxQueue: 0 });
    const r = await fetch(`${full}/v1/predict`, { method: 'POST', body: form('image', await jpeg()) });
    expect(r.status).toBe(503);
    expect((await r.json()).error.code).toBe('overloaded');
    const slow = await start({ requestTimeout: 1 });
    const t = await fetch(`${slow}/v1/predict?faces=true`, { method: 'POST', body: form('image', await jpeg()) });
    expect(t.status).toBe(503);
    expect((await t.json()).error.code).toBe('timeout');
  });

  it('faces=true finds the faces of a group photo', async () => {
    const photo = readFileSync(
      path.join(path.dirname(FIXTURES), '..', 'node_modules', '@vladmandic', 'face-api', 'demo', 'sample1.jpg'),
    );
    const r = await fetch(`${url}/v1/predict?faces=true`, {
      method: 'POST',
      body: new Uint8Array(photo),
      headers: { 'content-type': 'image/jpeg' },
    });
    expect(r.status).toBe(200);
    const small = await start({ bodyLimit: 100_000 });
    const tooBig = await fetch(`${small}/v1/predict?faces=true`, {
      method: 'POST',
      body: new Uint8Array(photo),
      headers: { 'content-type': 'image/jpeg' },
    });
    expect(tooBig.status).toBe(413); // 145 KB photo, 100 KB limit
    const big = url;
    const ok = await fetch(`${big}/v1/predict?faces=true`, {
      method: 'POST',
      body: new Uint8Array(photo),
      headers: { 'content-type': 'image/jpeg' },
    });
    const body = await ok.json();
    expect(body.faces).toHaveLength(3);
    for (const f of body.faces) expect(f.box.score).toBeGreaterThan(0.5);
  });
});

describe('convcut serve (the command)', () => {
  it('starts, answers, and on SIGTERM answers the request in flight, then exits', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { saveCheckpoint } = await import('../src/weights/checkpoint.js');
    const ck = path.join(mkdtempSync(path.join(tmpdir(), 'convcut-serve-')), 'm.safetensors');
    await saveCheckpoint(ck, cfg, weights);
    const { child, address, exited, output } = await startServe(['-m', ck, '--port', '0']);
    expect((await (await fetch(`${address}/v1/model`)).json()).classes).toEqual(cfg.head.classes);
    // A request in flight when SIGTERM arrives is answered before the process exits. (One request:
    // face detection blocks the event loop, so a second one could still wait to be accepted.)
    const photo = readFileSync(
      path.join(path.dirname(FIXTURES), '..', 'node_modules', '@vladmandic', 'face-api', 'demo', 'sample1.jpg'),
    );
    const inFlight = fetch(`${address}/v1/predict?faces=true`, {
      method: 'POST',
      body: photo,
      headers: { 'content-type': 'image/jpeg' },
    });
    await new Promise((r) => setTimeout(r, 150));
    child.kill('SIGTERM');
    const stopped = Date.now();
    const answer = await inFlight;
    expect(answer.status).toBe(200);
    expect((await answer.json()).faces).toHaveLength(3);
    expect(await exited).toBe(0);
    // ...and does not then wait for the client's keep-alive connection (it waited 72 s).
    expect(Date.now() - stopped).toBeLessThan(20_000);
    expect(output()).toMatch(/SIGTERM: finishing in-flight requests, then stopping/);
    await expect(fetch(`${address}/healthz`)).rejects.toThrow();
  });
});
