/**
 * The HTTP service (Fastify): `POST /v1/predict`, `POST /v1/predict-video` (video-route.ts), `GET /v1/model`,
 * `GET /v1/auth`, `GET /healthz`, `GET /readyz`, the model as ONNX for in-browser inference (`GET /v1/model.onnx`),
 * and the web page (web/, built by Vite) with every asset it needs (no CDN). The model is loaded once; requests go
 * through a bounded batching queue, face detections through a bounded limiter. Every error is JSON
 * `{ error: { code, message } }` with a 4xx/5xx status. Host, origin and API-key checks and the security
 * headers: security.ts. Answers name the model by its public name, never by a path of this machine.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyMultipart from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import sharp, { type Metadata } from 'sharp';
import { decodeImage, type DecodedImage } from '../data/image.js';
import type { ConvCutModel } from '../infer/convcut-model.js';
import { processorFor } from '../infer/processor.js';
import { Batcher, QueueFullError } from './batcher.js';
import { registerFaceGraphs } from './face-graphs-route.js';
import { booleanParam, HttpError } from './http-error.js';
import { Limiter } from './limiter.js';
import { registerSecurity } from './security.js';
import { registerVideoRoute, type VideoLimits } from './video-route.js';
import { DEFAULTS } from '../defaults.js';

export interface ServerOptions {
  /** Largest accepted request body (bytes). */
  bodyLimit?: number;
  /** Largest accepted image (pixels, from its header, before decoding). */
  maxPixels?: number;
  /** Per-request time limit (ms); past it the request gets 503. */
  requestTimeout?: number;
  maxQueue?: number;
  maxBatch?: number;
  topK?: number;
  webDir?: string;
  logger?: boolean;
  /** `POST /v1/predict-video`'s limits (upload size and deadline, seconds and frames analysed, …). */
  video?: VideoLimits;
  /** Face detections run at once (`/v1/predict?faces=1`), and how many more may wait; past that, 503. */
  maxFaceDetections?: number;
  faceQueue?: number;
  /**
   * Host names the `Host` header may carry (DNS rebinding): these and the addresses the server
   * listens on; `*` any; an entry without a port: any port; `.example.com`: it and its subdomains.
   * Undefined: any Host (a library user embedding the server checks it themselves).
   */
  allowedHosts?: string[];
  /** Bearer token every `/v1/*` request needs (`Authorization: Bearer <key>`); undefined: none. */
  apiKey?: string;
}

/** `top_k` (a whole number ≥ 1, at most the class count) and `faces` (true/false/1/0), or a 400. */
function parseQuery(q: Record<string, string | undefined>, classes: number, defaultK: number): { k: number; wantFaces: boolean } {
  const k = q.top_k === undefined ? defaultK : Number(q.top_k);
  if (!Number.isInteger(k) || k < 1)
    throw new HttpError(400, 'bad_parameter', `top_k must be a whole number ≥ 1, got "${q.top_k}"`);
  return { k: Math.min(k, classes), wantFaces: booleanParam('faces', q.faces, false) };
}

const here = path.dirname(fileURLToPath(import.meta.url));
export const DEFAULT_WEB_DIR = path.join(here, '..', '..', 'web', 'dist');

function sendError(reply: FastifyReply, status: number, code: string, message: string) {
  return reply.code(status).type('application/json').send({ error: { code, message } });
}

export async function buildServer(model: ConvCutModel, o: ServerOptions = {}): Promise<FastifyInstance> {
  const bodyLimit = o.bodyLimit ?? DEFAULTS.server.bodyLimit;
  const maxPixels = o.maxPixels ?? DEFAULTS.server.maxPixels;
  const timeout = o.requestTimeout ?? DEFAULTS.server.requestTimeoutMs;
  const batcher = new Batcher(model, o.maxQueue ?? DEFAULTS.server.maxQueue, o.maxBatch ?? DEFAULTS.server.maxBatch);
  // The socket may live twice the request limit, and never less than 10 s: a short request limit must
  // end in a 503, not in a connection reset before that answer is written (CI saw one at 1 ms).
  const connectionTimeout = Math.max(2 * timeout, 10_000);
  // Node's own limit on receiving a whole request (headers and body; checked every 30 s): a backstop
  // for bodies trickling in slowly, past the video route's own upload deadline (a 408 and its files removed).
  const requestTimeout = (o.video?.uploadDeadlineMs ?? DEFAULTS.server.uploadDeadlineMs) + timeout;
  const app = Fastify({ logger: o.logger ?? false, bodyLimit, connectionTimeout, requestTimeout });
  registerSecurity(app, { allowedHosts: o.allowedHosts, apiKey: o.apiKey });
  const faceLimiter = new Limiter(
    o.maxFaceDetections ?? DEFAULTS.server.maxFaceDetections,
    o.faceQueue ?? DEFAULTS.server.faceQueue,
    'face detections',
  );
  await app.register(fastifyMultipart, { limits: { fileSize: bodyLimit, files: 1, fields: 10 } });
  // Once closing, answers to the requests still in flight also close their keep-alive connection:
  // otherwise close() waits for the client to drop it (Fastify's 72 s keep-alive, seen in the test).
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_req, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  // Raw image bodies: any image/* or application/octet-stream content type arrives as a Buffer.
  app.addContentTypeParser(/^(image\/.*|application\/octet-stream)$/, { parseAs: 'buffer', bodyLimit }, (_req, body, done) =>
    done(null, body),
  );
  // Raw video bodies stream to a file (video-route.ts), never held in memory whole.
  app.addContentTypeParser(/^video\/.*$/, (_req, payload, done) => done(null, payload));

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    if (err instanceof HttpError) return sendError(reply, err.status, err.code, err.message);
    if (err instanceof QueueFullError) return sendError(reply, 503, 'overloaded', err.message);
    const status = err.statusCode ?? 500;
    if (status === 413 || err.code === 'FST_REQ_FILE_TOO_LARGE')
      return sendError(reply, 413, 'body_too_large', `request body is larger than ${bodyLimit} bytes`);
    if (status === 415 || err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      return sendError(
        reply,
        415,
        'unsupported_media_type',
        'send multipart/form-data with an "image" file, or the image itself as the body (image/jpeg, image/png, …)',
      );
    if (status >= 400 && status < 500) return sendError(reply, status, 'bad_request', err.message);
    app.log.error(err);
    return sendError(reply, 500, 'internal', 'internal error');
  });
  // Cross-origin isolation, so the page may use SharedArrayBuffer and so run onnxruntime-web on
  // several threads. Everything the page loads comes from this server, so nothing is blocked.
  app.addHook('onSend', async (_req, reply) => {
    reply.header('Cross-Origin-Opener-Policy', 'same-origin');
    reply.header('Cross-Origin-Embedder-Policy', 'require-corp');
  });
  app.setNotFoundHandler((req, reply) => sendError(reply, 404, 'not_found', `no route ${req.method} ${req.url}`));

  const modelInfo = {
    id: model.publicName,
    classes: model.classes,
    inputSize: model.config.inputSize,
    attention: model.config.head.attention,
    /** Softmax temperature fitted on validation (1 = none): the page divides its logits by it too. */
    temperature: model.config.head.temperature ?? 1,
    backbone: model.config.backbone.size,
    cut: model.config.cut,
    normalisation: 'ImageNet mean/std inside the model; input RGB 0..255, NHWC float32',
    /** How an image becomes the input (infer/processor.ts): the page resizes by it as Node does. */
    processor: processorFor(model.config),
    /** One line the page shows beside the predictions, when the model has one (ConvCutModel.notice). */
    notice: model.notice,
  };

  app.get('/healthz', async () => ({ status: 'ok', queue: batcher.pending }));
  // Ready: the model is loaded (buildServer is given a loaded one) and the server is not closing.
  app.get('/readyz', async (_req, reply) =>
    closing ? reply.code(503).send({ status: 'closing' }) : reply.send({ status: 'ready' }),
  );
  // Behind the API key when there is one: a 401 here tells the page to ask for the key.
  app.get('/v1/auth', async () => ({ status: 'ok' }));
  app.get('/v1/model', async () => modelInfo);
  app.get('/v1/model.onnx', async (_req, reply) => {
    return reply.type('application/octet-stream').send(Buffer.from(model.portableOnnx()));
  });

  async function readImage(req: FastifyRequest): Promise<Buffer> {
    const type = req.headers['content-type'] ?? '';
    if (type.startsWith('multipart/form-data')) {
      try {
        const file = await req.file();
        if (!file)
          throw new HttpError(400, 'missing_image', 'multipart request has no file; send the image in a field named "image"');
        if (file.fieldname !== 'image')
          throw new HttpError(400, 'missing_image', `expected the file in field "image", got "${file.fieldname}"`);
        const buf = await file.toBuffer();
        if (file.file.truncated) throw new HttpError(413, 'body_too_large', `image is larger than ${bodyLimit} bytes`);
        return buf;
      } catch (e) {
        // The multipart parser's own errors (a body cut off before its closing boundary, …) carry no
        // HTTP status; they are the client's malformed body, not a server fault (found by fuzzing).
        const err = e as Error & { statusCode?: number; code?: string };
        if (e instanceof HttpError || err.statusCode || err.code?.startsWith('FST_')) throw e;
        throw new HttpError(400, 'malformed_multipart', `multipart body could not be read: ${err.message}`);
      }
    }
    if (!/^(image\/|application\/octet-stream)/.test(type)) {
      throw new HttpError(
        415,
        'unsupported_media_type',
        `content type "${type || 'none'}": send multipart/form-data with an "image" file, or the image itself (image/jpeg, image/png, …)`,
      );
    }
    if (!Buffer.isBuffer(req.body) || !req.body.length) throw new HttpError(400, 'missing_image', 'empty body: send an image');
    return req.body;
  }

  /** Reads the header once: refuses non-images and oversized images, returns the metadata. */
  async function checkHeader(buf: Buffer): Promise<Metadata> {
    let meta;
    try {
      // Header only, no pixel limit here: the size check below answers with a clear 413.
      meta = await sharp(buf, { limitInputPixels: false }).metadata();
    } catch (e) {
      throw new HttpError(422, 'not_an_image', `cannot read the image (${(e as Error).message.split('\n')[0]})`);
    }
    const px = (meta.width ?? 0) * (meta.height ?? 0);
    if (px > maxPixels)
      throw new HttpError(
        413,
        'image_too_large',
        `image is ${meta.width}×${meta.height} = ${px} pixels; the limit is ${maxPixels}`,
      );
    return meta;
  }

  app.post('/v1/predict', async (req, reply) => {
    const t0 = performance.now();
    // The timer is cleared as soon as the request is answered: a pending timer keeps its closure's
    // scope (this request and its body) alive for the whole limit — a flood of bad images held
    // ~30 s of requests (≈ 1 GB) in memory.
    let timer: NodeJS.Timeout | undefined;
    // Aborted at the time limit: a face detection still waiting for its turn then never runs.
    const ac = new AbortController();
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const e = new HttpError(503, 'timeout', `request took longer than ${timeout} ms`);
        ac.abort(e);
        reject(e);
      }, timeout);
      timer.unref();
    });
    const work = (async () => {
      const { k, wantFaces } = parseQuery(
        req.query as Record<string, string | undefined>,
        model.classes.length,
        o.topK ?? DEFAULTS.topK,
      );
      const buf = await readImage(req);
      const meta = await checkHeader(buf);
      let crops: { box: { x: number; y: number; width: number; height: number; score?: number }; image: DecodedImage }[];
      if (wantFaces) {
        const { detectFaces } = await import('../infer/faces.js');
        // A few at once: each decodes its photo whole (a 40-megapixel one is ~120 MB of RGB, more as tensors).
        const release = await faceLimiter.acquire(ac.signal);
        const faces = await detectFaces(buf, model.config.inputSize)
          .catch((e: Error) => {
            throw new HttpError(422, 'not_an_image', `cannot read the image (${e.message.split('\n')[0]})`);
          })
          .finally(release);
        crops = faces.map((f) => ({ box: f.box, image: f.aligned }));
      } else {
        const image = await decodeImage(buf, model.config.inputSize).catch((e: Error) => {
          throw new HttpError(422, 'not_an_image', e.message.replace('<buffer>: ', ''));
        });
        crops = [
          {
            box: {
              x: 0,
              y: 0,
              width: meta.autoOrient?.width ?? meta.width ?? 0,
              height: meta.autoOrient?.height ?? meta.height ?? 0,
            },
            image,
          },
        ];
      }
      const results = await Promise.all(
        crops.map(async (c) => {
          const { label, score, top } = await batcher.predict(c.image, k);
          return { box: c.box, label, score, top };
        }),
      );
      return { model: model.publicName, faces: results, timing: { total_ms: Math.round((performance.now() - t0) * 10) / 10 } };
    })();
    try {
      return reply.send(await Promise.race([work, deadline]));
    } finally {
      clearTimeout(timer);
    }
  });

  registerVideoRoute(app, model, { maxPixels, ...o.video });
  registerFaceGraphs(app);

  const webDir = o.webDir ?? DEFAULT_WEB_DIR;
  if (existsSync(path.join(webDir, 'index.html'))) {
    // The built page, onnxruntime-web's wasm included: the page works offline.
    await app.register(fastifyStatic, { root: webDir, prefix: '/' });
  } else {
    app.get('/', async (_req, reply) =>
      reply
        .type('text/plain')
        .send(
          'convcut server: the web page is not built (npm run build:web). API: POST /v1/predict, GET /v1/model, GET /healthz\n',
        ),
    );
  }
  return app;
}
