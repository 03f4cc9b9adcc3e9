/**
 * Video frames from ffmpeg, through a pipe, never as temporary files. ffmpeg writes each analysed
 * frame as a binary PPM (its own header says the size, so no probing is needed and a stream whose
 * size changes mid-way still parses), and its `showinfo` filter logs each frame's presentation
 * time on stderr, so variable-frame-rate video gets its true times.
 *
 * Which ffmpeg: $CONVCUT_FFMPEG, else `ffmpeg` on PATH (Debian's package), else the binary inside
 * the optional npm package @ffmpeg-installer/ffmpeg if it is installed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { RgbFrame } from '../faces.js';

/** File extensions treated as video by `predict` and folder walks. */
export const VIDEO_EXTENSIONS = new Set([
  '.mp4',
  '.m4v',
  '.mov',
  '.mkv',
  '.webm',
  '.avi',
  '.mpg',
  '.mpeg',
  '.wmv',
  '.flv',
  '.ogv',
  '.3gp',
  '.ts',
  '.mts',
]);

export const isVideoFile = (file: string): boolean => VIDEO_EXTENSIONS.has(path.extname(file).toLowerCase());

export class FfmpegMissingError extends Error {
  constructor() {
    super(
      'ffmpeg is needed to read video and was not found: install it (Debian/Ubuntu: apt install ffmpeg; macOS: brew install ffmpeg), ' +
        'or npm install @ffmpeg-installer/ffmpeg, or set CONVCUT_FFMPEG to its path',
    );
  }
}

let found: { bin: string; passthrough: string[] } | undefined;

/** The ffmpeg to run, and how to ask it for every frame as decoded (its flag changed in 5.1). */
export function findFfmpeg(): { bin: string; passthrough: string[] } {
  if (found) return found;
  const candidates = [process.env.CONVCUT_FFMPEG, 'ffmpeg', installerBinary()].filter((c): c is string => !!c);
  for (const bin of candidates) {
    const r = spawnSync(bin, ['-hide_banner', '-version'], { encoding: 'utf8' });
    if (r.status !== 0) continue;
    const [maj = 0, min = 0] = (/ffmpeg version n?(\d+)\.(\d+)/.exec(r.stdout) ?? []).slice(1).map(Number);
    const modern = maj > 5 || (maj === 5 && min >= 1);
    return (found = { bin, passthrough: modern ? ['-fps_mode', 'passthrough'] : ['-vsync', 'passthrough'] });
  }
  throw new FfmpegMissingError();
}

function installerBinary(): string | undefined {
  try {
    return (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string }).path;
  } catch {
    return undefined;
  }
}

export interface FrameOptions {
  /** Analyse at most this many frames per second (never more than the source has). */
  fps?: number;
  /** Seconds into the video to start at. */
  start?: number;
  /** Seconds to read. */
  duration?: number;
}

export interface VideoFrame extends RgbFrame {
  /** 0, 1, 2… among the analysed frames. */
  index: number;
  /** Presentation time in seconds from the start of the file. */
  time: number;
}

export interface VideoInfo {
  /** Seconds, from the container (undefined for a stream that does not say). */
  duration?: number;
  /** The video stream's frame rate, as ffmpeg reports it. */
  fps?: number;
}

/** A video being read: its frames, what the container said, and what went wrong while decoding. */
export interface FrameReader {
  frames: AsyncGenerator<VideoFrame>;
  /** Resolves once ffmpeg has read the header (undefined fields if it never said). */
  info: Promise<VideoInfo>;
  /** ffmpeg's error lines (a damaged stream); complete once `frames` has finished. */
  problems: string[];
  /** Stop reading (ffmpeg is killed); `frames` ends. */
  stop(): void;
}

export function readFrames(file: string, o: FrameOptions = {}): FrameReader {
  const { bin, passthrough } = findFfmpeg();
  const filters = [];
  // select keeps a frame when at least 1/fps s passed since the last one kept: n per second at most,
  // never a duplicated frame (ffmpeg's fps filter would duplicate up to the rate asked for).
  if (o.fps) filters.push(`select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,${0.999 / o.fps})'`);
  filters.push('showinfo');
  const args = ['-hide_banner', '-nostats', '-nostdin', '-loglevel', 'level+info'];
  if (o.start) args.push('-ss', String(o.start));
  if (o.duration) args.push('-t', String(o.duration));
  args.push('-i', file, '-an', '-sn', '-vf', filters.join(','), ...passthrough, '-f', 'image2pipe', '-c:v', 'ppm', 'pipe:1');
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const problems: string[] = [];
  const times: number[] = [];
  let resolveInfo!: (i: VideoInfo) => void;
  const info = new Promise<VideoInfo>((r) => (resolveInfo = r));
  const parsed: VideoInfo = {};
  let stderrTail = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    const lines = (stderrTail + chunk).split('\n');
    stderrTail = lines.pop() ?? '';
    for (const line of lines) readLogLine(line, parsed, times, problems, () => resolveInfo(parsed));
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('error', (e) => {
      problems.push(e.message);
      resolve(null);
    });
    child.on('close', (code) => {
      if (stderrTail) readLogLine(stderrTail, parsed, times, problems, () => {});
      resolveInfo(parsed);
      resolve(code);
    });
  });
  let stopped = false;
  const stop = () => {
    stopped = true;
    child.kill('SIGKILL');
  };
  async function* frames(): AsyncGenerator<VideoFrame> {
    let index = 0;
    try {
      for await (const ppm of ppmFrames(child.stdout)) {
        // The frame's showinfo line is written before the frame is encoded, but it travels on the
        // other pipe: wait for it briefly, then fall back to the nominal rate.
        const t = times[index] ?? (await waitFor(() => times[index], 200)) ?? index / (o.fps ?? parsed.fps ?? 25);
        yield { ...ppm, index, time: (o.start ?? 0) + t };
        index++;
      }
      const code = await exited;
      if (code !== 0 && !stopped && !problems.length) problems.push(`ffmpeg exited with code ${code}`);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }
  return { frames: frames(), info, problems, stop };
}

const INFO_DURATION = /^\s*Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)/;
const INFO_FPS = /^\s*Stream #\d+:\d+.*Video:.*?, (\d+(?:\.\d+)?) fps/;
const SHOWINFO = /^n:\s*\d+ pts:\s*-?\d+ pts_time:(-?[\d.e+-]+)/;
// `-loglevel level+info` lines: "[<component> @ 0x…] [<level>] <message>", the component optional.
const LOG_LINE = /^((?:\[[^\]]* @ 0x[0-9a-f]+\] )*)\[(\w+)\] ?(.*)$/;

function readLogLine(line: string, info: VideoInfo, times: number[], problems: string[], headerRead: () => void): void {
  const m = LOG_LINE.exec(line);
  if (!m) return;
  const [, component = '', level, text = ''] = m;
  if (component.includes('Parsed_showinfo')) {
    const st = SHOWINFO.exec(text);
    if (st) times.push(Number(st[1]));
    return;
  }
  if (level === 'error' || level === 'fatal' || level === 'panic') {
    if (problems.length < 20) problems.push(text.trim());
    return;
  }
  const d = INFO_DURATION.exec(text);
  if (d) info.duration = Number(d[1]) * 3600 + Number(d[2]) * 60 + Number(d[3]);
  const f = INFO_FPS.exec(text);
  if (f && info.fps === undefined) info.fps = Number(f[1]);
  if (/^Output #0|^Stream mapping/.test(text)) headerRead();
}

async function waitFor<T>(get: () => T | undefined, ms: number): Promise<T | undefined> {
  const end = Date.now() + ms;
  while (get() === undefined && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
  return get();
}

/** Split a stream of binary PPMs ("P6 <w> <h> 255\n" + w·h·3 bytes, one after another) into frames. */
export async function* ppmFrames(stream: AsyncIterable<Buffer>): AsyncGenerator<RgbFrame> {
  // Chunks are kept in a list and joined once a whole frame is there (joining at every 64 kB chunk
  // would copy each frame over and over).
  let chunks: Buffer[] = [];
  let have = 0;
  let need: { width: number; height: number; start: number } | undefined;
  for await (const chunk of stream) {
    chunks.push(chunk);
    have += chunk.length;
    for (;;) {
      if (!need) {
        const head = chunks.length > 1 ? Buffer.concat(chunks) : chunks[0]!;
        chunks = [head];
        need = ppmHeader(head);
        if (!need) break;
      }
      const end = need.start + need.width * need.height * 3;
      if (have < end) break;
      const all = chunks.length > 1 ? Buffer.concat(chunks) : chunks[0]!;
      yield { data: new Uint8Array(all.subarray(need.start, end)), width: need.width, height: need.height };
      chunks = all.length > end ? [all.subarray(end)] : [];
      have = all.length - end;
      need = undefined;
      if (!have) break;
    }
  }
}

function ppmHeader(buf: Buffer): { width: number; height: number; start: number } | undefined {
  const head = buf.subarray(0, 64).toString('latin1');
  const m = /^P6\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(head);
  if (!m) {
    if (buf.length >= 64) throw new Error(`ffmpeg sent something that is not a PPM frame: ${JSON.stringify(head.slice(0, 16))}`);
    return undefined;
  }
  if (m[3] !== '255') throw new Error(`ffmpeg sent a ${m[3]}-level PPM; expected 8-bit`);
  return { width: Number(m[1]), height: Number(m[2]), start: m[0].length };
}
