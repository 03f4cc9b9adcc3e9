/** What `predictVideo` can be asked, and its defaults (kept light: the CLI reads them at start-up). */
import type { FrameLimits, FrameOptions, FrameReader } from './ffmpeg.js';
import { DEFAULTS } from '../../defaults.js';

export interface VideoOptions extends FrameOptions {
  /** false: classify each whole frame (a video of aligned faces) as track 0. Default true. */
  faces?: boolean;
  /** Run the face detectors every k analysed frames; landmarks follow the faces in between. */
  detectEvery?: number;
  minConfidence?: number;
  /** Seconds of exponential smoothing of each track's probabilities in the rows (0: raw). */
  smooth?: number;
  /** Seconds a track may go unseen before it ends. */
  maxAge?: number;
  /** Mean grey-level difference (0..255, 16×16 thumbnails) above which a frame is a cut. */
  cutThreshold?: number;
  /** Called once with the reader, e.g. to show progress from its `info` or to stop it. */
  onReader?: (r: FrameReader) => void;
}

/** Defaults, measured in BENCHMARKS.md ("Video"). */
export const VIDEO_DEFAULTS = {
  detectEvery: 10,
  minConfidence: DEFAULTS.faceMinConfidence,
  smooth: 0,
  maxAge: 1,
  cutThreshold: 30,
};

/** Largest frame, pixels: the photo limit (checked from ffmpeg's stream header, before decoding). */
export const VIDEO_MAX_PIXELS: number = DEFAULTS.server.maxPixels;
/** Most frames read from an untrusted video: 10 minutes at 30 frames/s. */
export const UNTRUSTED_MAX_FRAMES = 18_000;
/** Most frames analysed per second of an untrusted video (a faster source is sampled down to this). */
export const UNTRUSTED_MAX_FPS = 60;

/** The limits a reading runs under: what was asked, else the defaults for trusted or untrusted input. */
export function frameLimits(o: Pick<FrameOptions, 'untrusted' | 'limits'>): FrameLimits {
  const base: FrameLimits = o.untrusted
    ? { maxPixels: VIDEO_MAX_PIXELS, maxFrames: UNTRUSTED_MAX_FRAMES, maxFps: UNTRUSTED_MAX_FPS }
    : { maxPixels: VIDEO_MAX_PIXELS };
  const given = Object.fromEntries(Object.entries(o.limits ?? {}).filter(([, v]) => v !== undefined)) as FrameLimits;
  return { ...base, ...given };
}
