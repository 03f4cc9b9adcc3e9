/**
 * Expressions in a video, frame by frame, per face: ffmpeg frames → faces (detected every
 * `detectEvery` frames, followed by their landmarks in between) → tracks → the model → one row per
 * face per analysed frame. Results are yielded as frames are done, so a long video streams, and the
 * model classifies frame i while the faces of frame i + 1 are being found.
 *
 *   const model = await loadModel('best.safetensors', { precision: 'int8', spinning: false });
 *   for await (const f of predictVideo(model, 'clip.mp4', { fps: 10 })) console.log(f.time, f.rows);
 *
 * (`spinning: false`, as `convcut predict` loads a model for videos: ONNX Runtime's idle threads
 * then leave the cores to the face detectors and ffmpeg between frames; BENCHMARKS.md.)
 */
import type { ConvCutModel } from '../convcut-model.js';
import { decodeImage, type DecodedImage } from '../../data/image.js';
import type { FrameFace } from '../faces.js';
import { readFrames, type VideoFrame } from './ffmpeg.js';
import { VIDEO_DEFAULTS, type VideoOptions } from './options.js';

export { VIDEO_DEFAULTS, type VideoOptions } from './options.js';
import { argmax, Smoother, type VideoRow } from './summary.js';
import { frameDifference, thumbnail, Tracker } from './tracker.js';

export interface FrameResult {
  file: string;
  frame: number;
  time: number;
  width: number;
  height: number;
  /** One row per face, smoothed along its track when `smooth` > 0. */
  rows: VideoRow[];
  /** The same rows unsmoothed (what summaries and timelines smooth themselves: never twice). */
  raw: VideoRow[];
  /** The aligned crop of each row's face (what the model saw), same order. */
  crops: DecodedImage[];
  /** The video was cut here (every track ended). */
  cut: boolean;
}

export async function* predictVideo(model: ConvCutModel, file: string, o: VideoOptions = {}): AsyncGenerator<FrameResult> {
  const opt = { ...VIDEO_DEFAULTS, ...o };
  const { detectWithLandmarks, refitFaces } = await import('../faces.js'); // tfjs loads only when video is read
  o.signal?.throwIfAborted();
  const reader = readFrames(file, o);
  const size = model.config.inputSize;
  const tracker = new Tracker({ maxAge: opt.maxAge });
  const smoother = new Smoother(opt.smooth);
  let faces: FrameFace[] = [];
  let lastDetect = -Infinity;
  let prevThumb: Float32Array | undefined;
  let pending: Promise<FrameResult> | undefined;
  try {
    o.onReader?.(reader);
    for await (const frame of reader.frames) {
      const thumb = thumbnail(frame);
      const cut = prevThumb !== undefined && frameDifference(thumb, prevThumb) > opt.cutThreshold;
      prevThumb = thumb;
      if (cut) tracker.cut();
      let found: { box: FrameFace['box']; aligned: DecodedImage }[];
      if (o.faces === false)
        found = [
          { box: { x: 0, y: 0, width: frame.width, height: frame.height, score: 1 }, aligned: await whole(frame, file, size) },
        ];
      else {
        const detect = cut || frame.index - lastDetect >= opt.detectEvery;
        faces = detect
          ? await detectWithLandmarks(frame, size, {
              minConfidence: opt.minConfidence,
              trusted: cut ? [] : faces.map((f) => f.box),
            })
          : await refitFaces(frame, faces, size);
        if (detect) lastDetect = frame.index;
        found = faces;
      }
      o.signal?.throwIfAborted(); // aborted while the faces were found: this frame goes no further
      const tracks = tracker.assign(
        found.map((f) => f.box),
        frame.time,
      );
      const job = classifyFrame(model, file, frame, found, tracks, cut);
      const prev = pending;
      pending = job;
      if (prev) {
        const done = await prev;
        o.signal?.throwIfAborted();
        yield smoothRows(done, smoother, model.classes);
      }
    }
    if (pending) {
      const done = await pending;
      pending = undefined;
      o.signal?.throwIfAborted();
      yield smoothRows(done, smoother, model.classes);
    }
  } finally {
    // However this ends (a throw, an abort, the caller leaving the loop), ffmpeg goes, and a frame
    // still in the model is not left to reject unheard.
    pending?.catch(() => {});
    reader.stop();
    await reader.frames.return(undefined);
  }
}

/** One frame's faces through the model (the one image stream, at the model's temperature): raw rows. */
async function classifyFrame(
  model: ConvCutModel,
  file: string,
  frame: VideoFrame,
  found: { box: FrameFace['box']; aligned: DecodedImage }[],
  tracks: number[],
  cut: boolean,
): Promise<FrameResult> {
  const base = { file, frame: frame.index, time: frame.time, width: frame.width, height: frame.height, cut };
  const preds = found.length
    ? await model.predict(
        found.map((f) => f.aligned),
        { topK: 1 },
      )
    : [];
  const rows = preds.map((p, i) => {
    const b = found[i]!.box;
    const box = { x: b.x, y: b.y, width: b.width, height: b.height };
    return {
      file,
      time: frame.time,
      frame: frame.index,
      track: tracks[i]!,
      box,
      label: p.label,
      score: p.score,
      probs: p.probabilities,
    };
  });
  return { ...base, rows, raw: rows, crops: found.map((f) => f.aligned) };
}

/**
 * Each row's probabilities smoothed along its track, its label and score from them. Done as frames
 * are yielded, in time order (the model may finish two pipelined frames in either order).
 */
function smoothRows(f: FrameResult, smoother: Smoother, classes: string[]): FrameResult {
  const rows = f.raw.map((r) => {
    const probs = smoother.apply(r.track, r.time, r.probs);
    const k = argmax(probs);
    return { ...r, label: classes[k]!, score: probs[k]!, probs };
  });
  return { ...f, rows };
}

/** The whole frame resized to the model input exactly as a photo is (data/image.ts). */
function whole(frame: VideoFrame, file: string, size: number): Promise<DecodedImage> {
  const origin = `${file}@${frame.time.toFixed(3)}s`;
  return decodeImage({ kind: 'pixels', width: frame.width, height: frame.height, channels: 3, data: frame.data, origin }, size);
}
