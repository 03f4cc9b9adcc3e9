/**
 * Hostile media: files that ask ffmpeg to read something other than themselves (an HLS playlist
 * naming a video on this machine, a concat list, an image sequence, a file named like a protocol),
 * frames too large to hold, a flood of tiny frames, and a reader that must stop when asked. Each
 * made here with ffmpeg; read with readFrames as the server and the CLI read them.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { expandInputs } from '../src/cli/inputs.js';
import {
  FrameTooLargeError,
  MediaRefusedError,
  ppmFrames,
  readFrames,
  TooManyFramesError,
  type FrameOptions,
  type VideoFrame,
} from '../src/infer/video/ffmpeg.js';
import { UNTRUSTED_MAX_FPS } from '../src/infer/video/options.js';
import { predictVideo } from '../src/infer/video/predict-video.js';
import { ConvCutModel } from '../src/infer/convcut-model.js';
import { paramSpecs } from '../src/engine/describe.js';
import { saveCheckpoint } from '../src/weights/checkpoint.js';
import { initWeights } from '../src/weights/weight-map.js';
import { ffmpeg, hlsPlaylist, hugeFramesClip, smallConfig } from './helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'convcut-hostile-'));
const at = (...p: string[]) => path.join(dir, ...p);

/** A small test-pattern video: `frames` frames of `size` at 10 fps. */
const pattern = (size: string, frames: number, out: string, ...codec: string[]) =>
  ffmpeg('-f', 'lavfi', '-i', `testsrc=size=${size}:rate=10`, '-frames:v', String(frames), ...codec, out);

/** Every frame, or the error that ended the reading (and the frames before it). */
async function readAll(file: string, o: FrameOptions = {}): Promise<{ frames: VideoFrame[]; error?: Error; problems: string[] }> {
  const r = readFrames(file, o);
  const frames: VideoFrame[] = [];
  try {
    for await (const f of r.frames) frames.push(f);
  } catch (e) {
    return { frames, error: e as Error, problems: r.problems };
  }
  return { frames, problems: r.problems };
}

/** Whether a process id is running (or a zombie not yet reaped). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const SECRET = at('secret', 'private.mp4');

beforeAll(() => {
  mkdirSync(at('secret'));
  // The server's own video: 96×64, 20 frames. Attacks below try to have it read.
  pattern('96x64', 20, SECRET, '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p');
  writeFileSync(at('upload'), hlsPlaylist(`file://${SECRET}`));
  writeFileSync(at('clip.mp4'), hlsPlaylist(`file://${SECRET}`));
  // A relative segment name, the playlist beside the video.
  writeFileSync(at('secret', 'upload'), hlsPlaylist('private.mp4'));
  writeFileSync(at('list.mp4'), `ffconcat version 1.0\nfile '${SECRET}'\n`);
  writeFileSync(at('notes.txt'), 'not a video at all\n'.repeat(100));
  // An image sequence: a pattern name that image2 expands to seq001.png, seq002.png…
  mkdirSync(at('seq'));
  ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=32x32', '-frames:v', '3', at('seq', 'seq%03d.png'));
  copyFileSync(at('seq', 'seq001.png'), at('seq', 'seq%03d.png'));
  // A clip cut off at 60 %, as an interrupted upload leaves it.
  pattern('96x64', 30, at('whole.mkv'), '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p');
  const whole = readFileSync(at('whole.mkv'));
  writeFileSync(at('truncated.mkv'), whole.subarray(0, Math.floor(whole.length * 0.6)));
  writeFileSync(at('header-only.mkv'), whole.subarray(0, 200));
  hugeFramesClip(at('huge.mkv'));
  // 29,900 16×16 frames (1000 fps for 29.9 s).
  ffmpeg(
    '-f',
    'lavfi',
    '-i',
    'color=size=16x16:rate=1000',
    '-t',
    '29.9',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    at('flood.mkv'),
  );
  // A longer clip for stopping early: 100 frames.
  pattern('160x120', 100, at('long.mkv'), '-c:v', 'libx264', '-preset', 'ultrafast');
}, 120_000);

describe('inputs that name other files are refused', () => {
  for (const [name, o] of [
    ['upload', { untrusted: true }],
    ['clip.mp4', { untrusted: true }],
    ['clip.mp4', {}],
  ] as const) {
    it(`an HLS playlist with a file:// segment (${name}, ${o.untrusted ? 'untrusted' : 'CLI'})`, async () => {
      const r = await readAll(at(name), o);
      expect(r.frames).toEqual([]);
      expect(r.error).toBeInstanceOf(MediaRefusedError);
      expect(r.error!.message).not.toContain(dir);
      expect(r.error!.message).not.toContain('\n');
      expect(r.error!.message).toContain('"hls"');
    });
  }

  it('an HLS playlist with a relative segment name', async () => {
    const r = await readAll(at('secret', 'upload'), { untrusted: true });
    expect(r.frames).toEqual([]);
    expect(r.error).toBeInstanceOf(MediaRefusedError);
  });

  it('an ffconcat list', async () => {
    const r = await readAll(at('list.mp4'), { untrusted: true });
    expect(r.frames).toEqual([]);
    expect(r.error).toBeInstanceOf(MediaRefusedError);
  });

  it('an image2 pattern, untrusted or not', async () => {
    for (const o of [{ untrusted: true }, {}]) {
      const r = await readAll(at('seq', 'seq%03d.png'), o);
      expect(r.frames).toEqual([]);
      expect(r.error).toBeInstanceOf(MediaRefusedError);
    }
  });

  it('a photo is not read from an untrusted upload, but is read for the CLI', async () => {
    const untrusted = await readAll(at('seq', 'seq001.png'), { untrusted: true });
    expect(untrusted.frames).toEqual([]);
    expect(untrusted.error).toBeInstanceOf(MediaRefusedError);
    const cli = await readAll(at('seq', 'seq001.png'));
    expect(cli.error).toBeUndefined();
    expect(cli.frames.map((f) => [f.width, f.height])).toEqual([[32, 32]]);
  });

  it('a text file', async () => {
    const r = await readAll(at('notes.txt'), { untrusted: true });
    expect(r.frames).toEqual([]);
    expect(r.error).toBeInstanceOf(MediaRefusedError);
    // ffmpeg's probe takes a .txt of repeated lines for ANSI art ("tty"), refused; other text is no format at all.
    expect(r.error!.message).toBe(
      'not a video convcut opens: it reads as "tty" (playlists, lists and image sequences are refused)',
    );
    writeFileSync(at('upload-text'), 'not a video at all');
    const plain = await readAll(at('upload-text'), { untrusted: true });
    expect(plain.error).toBeInstanceOf(MediaRefusedError);
    expect(plain.error!.message).toBe('cannot read the video (Invalid data found when processing input)');
  });

  it('a real video still reads, untrusted', async () => {
    const r = await readAll(SECRET, { untrusted: true });
    expect(r.error).toBeUndefined();
    expect(r.frames.length).toBe(20);
    expect([r.frames[0]!.width, r.frames[0]!.height]).toEqual([96, 64]);
  });
});

describe('damaged containers', () => {
  it('a truncated clip gives the frames that decode, or a one-line refusal; never a crash', async () => {
    const r = await readAll(at('truncated.mkv'), { untrusted: true });
    expect(r.error).toBeUndefined();
    expect(r.frames.length).toBeGreaterThan(0);
    expect(r.frames.length).toBeLessThan(30);
    const h = await readAll(at('header-only.mkv'), { untrusted: true });
    expect(h.frames).toEqual([]);
    if (h.error) {
      expect(h.error).toBeInstanceOf(MediaRefusedError);
      expect(h.error.message).not.toContain('\n');
      expect(h.error.message).not.toContain(dir);
    }
    for (const p of h.problems) expect(p).not.toContain(dir);
  });
});

describe('limits', () => {
  it('refuses 8192×8192 frames before any is held (untrusted and CLI defaults)', async () => {
    expect(statSync(at('huge.mkv')).size).toBeLessThan(1 << 20);
    for (const o of [{ untrusted: true }, {}]) {
      const rss0 = process.memoryUsage().rss;
      const r = await readAll(at('huge.mkv'), o);
      expect(r.frames).toEqual([]);
      expect(r.error).toBeInstanceOf(FrameTooLargeError);
      expect(r.error!.message).toContain('8192');
      expect(process.memoryUsage().rss - rss0).toBeLessThan(300 << 20);
    }
  });

  it('refuses frames over a given pixel limit', async () => {
    const r = await readAll(SECRET, { limits: { maxPixels: 96 * 64 - 1 } });
    expect(r.frames).toEqual([]);
    expect(r.error).toBeInstanceOf(FrameTooLargeError);
    expect((await readAll(SECRET, { limits: { maxPixels: 96 * 64 } })).frames.length).toBe(20);
  });

  it('a PPM header too large is refused before its body is buffered', async () => {
    async function* stream() {
      yield Buffer.from('P6\n100000 100000\n255\n');
      yield Buffer.alloc(1000);
      throw new Error('read past the header');
    }
    await expect(
      (async () => {
        for await (const _ of ppmFrames(stream(), 40_000_000)) void _;
      })(),
    ).rejects.toBeInstanceOf(FrameTooLargeError);
  });

  it('29,900 tiny frames end within seconds (the rate analysed is capped)', async () => {
    expect(statSync(at('flood.mkv')).size).toBeLessThan(1 << 20);
    const t0 = performance.now();
    const r = await readAll(at('flood.mkv'), { untrusted: true });
    expect(performance.now() - t0).toBeLessThan(20_000);
    if (r.error) expect(r.error).toBeInstanceOf(TooManyFramesError);
    expect(r.frames.length).toBeLessThanOrEqual(Math.ceil(29.9 * UNTRUSTED_MAX_FPS * 1.15));
    expect(r.frames.length).toBeGreaterThan(100);
  });

  it('stops at maxFrames with TooManyFramesError', async () => {
    const r = await readAll(at('flood.mkv'), { untrusted: true, limits: { maxFrames: 50 } });
    expect(r.frames.length).toBe(50);
    expect(r.error).toBeInstanceOf(TooManyFramesError);
  });
});

describe('stopping', () => {
  it('an abort kills ffmpeg at once and ends the frames', async () => {
    const ac = new AbortController();
    const r = readFrames(at('long.mkv'), { signal: ac.signal });
    const it = r.frames[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.done).toBe(false);
    const pid = r.pid!;
    expect(alive(pid)).toBe(true);
    ac.abort();
    await expect(it.next()).rejects.toMatchObject({ name: 'AbortError' });
    expect(alive(pid)).toBe(false);
  });

  it('an already aborted signal reads nothing', async () => {
    const ac = new AbortController();
    ac.abort(new Error('gone'));
    const r = await readAll(at('long.mkv'), { signal: ac.signal });
    expect(r.frames).toEqual([]);
    expect(r.error?.message).toBe('gone');
  });

  it('leaving the loop early, or stop(), leaves no ffmpeg behind', async () => {
    const r = readFrames(at('long.mkv'));
    for await (const f of r.frames) if (f.index === 2) break;
    expect(alive(r.pid!)).toBe(false);
    const s = readFrames(at('long.mkv'));
    const frames: VideoFrame[] = [];
    for await (const f of s.frames) {
      frames.push(f);
      if (f.index === 1) s.stop();
    }
    expect(frames.length).toBeLessThan(100);
    expect(alive(s.pid!)).toBe(false);
  });
});

describe('predictVideo', () => {
  it('an abort ends it after the frame in hand, ffmpeg killed; a refused upload throws MediaRefusedError', async () => {
    const ck = at('model.safetensors');
    const cfg = smallConfig();
    await saveCheckpoint(ck, cfg, initWeights(paramSpecs(cfg), 3));
    const model = await ConvCutModel.load(ck);
    try {
      const ac = new AbortController();
      let pid: number | undefined;
      const stream = predictVideo(model, at('long.mkv'), {
        faces: false,
        untrusted: true,
        signal: ac.signal,
        onReader: (r) => (pid = r.pid),
      });
      const first = await stream.next();
      expect(first.done).toBe(false);
      ac.abort();
      await expect(stream.next()).rejects.toMatchObject({ name: 'AbortError' });
      expect(alive(pid!)).toBe(false);
      const refused = predictVideo(model, at('upload'), { faces: false, untrusted: true });
      await expect(refused.next()).rejects.toBeInstanceOf(MediaRefusedError);
      const huge = predictVideo(model, at('huge.mkv'), { faces: false, untrusted: true });
      await expect(huge.next()).rejects.toBeInstanceOf(FrameTooLargeError);
    } finally {
      await model.dispose();
    }
  });
});

describe('file names are names, not protocols', () => {
  it('a file named concat:a.ts|a.ts in a folder read as "." is that file alone', async () => {
    const folder = at('names');
    mkdirSync(folder);
    const evil = 'concat:a.ts|a.ts';
    pattern('48x32', 5, path.join(folder, evil), '-c:v', 'libx264', '-preset', 'ultrafast', '-f', 'mpegts');
    pattern('80x48', 7, path.join(folder, 'a.ts'), '-c:v', 'libx264', '-preset', 'ultrafast');
    const cwd = process.cwd();
    process.chdir(folder);
    try {
      const files = await expandInputs(['.']);
      expect(files).toEqual([path.join(folder, 'a.ts'), path.join(folder, evil)]);
      for (const f of files) expect(path.isAbsolute(f)).toBe(true);
      // Also given as a bare relative name, as a caller might.
      for (const f of [files[1]!, evil]) {
        const r = await readAll(f);
        expect(r.error).toBeUndefined();
        expect(r.frames.map((x) => `${x.width}x${x.height}`)).toEqual(Array(5).fill('48x32'));
      }
    } finally {
      process.chdir(cwd);
    }
  });
});
