/**
 * `POST /v1/predict-video`: a video (multipart field "video", or the raw body as video/*) → the same
 * rows and per-track summaries as `convcut predict clip.mp4 --faces --format json`.
 *
 * Every request's work is bounded:
 * - the upload streams to a temporary file (ffmpeg needs to seek in mp4), size-limited while it
 *   arrives, and must be complete within a deadline (408 past it); a few uploads may arrive at once
 *   (503 past them), so a client sending a byte a minute holds one of those, never the analysis;
 * - one video is analysed at a time, the slot taken once its upload is complete (503 while busy);
 *   the seconds, frames, frame rate and frame size analysed are limited (the reader refuses more);
 * - the analysis stops when its client goes, and when the server closes;
 * - uploads live in one folder per server (under `uploadDir`, default the OS temporary folder),
 *   each removed when its request ends, the folder when the server closes or the process exits.
 */
import { createWriteStream, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ConvCutModel } from '../infer/convcut-model.js';
import type { VideoOptions } from '../infer/video/options.js';
import type { VideoRow } from '../infer/video/summary.js';
import { DEFAULTS } from '../defaults.js';
import { booleanParam, HttpError } from './http-error.js';

export interface VideoLimits {
  /** Largest accepted upload (bytes). */
  maxBytes?: number;
  /** Longest video accepted (seconds, from its header); one without a duration is read this far. */
  maxSeconds?: number;
  /** The whole upload must arrive within this many ms, else 408. */
  uploadDeadlineMs?: number;
  /** Uploads arriving at once; past that, 503. */
  maxUploads?: number;
  /** Most frames analysed (413 past it), highest rate analysed (frames/s), largest frame (pixels, 413 past it). */
  maxFrames?: number;
  maxFps?: number;
  maxPixels?: number;
  /** Where this server's upload folder is made (default: the OS temporary folder). */
  uploadDir?: string;
}

/** Upload folders of every server in this process: removed on exit, whatever ended it. */
const liveDirs = new Set<string>();
let exitHook = false;
function track(dir: string): void {
  liveDirs.add(dir);
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
  });
}

export function registerVideoRoute(app: FastifyInstance, model: ConvCutModel, limits: VideoLimits = {}): void {
  const maxBytes = limits.maxBytes ?? DEFAULTS.server.videoMaxBytes;
  const deadlineMs = limits.uploadDeadlineMs ?? DEFAULTS.server.uploadDeadlineMs;
  const maxUploads = limits.maxUploads ?? DEFAULTS.server.maxUploads;
  const analysis: AnalysisLimits = {
    maxSeconds: limits.maxSeconds ?? DEFAULTS.server.videoMaxSeconds,
    maxFrames: limits.maxFrames ?? DEFAULTS.server.videoMaxFrames,
    maxFps: limits.maxFps ?? DEFAULTS.server.videoMaxFps,
    maxPixels: limits.maxPixels ?? DEFAULTS.server.maxPixels,
  };
  let uploads = 0;
  let busy = false;
  /** Every request in progress, to stop when the server closes. */
  const live = new Set<AbortController>();
  let root: Promise<string> | undefined;
  const uploadRoot = () =>
    (root ??= mkdtemp(path.join(limits.uploadDir ?? tmpdir(), 'convcut-uploads-')).then((d) => {
      track(d);
      return d;
    }));

  app.addHook('preClose', async () => {
    for (const c of live) c.abort(new HttpError(503, 'shutting_down', 'the server is stopping'));
  });
  app.addHook('onClose', async () => {
    const dir = await root?.catch(() => undefined);
    if (!dir) return;
    await rm(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
  });

  app.post('/v1/predict-video', async (req, reply) => {
    const q = parseVideoQuery(req.query as Record<string, string | undefined>);
    if (uploads >= maxUploads) {
      reply.header('connection', 'close'); // its body is not read
      throw new HttpError(503, 'overloaded', `${maxUploads} videos are being uploaded; try again later`);
    }
    uploads++;
    let uploading = true;
    const ac = new AbortController();
    live.add(ac);
    const gone = () => {
      if (!reply.raw.writableFinished) ac.abort(new HttpError(499, 'client_closed', 'the client closed the connection'));
    };
    reply.raw.on('close', gone);
    const timer = setTimeout(
      () => ac.abort(new HttpError(408, 'upload_timeout', `the upload was not complete within ${deadlineMs} ms`)),
      deadlineMs,
    );
    timer.unref();
    let dir: string | undefined;
    try {
      dir = await mkdtemp(path.join(await uploadRoot(), 'v-'));
      const file = path.join(dir, 'upload');
      await receive(req, file, maxBytes, ac.signal);
      clearTimeout(timer);
      uploads--;
      uploading = false;
      if (busy) throw new HttpError(503, 'overloaded', 'a video is being analysed; try again when it is done');
      busy = true;
      try {
        return await analyse(model, file, q, analysis, ac.signal);
      } finally {
        busy = false;
      }
    } catch (e) {
      if (uploading) closeAfter(reply); // what is left of its body is not read
      throw e;
    } finally {
      clearTimeout(timer);
      if (uploading) uploads--;
      reply.raw.off('close', gone);
      live.delete(ac);
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  });
}

/** The answer closes its connection, and the socket goes once it is written (the client may still be sending). */
function closeAfter(reply: FastifyReply): void {
  reply.header('connection', 'close');
  reply.raw.once('finish', () => reply.request.raw.socket?.destroySoon());
}

interface VideoQuery {
  fps?: number;
  faces: boolean;
}

function parseVideoQuery(q: Record<string, string | undefined>): VideoQuery {
  const fps = q.fps === undefined ? undefined : Number(q.fps);
  if (fps !== undefined && !(fps > 0)) throw new HttpError(400, 'bad_parameter', `fps must be a number > 0, got "${q.fps}"`);
  return { fps, faces: booleanParam('faces', q.faces, true) };
}

/** A promise that rejects with the signal's reason when it aborts. */
function aborted(signal: AbortSignal): Promise<never> {
  const p = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason as Error);
    else signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });
  p.catch(() => {});
  return p;
}

/**
 * The upload into `file`, at most `maxBytes` (counted as it arrives: a 413 before the disk fills),
 * until `signal` aborts. The request stream is never destroyed here: its answer (a 408, a 413) must
 * still be written to the socket, which then closes.
 */
async function receive(req: FastifyRequest, file: string, maxBytes: number, signal: AbortSignal): Promise<void> {
  const type = req.headers['content-type'] ?? '';
  let source: Readable;
  if (type.startsWith('multipart/form-data')) {
    const part = await Promise.race([
      req.file({ limits: { fileSize: maxBytes } }).catch((e: Error & { code?: string }) => {
        if (signal.aborted) throw signal.reason;
        throw new HttpError(400, 'malformed_multipart', `multipart body could not be read: ${e.message}`);
      }),
      aborted(signal),
    ]);
    if (!part || part.fieldname !== 'video')
      throw new HttpError(400, 'missing_video', 'multipart request has no file in a field named "video"');
    source = part.file;
  } else if (/^video\//.test(type)) source = req.body as Readable;
  else
    throw new HttpError(
      415,
      'unsupported_media_type',
      `content type "${type || 'none'}": send multipart/form-data with a "video" file, or the video itself (video/mp4, …)`,
    );
  let n = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      n += chunk.length;
      if (n > maxBytes) done(new HttpError(413, 'body_too_large', `video is larger than ${maxBytes} bytes`));
      else done(null, chunk);
    },
  });
  // A relay between the request and the pipeline: a failed pipeline destroys the relay, not the request.
  const relay = new PassThrough();
  const forward = (e: Error) => relay.destroy(e);
  // Busboy stops a file at its size limit but ends it only with its part: say 413 at once.
  const tooLarge = () => relay.destroy(new HttpError(413, 'body_too_large', `video is larger than ${maxBytes} bytes`));
  source.on('error', forward);
  source.once('limit', tooLarge);
  if ((source as { truncated?: boolean }).truncated) tooLarge(); // the limit was met before the part was handed over
  source.pipe(relay);
  try {
    await pipeline(relay, count, createWriteStream(file), { signal });
  } catch (e) {
    if (signal.aborted) throw signal.reason;
    const err = e as Error & { code?: string };
    if (e instanceof HttpError) throw e;
    if (err.code === 'FST_REQ_FILE_TOO_LARGE')
      throw new HttpError(413, 'body_too_large', `video is larger than ${maxBytes} bytes`);
    throw new HttpError(400, 'bad_request', `upload could not be read: ${err.message}`);
  } finally {
    source.unpipe(relay);
    source.off('error', forward);
    source.off('limit', tooLarge);
    source.on('error', () => {}); // the socket closing under an unread request is no one's error now
  }
  if ((source as { truncated?: boolean }).truncated)
    throw new HttpError(413, 'body_too_large', `video is larger than ${maxBytes} bytes`);
  if (!n) throw new HttpError(400, 'missing_video', 'empty body: send a video');
}

interface AnalysisLimits {
  maxSeconds: number;
  maxFrames: number;
  maxFps: number;
  maxPixels: number;
}

/** The reader's refusals (src/infer/video/ffmpeg.ts) as answers, naming the upload, never its temporary path. */
function refusal(e: unknown, ff: typeof import('../infer/video/ffmpeg.js'), file: string): HttpError | undefined {
  const said = (m: string) => m.replaceAll(`${file}: `, '').replaceAll(file, 'the upload');
  if (e instanceof ff.MediaRefusedError) return new HttpError(422, 'not_a_video', said(e.message));
  if (e instanceof ff.FrameTooLargeError) return new HttpError(413, 'frame_too_large', said(e.message));
  if (e instanceof ff.TooManyFramesError) return new HttpError(413, 'too_many_frames', said(e.message));
  return undefined;
}

async function analyse(model: ConvCutModel, file: string, q: VideoQuery, lim: AnalysisLimits, signal: AbortSignal) {
  const ffmpeg = await import('../infer/video/ffmpeg.js');
  const { predictVideo } = await import('../infer/video/predict-video.js');
  const { summarise } = await import('../infer/video/summary.js');
  try {
    ffmpeg.findFfmpeg();
  } catch (e) {
    throw new HttpError(501, 'no_ffmpeg', (e as Error).message);
  }
  const t0 = performance.now();
  const rows: VideoRow[] = [];
  let problems: string[] = [];
  let tooLong: number | undefined;
  let frames = 0;
  const options: VideoOptions = {
    fps: q.fps,
    faces: q.faces,
    duration: lim.maxSeconds,
    // An upload: only video containers are opened, and frames are counted, sized and sampled as limited here.
    untrusted: true,
    limits: { maxFrames: lim.maxFrames, maxPixels: lim.maxPixels, maxFps: lim.maxFps },
    // Aborted when the client goes or the server closes: ffmpeg is killed and the frames end.
    signal,
    onReader: (r) => {
      problems = r.problems;
      void r.info.then((i) => {
        if (i.duration !== undefined && i.duration > lim.maxSeconds) {
          tooLong = i.duration;
          r.stop();
        }
      });
    },
  };
  let tooMany = false;
  try {
    for await (const f of predictVideo(model, file, options)) {
      if (signal.aborted) break;
      if (++frames > lim.maxFrames) {
        tooMany = true;
        break;
      }
      rows.push(...f.rows.map((r) => ({ ...r, file: 'upload' })));
    }
  } catch (e) {
    if (signal.aborted) throw signal.reason;
    throw refusal(e, ffmpeg, file) ?? e;
  }
  if (signal.aborted) throw signal.reason;
  if (tooMany) throw new HttpError(413, 'too_many_frames', `video has more than ${lim.maxFrames} frames to analyse`);
  if (tooLong !== undefined)
    throw new HttpError(413, 'video_too_long', `video is ${tooLong.toFixed(1)} s long; the limit is ${lim.maxSeconds} s`);
  // ffmpeg names the file; the client's name for it is not the temporary one.
  const said = problems.at(-1)?.replace(`${file}: `, '');
  if (!frames) throw new HttpError(422, 'not_a_video', `cannot read the video (${said ?? 'no frames'})`);
  return {
    model: model.publicName,
    classes: model.classes,
    frames,
    rows: rows.map(({ file: _f, ...r }) => r),
    tracks: summarise(rows, model.classes),
    problems: problems.map((p) => p.replaceAll(`${file}: `, '').replaceAll(file, 'the upload')),
    timing: { total_ms: Math.round(performance.now() - t0) },
  };
}
