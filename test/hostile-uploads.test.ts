/**
 * Uploads from strangers, end to end through `POST /v1/predict-video` (issue "Safe to expose"):
 * files that make ffmpeg read something else on the server (an HLS playlist naming a server-side
 * video, sent raw and as a multipart `clip.mp4`; a concat list), frames too large to hold, a
 * truncated container. Each is answered with a 4xx or the frames it really holds, and the server
 * answers the next request.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paramSpecs } from '../src/engine/describe.js';
import { ConvCutModel } from '../src/infer/convcut-model.js';
import { buildServer } from '../src/server/server.js';
import { initWeights } from '../src/weights/weight-map.js';
import { ffmpeg, hlsPlaylist, hugeFramesClip, smallConfig } from './helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'convcut-uploads-'));
const at = (f: string) => path.join(dir, f);
/** A video that lives on the server: what the attacks try to have analysed. */
const PRIVATE = at('private.mp4');
const X264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'];
const playlist = hlsPlaylist(`file://${PRIVATE}`);

let model: ConvCutModel;
let app: FastifyInstance;
let url = '';

beforeAll(async () => {
  ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=96x64:rate=10', '-frames:v', '20', ...X264, PRIVATE);
  ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=96x64:rate=10', '-frames:v', '30', ...X264, at('whole.mkv'));
  hugeFramesClip(at('huge.mkv'));
  const cfg = smallConfig();
  model = await ConvCutModel.fromWeights(cfg, initWeights(paramSpecs(cfg), 9));
  app = await buildServer(model, { webDir: '/nonexistent' });
  url = await app.listen({ port: 0, host: '127.0.0.1' });
}, 60_000);
afterAll(async () => {
  await app?.close();
  await model?.dispose();
});

const raw = (body: Uint8Array | string, type = 'video/mp4') =>
  fetch(`${url}/v1/predict-video?faces=false`, {
    method: 'POST',
    headers: { 'content-type': type },
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
function multipart(body: string, name: string) {
  const form = new FormData();
  form.append('video', new Blob([body]), name);
  return fetch(`${url}/v1/predict-video?faces=false`, { method: 'POST', body: form });
}

/** The answer's status and JSON body. */
async function answer(res: Promise<Response>) {
  const r = await res;
  const body = (await r.json()) as { error?: { code: string; message: string }; frames?: number };
  return { status: r.status, body };
}

describe('uploads that name other files', () => {
  it('the private video itself is readable by the server (the control)', async () => {
    const { status, body } = await answer(raw(readFileSync(PRIVATE)));
    expect(status).toBe(200);
    expect(body.frames).toBe(20);
  });

  for (const [how, send] of [
    ['raw', () => raw(playlist)],
    ['as a multipart clip.mp4', () => multipart(playlist, 'clip.mp4')],
    ['as a multipart list.m3u8', () => multipart(playlist, 'list.m3u8')],
  ] as const)
    it(`an HLS playlist with a file:// segment, ${how}: 422, nothing of the private video`, async () => {
      const { status, body } = await answer(send());
      expect(status).toBe(422);
      expect(body.error!.code).toBe('not_a_video');
      expect(body.error!.message.split('\n')).toHaveLength(1);
      expect(body.error!.message).not.toContain(dir);
      expect(body.frames).toBeUndefined();
    });

  it('a concat list naming the private video: 422', async () => {
    const { status, body } = await answer(multipart(`ffconcat version 1.0\nfile '${PRIVATE}'\n`, 'clip.mp4'));
    expect(status).toBe(422);
    expect(body.error!.message).not.toContain(dir);
  });
});

describe('uploads that cost too much', () => {
  it('three 8192×8192 frames: 413 before they are decoded, with memory near where it was', async () => {
    const before = process.memoryUsage().rss;
    const { status, body } = await answer(raw(readFileSync(at('huge.mkv')), 'video/x-matroska'));
    expect(status).toBe(413);
    expect(body.error!.code).toBe('frame_too_large');
    expect(process.memoryUsage().rss - before).toBeLessThan(400 * 2 ** 20); // one RGB frame is 200 MB
  });

  it('a truncated container gives the frames that decode (or a 422), and the server goes on', async () => {
    const whole = readFileSync(at('whole.mkv'));
    const { status, body } = await answer(raw(whole.subarray(0, Math.floor(whole.length * 0.6)), 'video/x-matroska'));
    if (status === 200) expect(body.frames).toBeGreaterThan(0);
    else expect(status).toBe(422);
    expect(body.frames ?? 0).toBeLessThan(30);
    const next = await answer(raw(readFileSync(PRIVATE)));
    expect(next.status).toBe(200);
  });
});
