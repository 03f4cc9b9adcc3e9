/** What `predictVideo` can be asked, and its defaults (kept light: the CLI reads them at start-up). */
import type { FrameOptions, FrameReader } from './ffmpeg.js';
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
