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
import { IMAGE_EXTENSIONS } from '../../data/dataset.js';
import type { RgbFrame } from '../faces.js';
import { frameLimits } from './options.js';

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

export interface FrameLimits {
  /** Most frames read; one more ends the reading with TooManyFramesError. */
  maxFrames?: number;
  /** Largest frame, width × height; a larger one is refused (FrameTooLargeError) before it is decoded. */
  maxPixels?: number;
  /** Most frames analysed per second of video: a faster source is sampled down to about this. */
  maxFps?: number;
}

export interface FrameOptions {
  /** Analyse at most this many frames per second (never more than the source has). */
  fps?: number;
  /** Seconds into the video to start at. */
  start?: number;
  /** Seconds to read. */
  duration?: number;
  /**
   * The file came from someone else (an upload): only video containers are opened, never a photo
   * demuxer, and the untrusted limits apply (options.ts). Either way ffmpeg reads this one local
   * file only: no playlist, list, image sequence or protocol.
   */
  untrusted?: boolean;
  /** Overrides of the limits (defaults: options.ts, by `untrusted`). */
  limits?: FrameLimits;
  /** Aborting kills ffmpeg at once; `frames` then throws the signal's reason. */
  signal?: AbortSignal;
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
  /** ffmpeg's process id (undefined if it could not be started). */
  pid?: number;
}

/** The input is not a video convcut opens (a playlist, a list, an image sequence, not media at all). */
export class MediaRefusedError extends Error {
  override name = 'MediaRefusedError';
}

/** A frame is larger than `limits.maxPixels`. */
export class FrameTooLargeError extends Error {
  override name = 'FrameTooLargeError';
}

/** The video has more frames than `limits.maxFrames`. */
export class TooManyFramesError extends Error {
  override name = 'TooManyFramesError';
}

/**
 * The demuxers an input may be opened with: real containers, whose data is in the file itself. Not
 * hls/dash (playlists naming other files or URLs), concat (a list), image2 (a file-name pattern),
 * nor any text-driven demuxer; ffmpeg's probe still picks among these, so an extension means nothing.
 */
export const VIDEO_DEMUXERS = 'mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpeg,mpegts,flv,asf,ogg';
/** For a photo given to the CLI with videos: each format's single-file reader (not image2's patterns). */
export const PHOTO_DEMUXERS = 'jpeg_pipe,png_pipe,webp_pipe,bmp_pipe,tiff_pipe,gif,gif_pipe';

export function readFrames(file: string, o: FrameOptions = {}): FrameReader {
  const { bin, passthrough } = findFfmpeg();
  const limits = frameLimits(o);
  // The one local file, by an absolute path behind file:, so no name (concat:…, -i, http:…) is a protocol.
  const abs = path.resolve(file);
  const url = `file:${abs}`;
  const name = path.basename(abs);
  const photo = !o.untrusted && IMAGE_EXTENSIONS.has(path.extname(abs).toLowerCase());
  const clean = (s: string) => s.split(url).join(name).split(abs).join(name);
  const filters = [];
  // select keeps a frame when at least 1/fps s passed since the last one kept: n per second at most,
  // never a duplicated frame (ffmpeg's fps filter would duplicate up to the rate asked for). The
  // cap's gap is a little shorter, so that a source at the cap keeps every frame despite jitter.
  const gap = Math.max(o.fps ? 0.999 / o.fps : 0, limits.maxFps ? 0.9 / limits.maxFps : 0);
  if (gap) filters.push(`select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,${gap.toPrecision(6)})'`);
  filters.push('showinfo');
  const args = ['-hide_banner', '-nostats', '-nostdin', '-loglevel', 'level+info'];
  // A photo may need image2 (ffmpeg's probe prefers it for some JPEGs), which reads a name holding
  // %d or a glob as a sequence of files: allowed only for a path with none of those characters.
  const demuxers = !photo ? VIDEO_DEMUXERS : /[%*?[\]{}]/.test(abs) ? PHOTO_DEMUXERS : `${PHOTO_DEMUXERS},image2`;
  args.push('-protocol_whitelist', 'file', '-format_whitelist', demuxers);
  // The decoder's own limit, a backstop for a size the header did not say (with room for row padding).
  if (limits.maxPixels) args.push('-max_pixels', String(Math.min(2 ** 31 - 1, Math.ceil(limits.maxPixels * 1.02) + 65_536)));
  if (o.start) args.push('-ss', String(o.start));
  if (o.duration) args.push('-t', String(o.duration));
  args.push('-i', url, '-an', '-sn', '-dn', '-vf', filters.join(','), ...passthrough);
  if (limits.maxFrames) args.push('-frames:v', String(limits.maxFrames + 1));
  args.push('-f', 'image2pipe', '-c:v', 'ppm', 'pipe:1');
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const problems: string[] = [];
  const times: number[] = [];
  let resolveInfo!: (i: VideoInfo) => void;
  const info = new Promise<VideoInfo>((r) => (resolveInfo = r));
  const state: LogState = { info: {}, times, problems, opened: false, clean, maxPixels: limits.maxPixels };
  let failure: Error | undefined;
  let stopped = false;
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const onAbort = () => kill();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  if (o.signal?.aborted) kill();
  let stderrTail = '';
  child.stderr.setEncoding('utf8');
  const onLine = (line: string) => {
    const f = readLogLine(line, state, () => resolveInfo(state.info));
    if (f && !failure) {
      failure = f;
      kill();
    }
  };
  child.stderr.on('data', (chunk: string) => {
    const lines = (stderrTail + chunk).split('\n');
    stderrTail = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
  const gone = new Promise<void>((resolve) => {
    child.on('error', () => resolve());
    child.on('exit', () => resolve());
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('error', (e) => {
      problems.push(clean(e.message));
      resolve(null);
    });
    child.on('close', (code) => {
      if (stderrTail) onLine(stderrTail);
      stderrTail = '';
      resolveInfo(state.info);
      o.signal?.removeEventListener('abort', onAbort);
      resolve(code);
    });
  });
  const stop = () => {
    stopped = true;
    kill();
  };
  const maxFrames = limits.maxFrames ?? Infinity;
  const halt = () => {
    o.signal?.throwIfAborted();
    if (failure) throw failure;
  };
  async function* frames(): AsyncGenerator<VideoFrame> {
    let index = 0;
    try {
      halt();
      for await (const ppm of ppmFrames(child.stdout, limits.maxPixels)) {
        halt();
        if (index >= maxFrames)
          throw new TooManyFramesError(`the video has more than ${maxFrames} frames; the limit is ${maxFrames}`);
        // The frame's showinfo line is written before the frame is encoded, but it travels on the
        // other pipe: wait for it briefly, then fall back to the nominal rate.
        const t = times[index] ?? (await waitFor(() => times[index], 200)) ?? index / (o.fps ?? state.info.fps ?? 25);
        yield { ...ppm, index, time: (o.start ?? 0) + t };
        index++;
      }
      const code = await exited;
      halt();
      if (code !== 0 && !stopped) {
        if (!state.opened && !index) throw refusal(name, state);
        if (!problems.length) problems.push(`ffmpeg exited with code ${code}`);
      }
    } finally {
      child.stdout.destroy();
      kill();
      await gone;
    }
  }
  return { frames: frames(), info, problems, stop, pid: child.pid };
}

/** What ffmpeg said on failing to open the input, as one line naming no file (the caller knows which). */
function refusal(name: string, s: LogState): MediaRefusedError {
  if (s.refusedFormat)
    return new MediaRefusedError(
      `not a video convcut opens: it reads as "${s.refusedFormat}" (playlists, lists and image sequences are refused)`,
    );
  if (s.refusedProtocol)
    return new MediaRefusedError(`not a video convcut opens: it refers to other files or URLs (${s.refusedProtocol})`);
  const said = s.problems.at(-1)?.replace(`${name}: `, '');
  return new MediaRefusedError(`cannot read the video (${said ?? 'ffmpeg could not open it'})`);
}

interface LogState {
  info: VideoInfo;
  times: number[];
  problems: string[];
  /** ffmpeg opened the input ("Input #0, <format>, from …"). */
  opened: boolean;
  refusedFormat?: string;
  refusedProtocol?: string;
  maxPixels?: number;
  /** Takes the file's path out of a message. */
  clean: (s: string) => string;
}

const INFO_DURATION = /^\s*Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)/;
const INFO_FPS = /^\s*Stream #\d+:\d+.*Video:.*?, (\d+(?:\.\d+)?) fps/;
// "Stream #0:0: Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), 8192x8192 [SAR 1:1 DAR 1:1], …"
const INFO_SIZE = /^\s*Stream #\d+:\d+.*?: Video: .*?, (\d+)x(\d+)(?=[\s,]|$)/;
const SHOWINFO = /^n:\s*\d+ pts:\s*-?\d+ pts_time:(-?[\d.e+-]+)/;
// `-loglevel level+info` lines: "[<component> @ 0x…] [<level>] <message>", the component optional.
const LOG_LINE = /^((?:\[[^\]]* @ 0x[0-9a-f]+\] )*)\[(\w+)\] ?(.*)$/;
const TOO_MANY_PIXELS = /Picture size (\d+)x(\d+) exceeds specified max pixel count/;

/** One line of ffmpeg's log into `s`; returns an error that must end the reading now. */
function readLogLine(line: string, s: LogState, headerRead: () => void): Error | undefined {
  const m = LOG_LINE.exec(line);
  if (!m) return;
  const [, component = '', level, text = ''] = m;
  if (component.includes('Parsed_showinfo')) {
    const st = SHOWINFO.exec(text);
    if (st) s.times.push(Number(st[1]));
    return;
  }
  if (level === 'error' || level === 'fatal' || level === 'panic') {
    if (/Format not on whitelist/.test(text)) s.refusedFormat = /^\[(\w+) @/.exec(component)?.[1] ?? 'another format';
    const proto = /Protocol '([^']*)' not on whitelist/.exec(text);
    if (proto) s.refusedProtocol = `protocol ${proto[1]}`;
    const big = TOO_MANY_PIXELS.exec(text);
    if (big) return tooLarge(Number(big[1]), Number(big[2]), s.maxPixels ?? 0);
    if (s.problems.length < 20) s.problems.push(s.clean(text.trim()));
    return;
  }
  if (/^Input #0/.test(text)) s.opened = true;
  const d = INFO_DURATION.exec(text);
  if (d) s.info.duration = Number(d[1]) * 3600 + Number(d[2]) * 60 + Number(d[3]);
  const f = INFO_FPS.exec(text);
  if (f && s.info.fps === undefined) s.info.fps = Number(f[1]);
  const size = INFO_SIZE.exec(text);
  if (size && s.maxPixels && Number(size[1]) * Number(size[2]) > s.maxPixels)
    return tooLarge(Number(size[1]), Number(size[2]), s.maxPixels);
  if (/^Output #0|^Stream mapping/.test(text)) headerRead();
  return;
}

const tooLarge = (w: number, h: number, max: number) =>
  new FrameTooLargeError(`video frames are ${w}×${h} = ${w * h} pixels; the limit is ${max}`);

async function waitFor<T>(get: () => T | undefined, ms: number): Promise<T | undefined> {
  const end = Date.now() + ms;
  while (get() === undefined && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
  return get();
}

/**
 * Split a stream of binary PPMs ("P6 <w> <h> 255\n" + w·h·3 bytes, one after another) into frames.
 * A header over `maxPixels` throws FrameTooLargeError before its body is buffered.
 */
export async function* ppmFrames(stream: AsyncIterable<Buffer>, maxPixels?: number): AsyncGenerator<RgbFrame> {
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
        if (maxPixels && need.width * need.height > maxPixels) throw tooLarge(need.width, need.height, maxPixels);
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
