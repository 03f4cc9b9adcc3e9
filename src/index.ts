/** convcut's library API. */
export { loadModel, ConvCutModel, type ImageInput } from './infer/convcut-model.js';
export { classify, classifyLogits, softmaxRows, type Prediction } from './infer/classify.js';
export { BackboneRunner } from './infer/features.js';
export {
  makeConfig,
  parseCut,
  cutName,
  backboneConfig,
  RAFDB_CLASSES,
  FERPLUS_CLASSES,
  IMAGENET_NORMALISATION,
  type ConvCutConfig,
  type ConvCutOptions,
  type AttentionMode,
  type CutPoint,
} from './model/config.js';
export { describeConvCut, describeBackbone, paramSpecs } from './engine/describe.js';
export { exportOnnx, type GraphPart } from './engine/onnx-export.js';
export { loadPretrained } from './weights/load-pretrained.js';
export { saveCheckpoint, loadCheckpoint, type Checkpoint } from './weights/checkpoint.js';
export { initWeights, type Weights } from './weights/weight-map.js';
export { decodeImage } from './data/image.js';
export { predictVideo, type FrameResult, type VideoOptions } from './infer/video/predict-video.js';
export { summarise, type TrackSummary, type VideoRow } from './infer/video/summary.js';
