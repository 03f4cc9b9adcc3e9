/**
 * Faces in the browser, as the server finds them: face-api's SSD detector with landmarks, each
 * detection confirmed by its Tiny Face Detector, then aligned like RAF-DB (the same code as Node:
 * src/infer/face-align.ts). face-api and its models load only when faces are first asked for; the
 * models come from the convcut server (/models/face-api/), never from a CDN.
 */
import type { DecodedImage } from '../../src/data/image.js';
import { alignFaces, CONFIRM, confirmed, type DetectedFace } from '../../src/infer/face-align.js';

type FaceApi = typeof import('@vladmandic/face-api');
let loading: Promise<FaceApi> | undefined;

function faceApi(): Promise<FaceApi> {
  loading ??= (async () => {
    const f = await import('@vladmandic/face-api');
    // Its typings leave out tfjs' backend API, which the bundle has.
    const tf = f.tf as unknown as { setBackend(name: string): Promise<boolean>; ready(): Promise<void> };
    // WebGL when the browser has it; otherwise the CPU backend (tfjs' wasm would fetch its binary from a CDN).
    if (!(await tf.setBackend('webgl').catch(() => false))) await tf.setBackend('cpu');
    await tf.ready();
    const uri = '/models/face-api';
    await Promise.all([
      f.nets.ssdMobilenetv1.loadFromUri(uri),
      f.nets.tinyFaceDetector.loadFromUri(uri),
      f.nets.faceLandmark68Net.loadFromUri(uri),
    ]);
    return f;
  })();
  return loading;
}

/** Every face in the picture, aligned into `size`×`size` crops, left to right. */
export async function findFaces(src: CanvasImageSource, w: number, h: number, size: number): Promise<DetectedFace[]> {
  const f = await faceApi();
  const c = new OffscreenCanvas(w, h);
  const g = c.getContext('2d')!;
  g.drawImage(src, 0, 0, w, h);
  const px = g.getImageData(0, 0, w, h).data;
  const rgb = new Int32Array(w * h * 3);
  for (let i = 0; i < w * h; i++) for (let k = 0; k < 3; k++) rgb[i * 3 + k] = px[i * 4 + k]!;
  const photo: DecodedImage = { data: Float32Array.from(rgb), width: w, height: h };
  const t = f.tf.tensor3d(rgb, [h, w, 3], 'int32');
  try {
    let found = await f
      .detectAllFaces(t, new f.SsdMobilenetv1Options({ minConfidence: 0.5, maxResults: 50 }))
      .withFaceLandmarks();
    if (found.length) {
      const second = await f.detectAllFaces(t, new f.TinyFaceDetectorOptions(CONFIRM));
      found = confirmed(
        found,
        second.map((d) => d.box),
      ) as typeof found;
    }
    return alignFaces(photo, found, size);
  } finally {
    t.dispose();
  }
}
