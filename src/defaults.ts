/**
 * Every default a caller can override, in one place: the CLI's option defaults, the library's and
 * the server's read them from here, so `convcut predict --help`, `model.predict()` and `convcut
 * serve` cannot drift apart. Plain values, no imports: the web page may bundle it.
 */
export const DEFAULTS = {
  /** Square side of a new model's input (ImageNet ConvNeXt's and the paper's 224). */
  inputSize: 224,
  /** Classes listed per prediction. */
  topK: 3,
  /** Images per ONNX Runtime call at inference: predict, features, the library, the server's batches. */
  inferenceBatch: 8,
  /** Images per ONNX Runtime call in `eval` (a speed knob only: results do not depend on it). */
  evalBatch: 16,
  /** Training batch size. */
  trainBatch: 16,
  /** Images decoded at once (sharp on libuv's threads): 4 kept two cores busiest (bench/decode.ts). */
  decodeConcurrency: 4,
  /** Faces: the SSD detector's score threshold, and the most faces kept per photo. */
  faceMinConfidence: 0.5,
  maxFaces: 50,
  /** `convcut serve` / buildServer limits. */
  server: {
    port: 8080,
    /** Largest request body, bytes. */
    bodyLimit: 10 * 1024 * 1024,
    /** Largest image, pixels, read from its header before decoding. */
    maxPixels: 40_000_000,
    /** Per-request time limit, ms; past it the request gets 503. */
    requestTimeoutMs: 30_000,
    /** Requests waiting for inference before new ones get 503. */
    maxQueue: 64,
    /** Requests run in one ONNX Runtime call. */
    maxBatch: 8,
    /** Face detections (`/v1/predict?faces=1`) run at once, and how many more may wait; past that, 503. */
    maxFaceDetections: 2,
    faceQueue: 4,
    /** `/v1/predict-video`: the whole upload must arrive within this (ms), else 408. */
    uploadDeadlineMs: 60_000,
    /** Video uploads arriving at once (one video is analysed at a time); past that, 503. */
    maxUploads: 4,
    /** Largest video upload, bytes. */
    videoMaxBytes: 200 * 1024 * 1024,
    /** Longest video analysed, seconds. */
    videoMaxSeconds: 300,
    /** Most frames analysed per video (300 s at 30 fps), and the highest rate analysed (frames/s). */
    videoMaxFrames: 9000,
    videoMaxFps: 30,
  },
} as const;
