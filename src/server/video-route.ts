/**
 * `POST /v1/predict-video`: a video (multipart field "video", or the raw body as video/*) → the same
 * rows and per-track summaries as `convcut predict clip.mp4 --faces --format json`. The upload is
 * streamed to a temporary file (ffmpeg needs to seek in mp4), size-limited while it arrives; the
 * seconds analysed are limited too. One video is analysed at a time; another gets 503 meanwhile.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ConvCutModel } from '../infer/convcut-model.js';
import type { VideoRow } from '../infer/video/summary.js';
import { booleanParam, HttpError } from './http-error.js';

export interface VideoLimits {
  /** Largest accepted upload (bytes). */
  maxBytes?: number;
  /** Longest video accepted (seconds, from its header); one without a duration is read this far. */
  maxSeconds?: number;
}

export function registerVideoRoute(app: FastifyInstance, model: ConvCutModel, limits: VideoLimits = {}): void {
  const maxBytes = limits.maxBytes ?? 200 * 1024 * 1024;
  const maxSeconds = limits.maxSeconds ?? 300;
  let busy = false;
  app.post('/v1/predict-video', async (req) => {
    const q = parseVideoQuery(req.query as Record<string, string | undefined>);
    if (busy) throw new HttpError(503, 'overloaded', 'a video is being analysed; try again when it is done');
    busy = true;
    const dir = await mkdtemp(path.join(tmpdir(), 'convcut-upload-'));
    try {
      const file = path.join(dir, 'upload');
      await receive(req, file, maxBytes);
      return await analyse(model, file, q, maxSeconds);
    } finally {
      busy = false;
      await rm(dir, { recursive: true, force: true });
    }
  });
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

/** The upload into `file`, at most `maxBytes` (counted as it arrives: a 413 before the disk fills). */
async function receive(req: FastifyRequest, file: string, maxBytes: number): Promise<void> {
  const type = req.headers['content-type'] ?? '';
  let source: NodeJS.ReadableStream;
  if (type.startsWith('multipart/form-data')) {
    const part = await req.file({ limits: { fileSize: maxBytes } }).catch((e: Error) => {
      throw new HttpError(400, 'malformed_multipart', `multipart body could not be read: ${e.message}`);
    });
    if (!part || part.fieldname !== 'video')
      throw new HttpError(400, 'missing_video', 'multipart request has no file in a field named "video"');
    source = part.file;
  } else if (/^video\//.test(type)) source = req.body as NodeJS.ReadableStream;
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
  try {
    await pipeline(source, count, createWriteStream(file));
  } catch (e) {
    if (e instanceof HttpError) throw e;
    throw new HttpError(400, 'bad_request', `upload could not be read: ${(e as Error).message}`);
  }
  if ((source as { truncated?: boolean }).truncated)
    throw new HttpError(413, 'body_too_large', `video is larger than ${maxBytes} bytes`);
  if (!n) throw new HttpError(400, 'missing_video', 'empty body: send a video');
}

async function analyse(model: ConvCutModel, file: string, q: VideoQuery, maxSeconds: number) {
  const { findFfmpeg } = await import('../infer/video/ffmpeg.js');
  const { predictVideo } = await import('../infer/video/predict-video.js');
  const { summarise } = await import('../infer/video/summary.js');
  try {
    findFfmpeg();
  } catch (e) {
    throw new HttpError(501, 'no_ffmpeg', (e as Error).message);
  }
  const t0 = performance.now();
  const rows: VideoRow[] = [];
  let problems: string[] = [];
  let tooLong: number | undefined;
  let frames = 0;
  const stream = predictVideo(model, file, {
    fps: q.fps,
    faces: q.faces,
    duration: maxSeconds,
    onReader: (r) => {
      problems = r.problems;
      void r.info.then((i) => {
        if (i.duration !== undefined && i.duration > maxSeconds) {
          tooLong = i.duration;
          r.stop();
        }
      });
    },
  });
  for await (const f of stream) {
    frames++;
    rows.push(...f.rows.map((r) => ({ ...r, file: 'upload' })));
  }
  if (tooLong !== undefined)
    throw new HttpError(413, 'video_too_long', `video is ${tooLong.toFixed(1)} s long; the limit is ${maxSeconds} s`);
  // ffmpeg names the file; the client's name for it is not the temporary one.
  const said = problems.at(-1)?.replace(`${file}: `, '');
  if (!frames) throw new HttpError(422, 'not_a_video', `cannot read the video (${said ?? 'no frames'})`);
  return {
    model: model.id,
    classes: model.classes,
    frames,
    rows: rows.map(({ file: _f, ...r }) => r),
    tracks: summarise(rows, model.classes),
    problems,
    timing: { total_ms: Math.round(performance.now() - t0) },
  };
}
