/**
 * The Conv-cut head on the cut features, as the reference code builds it:
 * [Detail Extraction Block] → [LayerNorm] → SpatialDropout2D → global average pool → Dropout →
 * Dense(32, ReLU) → BatchNorm → [batch attention] → Dropout → Dense(classes).
 * With `token` attention the attention sits before pooling instead (see attention.ts).
 * The output is logits; softmax is applied by the caller (loss or prediction).
 */
import type { HeadConfig } from './config.js';
import { batchAttention, tokenAttention } from './attention.js';
import { detailExtraction } from './detail.js';
import type { Ops } from './ops.js';

/** Keras BatchNormalization defaults. */
const BN_EPS = 1e-3;
const BN_MOMENTUM = 0.99;

/** Cut features (N, H, W, C) → the 32-d embedding (N, hidden) that t-SNE plots show. */
export function headEmbedding<T>(ops: Ops<T>, features: T, cfg: HeadConfig): T {
  let x = cfg.detailBlock ? detailExtraction(ops, features, cfg.detailFilters) : features;
  if (cfg.layerNorm) x = ops.layerNorm(x, 'head.norm', 1e-6);
  if (cfg.attention === 'token') x = tokenAttention(ops, x);
  x = ops.spatialDropout(x, cfg.dropout);
  x = ops.globalAvgPool(x);
  x = ops.dropout(x, cfg.dropout);
  const c = ops.shape(x)[1]!;
  x = ops.relu(ops.dense(x, 'head.fc', cfg.hidden, { init: { kind: 'glorot', fanIn: c, fanOut: cfg.hidden } }));
  x = ops.batchNorm(x, 'head.bn', BN_EPS, BN_MOMENTUM);
  if (cfg.attention === 'batch') x = batchAttention(ops, x);
  return x;
}

/** Embedding → class logits. */
export function headLogits<T>(ops: Ops<T>, embedding: T, cfg: HeadConfig): T {
  const x = ops.dropout(embedding, cfg.dropout);
  const n = cfg.classes.length;
  return ops.dense(x, 'head.classifier', n, { init: { kind: 'glorot', fanIn: cfg.hidden, fanOut: n } });
}
