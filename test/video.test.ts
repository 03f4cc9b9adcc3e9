/**
 * Video: clips made here with ffmpeg from real photos no one here made (scikit-image's astronaut,
 * panned and zoomed; its cat, no face; a clip that cuts from the astronaut to matplotlib's Grace
 * Hopper), run through `convcut predict` as a user would. Rows, times, track ids and report files
 * are checked against what the clips are known to hold; tracked boxes against a detection on every
 * frame. Needs Debian's ffmpeg, python3-skimage and python-matplotlib-data (.ci/run installs them).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { paramSpecs } from '../src/engine/describe.js';
import { iou } from '../src/infer/face-align.js';
import sharp from 'sharp';
import { decodePhoto } from '../src/infer/faces.js';
import { readFrames } from '../src/infer/video/ffmpeg.js';
import { predictVideo } from '../src/infer/video/predict-video.js';
import { summarise, type VideoRow } from '../src/infer/video/summary.js';
import { Tracker } from '../src/infer/video/tracker.js';
import { saveCheckpoint } from '../src/weights/checkpoint.js';
import { initWeights } from '../src/weights/weight-map.js';
import { BIN, convcut, smallConfig } from './helpers.js';
import { ConvCutModel } from '../src/infer/convcut-model.js';
import { buildServer } from '../src/server/server.js';

const SKIMAGE = '/usr/lib/python3/dist-packages/skimage/data';
const HOPPER = '/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg';
const FACE_API_DEMO = path.join(
  path.dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')),
  'demo',
);
const dir = mkdtempSync(path.join(tmpdir(), 'convcut-video-'));
const clip = (name: string) => path.join(dir, name);
const fit = 'scale=320:240:force_original_aspect_ratio=decrease,pad=320:240:-1:-1,setsar=1,format=yuv420p';

/** A photo as a video input: `seconds` of it at 10 fps. */
const still = (file: string, seconds: number) => ['-loop', '1', '-framerate', '10', '-t', String(seconds), '-i', file];
const X264 = ['-c:v', 'libx264', '-preset', 'veryfast'];

function ffmpeg(...args: string[]): void {
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args]);
}

interface Row {
  file: string;
  time: number;
  frame: number;
  track: number;
  box: number[];
  label: string;
  score: number;
  p: number[];
}

function parseCsv(text: string): { header: string[]; rows: Row[] } {
  const [head, ...lines] = text.trim().split('\n');
  const header = head!.split(',');
  const rows = lines.map((l) => {
    const c = l.split(',');
    return {
      file: JSON.parse(c[0]!) as string,
      time: Number(c[1]),
      frame: Number(c[2]),
      track: Number(c[3]),
      box: c.slice(4, 8).map(Number),
      label: c[8]!,
      score: Number(c[9]),
      p: c.slice(10).map(Number),
    };
  });
  return { header, rows };
}

const model = path.join(dir, 'model.safetensors');

beforeAll(async () => {
  const cfg = smallConfig();
  await saveCheckpoint(model, cfg, initWeights(paramSpecs(cfg), 3));
  // 3 s at 10 fps: the astronaut zooming in while the view pans right and down.
  const zoomPan = "scale=w='512+150*t/3':h=-1:eval=frame,crop=400:300:x='40*t':y='20*t',scale=320:240,setsar=1,format=yuv420p";
  ffmpeg(...still(path.join(SKIMAGE, 'astronaut.png'), 3), '-vf', zoomPan, ...X264, '-movflags', '+faststart', clip('pan.mp4'));
  ffmpeg(...still(path.join(SKIMAGE, 'chelsea.png'), 2), '-vf', fit, ...X264, clip('cat.mp4'));
  // 1.5 s of the astronaut, then a cut to 1.5 s of Grace Hopper.
  const cut = `[0]${fit}[a];[1]${fit}[b];[a][b]concat=n=2:v=1[v]`;
  ffmpeg(
    ...still(path.join(SKIMAGE, 'astronaut.png'), 1.5),
    ...still(HOPPER, 1.5),
    '-filter_complex',
    cut,
    '-map',
    '[v]',
    ...X264,
    clip('cut.mkv'),
  );
  // The cut clip with its second half missing, as an interrupted download leaves it.
  const whole = readFileSync(clip('cut.mkv'));
  writeFileSync(clip('truncated.mkv'), whole.subarray(0, Math.floor(whole.length * 0.65)));
}, 120_000);

describe('video frames from ffmpeg', () => {
  it('gives frames at their times, n per second, from --start for --duration', async () => {
    const times: number[] = [];
    const r = readFrames(clip('pan.mp4'), { fps: 5, start: 1, duration: 1 });
    for await (const f of r.frames) {
      expect([f.width, f.height, f.data.length]).toEqual([320, 240, 320 * 240 * 3]);
      times.push(f.time);
    }
    expect(times.map((t) => Number(t.toFixed(3)))).toEqual([1, 1.2, 1.4, 1.6, 1.8]);
    expect(await r.info).toEqual({ duration: 3, fps: 10 });
    expect(r.problems).toEqual([]);
  });
});

describe('photos given with videos', () => {
  it('are read upright, as a photo alone is (EXIF orientation applied by ffmpeg as by sharp)', async () => {
    const rotated = clip('rotated.jpg');
    await sharp(HOPPER).resize(120).withMetadata({ orientation: 6 }).jpeg().toFile(rotated);
    const photo = await decodePhoto(rotated);
    const frames = [];
    for await (const f of readFrames(rotated).frames) frames.push(f);
    expect(frames.map((f) => [f.width, f.height])).toEqual([[photo.width, photo.height]]);
    expect(photo.width).toBeGreaterThan(photo.height); // turned: the portrait photo lies on its side
    const d = frames[0]!.data.reduce((a, v, i) => a + Math.abs(v - photo.data[i]!), 0) / photo.data.length;
    expect(d).toBeLessThan(6); // two JPEG decoders; the other way round differs by ≈ 80
  });
});

describe('convcut predict on videos', () => {
  let rows: Row[];
  let header: string[];
  let stderr: string;
  const report = path.join(dir, 'report');
  beforeAll(async () => {
    const r = await convcut(
      'predict',
      '-m',
      model,
      clip('pan.mp4'),
      clip('cat.mp4'),
      clip('cut.mkv'),
      '--faces',
      '--format',
      'csv',
      '--report',
      report,
    );
    expect(r.code, r.stderr).toBe(0);
    ({ header, rows } = parseCsv(r.stdout));
    stderr = r.stderr;
  }, 240_000);

  it('writes one row per face per frame, times rising, probabilities summing to 1', () => {
    expect(header.slice(0, 10)).toEqual(['file', 'time', 'frame', 'track', 'x', 'y', 'width', 'height', 'label', 'score']);
    expect(header.slice(10)).toEqual(smallConfig().head.classes.map((c) => `p_${c}`));
    const pan = rows.filter((r) => r.file === clip('pan.mp4'));
    expect(pan.map((r) => r.frame)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    pan.forEach((r, i) => expect(r.time).toBeCloseTo(i / 10, 3));
    for (const r of rows) {
      expect(r.p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 2);
      expect(r.score).toBe(Math.max(...r.p));
    }
  });

  it('keeps one track for the panned face, none for the cat, and two across the cut', () => {
    expect(new Set(rows.filter((r) => r.file === clip('pan.mp4')).map((r) => r.track))).toEqual(new Set([0]));
    expect(rows.filter((r) => r.file === clip('cat.mp4'))).toEqual([]);
    expect(stderr).toContain(`${clip('cat.mp4')}: no face found`);
    const cut = rows.filter((r) => r.file === clip('cut.mkv'));
    expect(cut.filter((r) => r.time < 1.45).every((r) => r.track === 0)).toBe(true);
    expect(cut.filter((r) => r.time > 1.55).every((r) => r.track === 1)).toBe(true);
    expect(cut.length).toBe(30);
  });

  it('follows the face between detections as closely as a detection on every frame', async () => {
    const r = await convcut('predict', '-m', model, clip('pan.mp4'), '--faces', '--format', 'csv', '--detect-every', '1');
    const every = parseCsv(r.stdout).rows;
    const tracked = rows.filter((x) => x.file === clip('pan.mp4'));
    const box = (b: number[]) => ({ x: b[0]!, y: b[1]!, width: b[2]!, height: b[3]! });
    const overlaps = tracked.map((t, i) => iou(box(t.box), box(every[i]!.box)));
    expect(Math.min(...overlaps)).toBeGreaterThan(0.75);
    // The face really moves: the box at the end is far from where it started.
    expect(iou(box(every[0]!.box), box(every.at(-1)!.box))).toBeLessThan(0.5);
  }, 120_000);

  it('writes the report: a timeline and thumbnail per track, summary.json, rows.csv, index.html', () => {
    const summary = JSON.parse(readFileSync(path.join(report, 'summary.json'), 'utf8')) as {
      videos: { file: string; tracks: { track: number; share: Record<string, number>; frames: number }[] }[];
    };
    expect(summary.videos.map((v) => v.tracks.map((t) => t.track))).toEqual([[0], [], [0, 1]]);
    for (const t of summary.videos.flatMap((v) => v.tracks))
      expect(Object.values(t.share).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    for (const f of ['0_pan_track0', '2_cut_track0', '2_cut_track1'])
      for (const ext of ['_timeline.png', '_timeline.svg', '.png'])
        expect(existsSync(path.join(report, f + ext)), f + ext).toBe(true);
    expect(readFileSync(path.join(report, 'index.html'), 'utf8')).toContain('2_cut_track1_timeline.svg');
    expect(parseCsv(readFileSync(path.join(report, 'rows.csv'), 'utf8')).rows).toEqual(rows);
  });

  it('uses the frames of a truncated video that decode, and says what ffmpeg said', async () => {
    const r = await convcut('predict', '-m', model, clip('truncated.mkv'), '--faces', '--format', 'csv');
    expect(r.code, r.stderr).toBe(0);
    const got = parseCsv(r.stdout).rows;
    expect(got.length).toBeGreaterThan(3);
    expect(got.length).toBeLessThan(30);
    expect(r.stderr).toMatch(/truncated\.mkv: used the frames that decoded, up to [\d.]+ s; ffmpeg said: .+/);
  }, 120_000);

  it('says how to get ffmpeg when there is none', async () => {
    const r = await convcut(
      { env: { ...process.env, PATH: '/nonexistent', CONVCUT_FFMPEG: '' } },
      'predict',
      '-m',
      model,
      clip('pan.mp4'),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ffmpeg is needed to read video and was not found: install it \(Debian\/Ubuntu: apt install ffmpeg/);
    expect(
      r.stderr
        .trim()
        .split('\n')
        .filter((l) => !/artificially/.test(l)),
    ).toHaveLength(1);
  });

  it('Ctrl-C keeps every row written so far, each complete', async () => {
    const child = spawn(process.execPath, [
      BIN,
      'predict',
      '-m',
      model,
      clip('pan.mp4'),
      '--faces',
      '--format',
      'csv',
      '--detect-every',
      '1',
    ]);
    let out = '';
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.split('\n').length > 4) resolve();
      });
    });
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('close', r));
    expect(code).toBe(130);
    const { rows: got } = parseCsv(out);
    expect(got.length).toBeGreaterThanOrEqual(3);
    expect(got.length).toBeLessThan(30);
    for (const r of got) expect(r.p).toHaveLength(7);
  }, 120_000);
});

describe('predictVideo', () => {
  it('smooths the rows when asked, and still hands the raw ones to what smooths them itself', async () => {
    const m = await ConvCutModel.load(model);
    try {
      const plain: number[][] = [];
      for await (const f of predictVideo(m, clip('pan.mp4'), { duration: 1 })) plain.push(...f.rows.map((r) => r.probs));
      const raw: number[][] = [];
      const smooth: number[][] = [];
      for await (const f of predictVideo(m, clip('pan.mp4'), { duration: 1, smooth: 3 })) {
        raw.push(...f.raw.map((r) => r.probs));
        smooth.push(...f.rows.map((r) => r.probs));
      }
      expect(raw).toEqual(plain);
      expect(plain.length).toBe(10);
      // Exponential smoothing by hand: each step moves 1 − exp(−0.1 / 3) of the way to the new frame.
      const a = 1 - Math.exp(-0.1 / 3);
      let s = plain[0]!;
      plain.forEach((p, i) => {
        if (i) s = s.map((v, k) => v + a * (p[k]! - v));
        s.forEach((v, k) => expect(smooth[i]![k]).toBeCloseTo(v, 5));
      });
    } finally {
      await m.dispose();
    }
  }, 60_000);
});

describe('faces leaving the view', () => {
  it('are let go, not followed as a shrinking box that is a new track each frame', async () => {
    // face-api's sample1.jpg (three people) panned left at 160 px/s: two faces leave by the left edge.
    const group = clip('group.mp4');
    ffmpeg(
      ...['-loop', '1', '-framerate', '30', '-t', '4', '-i', path.join(FACE_API_DEMO, 'sample1.jpg')],
      ...['-vf', "scale=1280:-1,crop=640:480:x='160*t':y=80,setsar=1,format=yuv420p", ...X264, group],
    );
    const m = await ConvCutModel.load(model);
    const rows: VideoRow[] = [];
    try {
      for await (const f of predictVideo(m, group)) rows.push(...f.rows);
    } finally {
      await m.dispose();
    }
    const tracks = new Map<number, VideoRow[]>();
    for (const r of rows) tracks.set(r.track, [...(tracks.get(r.track) ?? []), r]);
    // Every face is seen for more than a moment, and no box falls to a fraction of its track's size.
    for (const rs of tracks.values()) {
      expect(rs.length).toBeGreaterThan(5);
      const widest = Math.max(...rs.map((r) => r.box.width));
      for (const r of rs) expect(r.box.width).toBeGreaterThan(widest / 3);
    }
  }, 120_000);
});

describe('POST /v1/predict-video', () => {
  it('answers with the rows and tracks predict gives, and refuses what it cannot or must not analyse', async () => {
    const m = await ConvCutModel.load(model);
    let app = await buildServer(m, { webDir: '/nonexistent', video: { maxSeconds: 2.5 } });
    let url = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const f = new FormData();
      f.append('video', new Blob([new Uint8Array(readFileSync(clip('cut.mkv')))], { type: 'video/x-matroska' }), 'cut.mkv');
      // cut.mkv is 3 s: over the 2.5 s limit.
      let r = await fetch(`${url}/v1/predict-video`, { method: 'POST', body: f });
      expect(r.status).toBe(413);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('video_too_long');
      await app.close();
      app = await buildServer(m, { webDir: '/nonexistent' });
      url = await app.listen({ port: 0, host: '127.0.0.1' });
      // A clip of 2 s, raw body: rows and tracks as the CLI gives them.
      r = await fetch(`${url}/v1/predict-video?fps=5`, {
        method: 'POST',
        headers: { 'content-type': 'video/mp4' },
        body: new Uint8Array(readFileSync(clip('cat.mp4'))),
      });
      expect(r.status).toBe(200);
      const cat = (await r.json()) as { frames: number; rows: unknown[]; tracks: unknown[] };
      expect([cat.frames, cat.rows.length, cat.tracks.length]).toEqual([10, 0, 0]);
      const cli = parseCsv(
        (await convcut('predict', '-m', model, clip('truncated.mkv'), '--faces', '--format', 'csv')).stdout,
      ).rows;
      r = await fetch(`${url}/v1/predict-video`, {
        method: 'POST',
        headers: { 'content-type': 'video/x-matroska' },
        body: new Uint8Array(readFileSync(clip('truncated.mkv'))),
      });
      const body = (await r.json()) as { rows: VideoRow[]; tracks: { track: number }[]; problems: string[] };
      expect(r.status).toBe(200);
      expect(body.rows.map((x) => [x.frame, x.track, x.label])).toEqual(cli.map((x) => [x.frame, x.track, x.label]));
      expect(body.problems.length).toBeGreaterThan(0);
      r = await fetch(`${url}/v1/predict-video`, {
        method: 'POST',
        headers: { 'content-type': 'video/mp4' },
        body: 'not a video at all',
      });
      expect(r.status).toBe(422);
      expect(((await r.json()) as { error: { code: string; message: string } }).error).toEqual({
        code: 'not_a_video',
        message: 'cannot read the video (Invalid data found when processing input)',
      });
      r = await fetch(`${url}/v1/predict-video?fps=abc`, { method: 'POST', headers: { 'content-type': 'video/mp4' }, body: 'x' });
      expect(r.status).toBe(400);
    } finally {
      await app.close();
      await m.dispose();
    }
  }, 120_000);
});

describe('tracks and summaries', () => {
  it('links boxes by overlap, ends a track after its lifetime, and never reuses an id', () => {
    const t = new Tracker({ maxAge: 1 });
    const b = (x: number) => ({ x, y: 0, width: 10, height: 10 });
    expect(t.assign([b(0), b(50)], 0)).toEqual([0, 1]);
    expect(t.assign([b(52), b(2)], 0.1)).toEqual([1, 0]); // order of the boxes does not matter
    expect(t.assign([b(3)], 0.2)).toEqual([0]);
    expect(t.assign([b(52)], 1.5)).toEqual([2]); // track 1 was last seen at 0.1 s
    t.cut();
    expect(t.assign([b(52)], 1.6)).toEqual([3]);
  });

  it('share of time and onsets, from rows whose expression is known', () => {
    const classes = ['a', 'b'];
    // 0–2 s 'a' at 10 fps, then 1 s of 'b'.
    const rows: VideoRow[] = Array.from({ length: 30 }, (_, i) => ({
      file: 'x',
      time: i / 10,
      frame: i,
      track: 0,
      box: { x: 0, y: 0, width: 1, height: 1 },
      label: i < 20 ? 'a' : 'b',
      score: 0.9,
      probs: i < 20 ? [0.9, 0.1] : [0.1, 0.9],
    }));
    const [s] = summarise(rows, classes, 0);
    expect(s!.dominant).toBe('a');
    expect(s!.share.a).toBeCloseTo(20 / 30, 6);
    expect(s!.onsets).toEqual([
      { time: 0, label: 'a' },
      { time: 2, label: 'b' },
    ]);
    // Smoothed over 0.5 s, the change is seen later, never earlier.
    expect(summarise(rows, classes, 0.5)[0]!.onsets[1]!.time).toBeGreaterThan(2);
  });
});
