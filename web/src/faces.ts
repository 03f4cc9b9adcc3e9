/**
 * Faces in the browser, found by the server's own pipeline (src/infer/face-pipeline.ts) on the same
 * ONNX graphs, run by onnxruntime-web: face-api's SSD detector with its 68 landmarks, each detection
 * confirmed by its Tiny Face Detector, then aligned like RAF-DB. This file brings only the sessions;
 * the graphs come from the convcut server (/v1/faces/, face-graphs-route.ts) when faces are first
 * asked for.
 */
import { ort } from './main.js';
import { DEFAULTS } from '../../src/defaults.js';
import { alignFaces, CONFIRM, type DetectedFace } from '../../src/infer/face-align.js';
import { findFaces as findWith, type FaceRunners } from '../../src/infer/face-pipeline.js';
import { cropLandmarks, tinyFaces } from '../../src/infer/face-post.js';
import { cropBatch, ssdPixels, toSquare, type RgbImage } from '../../src/infer/face-pre.js';
import { FEATURE_INPUT } from '../../src/model/face-features.js';
import { decodeBoxes, ssdFaces, SSD_SIZE } from '../../src/model/face-ssd.js';
import { TINY_INPUT } from '../../src/model/face-tiny.js';

/** fetch() for the API (the page's, which adds the API key). */
export type ApiFetch = (url: string) => Promise<Response>;

interface FaceNets {
  ssd: ort.InferenceSession;
  anchors: Float32Array;
  /** The Tiny Face Detector by input size (CONFIRM's two). */
  tiny: Map<number, ort.InferenceSession>;
  landmarks: ort.InferenceSession;
}
let nets: Promise<FaceNets> | undefined;

/**
 * The three networks, loaded once, on the provider the page's model got (`body[data-provider]`):
 * WebGPU, with wasm for what it lacks, or wasm alone.
 */
function faceNets(api: ApiFetch): Promise<FaceNets> {
  nets ??= (async () => {
    const get = async (name: string) => {
      const r = await api(`/v1/faces/${name}`);
      if (!r.ok) throw new Error(`face networks: /v1/faces/${name} answered HTTP ${r.status}`);
      return new Uint8Array(await r.arrayBuffer());
    };
    const executionProviders = document.body.dataset.provider === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm'];
    const sizes = [CONFIRM.inputSize, CONFIRM.largeInputSize];
    const [ssd, anchors, landmarks, ...tiny] = await Promise.all(
      ['ssd.onnx', 'ssd-anchors.f32', 'landmarks.onnx', ...sizes.map((s) => `tiny-${s}.onnx`)].map(get),
    );
    // Not ORT's warning that shape arithmetic runs on the CPU (wasm) provider under WebGPU: it does that on
    // purpose, and the warning reaches the console as an error.
    const session = (bytes: Uint8Array) => ort.InferenceSession.create(bytes, { executionProviders, logSeverityLevel: 3 });
    return {
      ssd: await session(ssd!),
      // Little-endian float32, as every browser's typed arrays are.
      anchors: new Float32Array(anchors!.buffer, anchors!.byteOffset, anchors!.byteLength / 4),
      tiny: new Map(await Promise.all(sizes.map(async (s, i) => [s, await session(tiny[i]!)] as const))),
      landmarks: await session(landmarks!),
    };
  })();
  nets.catch(() => (nets = undefined)); // a failed load is tried again
  return nets;
}

/** One output of a run, read back to the CPU. */
async function output(out: ort.InferenceSession.OnnxValueMapType, name: string): Promise<Float32Array> {
  return (await out[name]!.getData()) as Float32Array;
}

/** One image in, its outputs out. */
function run(s: ort.InferenceSession, data: Float32Array, shape: number[]) {
  return s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', data, shape) });
}

/** The picture's pixels as RGB bytes, as the canvas decodes them. */
function rgbOf(src: CanvasImageSource, w: number, h: number): RgbImage {
  const g = new OffscreenCanvas(w, h).getContext('2d')!;
  g.drawImage(src, 0, 0, w, h);
  const px = g.getImageData(0, 0, w, h).data;
  const data = new Uint8Array(w * h * 3);
  for (let i = 0, j = 0; i < data.length; i += 3, j += 4) {
    data[i] = px[j]!;
    data[i + 1] = px[j + 1]!;
    data[i + 2] = px[j + 2]!;
  }
  return { data, width: w, height: h };
}

/** The pipeline's networks on this page's sessions. */
function runners(n: FaceNets): FaceRunners {
  return {
    async ssd(frame, o) {
      const out = await run(n.ssd, ssdPixels(frame), [1, SSD_SIZE, SSD_SIZE, 3]);
      const boxes = decodeBoxes(await output(out, 'encodings'), n.anchors);
      return ssdFaces(boxes, await output(out, 'scores'), frame.width, frame.height, o);
    },
    async tiny(frame, o) {
      const s = o.inputSize;
      const grid = await output(await run(n.tiny.get(s)!, toSquare(frame, { ...TINY_INPUT, size: s }), [1, s, s, 3]), 'grid');
      return tinyFaces(grid, s / 32, frame, o);
    },
    async landmarks(crops) {
      const s = FEATURE_INPUT.size;
      return cropLandmarks(await output(await run(n.landmarks, cropBatch(crops), [crops.length, s, s, 3]), 'out'), crops);
    },
  };
}

/** Every face in the picture, aligned into `size`×`size` crops, left to right. */
export async function findFaces(
  src: CanvasImageSource,
  w: number,
  h: number,
  size: number,
  api: ApiFetch = fetch,
): Promise<DetectedFace[]> {
  const frame = rgbOf(src, w, h);
  const found = await findWith(runners(await faceNets(api)), frame, {
    minConfidence: DEFAULTS.faceMinConfidence,
    maxFaces: DEFAULTS.maxFaces,
  });
  return alignFaces(frame, found, size);
}

/** Starts fetching and loading the networks (when faces are first wanted), so the first photo waits less. */
export function preloadFaces(api: ApiFetch): void {
  void faceNets(api).catch(() => {}); // a failure is reported by the findFaces that needs them
}
