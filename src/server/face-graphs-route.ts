/**
 * The face networks the web page runs (web/src/faces.ts), as the ONNX graphs this server runs
 * itself: `GET /v1/faces/ssd.onnx` (SSD, 512 × 512 input), `/v1/faces/ssd-anchors.f32` (its
 * 5118 anchors, [y1, x1, y2, x2] as little-endian float32: the box encodings are decoded against
 * them in TypeScript), `/v1/faces/tiny-<size>.onnx` (the Tiny Face Detector at the two sizes the
 * confirmation runs, CONFIRM.inputSize and CONFIRM.largeInputSize) and `/v1/faces/landmarks.onnx` (68 landmarks, 112×112 crops). Built from
 * face-api's weights (its npm package) when first asked for, then kept in memory (≈ 13 MB in all).
 * Under /v1, so the API key applies.
 */
import type { FastifyInstance } from 'fastify';
import { CONFIRM } from '../infer/face-align.js';

/** The files the page fetches, by name under /v1/faces/. */
export const FACE_GRAPHS = [
  'ssd.onnx',
  'ssd-anchors.f32',
  `tiny-${CONFIRM.inputSize}.onnx`,
  `tiny-${CONFIRM.largeInputSize}.onnx`,
  'landmarks.onnx',
] as const;
type GraphName = (typeof FACE_GRAPHS)[number];
let graphs: Promise<Record<GraphName, Uint8Array>> | undefined;

/** Every file, built once per process (a failed build is tried again on the next request). */
function faceGraphs(): Promise<Record<GraphName, Uint8Array>> {
  graphs ??= (async () => {
    const [{ ssdGraph }, { landmarkGraph, tinyGraph, TinyDetector }] = await Promise.all([
      import('../infer/face-ssd-detector.js'),
      import('../infer/face-nets.js'),
    ]);
    const [ssd, tinyWeights, landmarks] = await Promise.all([ssdGraph(), TinyDetector.weights(), landmarkGraph()]);
    const anchors = new Uint8Array(ssd.anchors.length * 4);
    const view = new DataView(anchors.buffer);
    ssd.anchors.forEach((v, i) => view.setFloat32(4 * i, v, true));
    return {
      'ssd.onnx': ssd.graph,
      'ssd-anchors.f32': anchors,
      [`tiny-${CONFIRM.inputSize}.onnx`]: tinyGraph(tinyWeights, CONFIRM.inputSize),
      [`tiny-${CONFIRM.largeInputSize}.onnx`]: tinyGraph(tinyWeights, CONFIRM.largeInputSize),
      'landmarks.onnx': landmarks,
    };
  })();
  graphs.catch(() => (graphs = undefined));
  return graphs;
}

export function registerFaceGraphs(app: FastifyInstance): void {
  for (const name of FACE_GRAPHS)
    app.get(`/v1/faces/${name}`, async (_req, reply) => {
      const bytes = (await faceGraphs())[name]!;
      return reply.type('application/octet-stream').send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    });
}
