/**
 * The whole Conv-cut network: ImageNet normalisation → ConvNeXt cut → head.
 * Every engine runs the network through these functions; nothing else describes it.
 */
import type { ConvCutConfig } from './config.js';
import { backboneUnits, runUnits, type BackboneUnit } from './convnext.js';
import { headEmbedding, headLogits } from './head.js';
import type { Ops } from './ops.js';

export function convcutBackbone(cfg: ConvCutConfig): BackboneUnit[] {
  return backboneUnits(cfg.backbone, cfg.cut, cfg.normalisation);
}

export interface ConvCutOutputs<T> {
  features: T;
  embedding: T;
  logits: T;
}

/** Images (N, S, S, 3), RGB 0..255 → cut features, embedding and logits. */
export function convcutForward<T>(ops: Ops<T>, images: T, cfg: ConvCutConfig): ConvCutOutputs<T> {
  const features = runUnits(ops, images, convcutBackbone(cfg));
  return { features, ...convcutHead(ops, features, cfg) };
}

/** Cut features → embedding and logits (what trains on cached features). */
export function convcutHead<T>(ops: Ops<T>, features: T, cfg: ConvCutConfig): Omit<ConvCutOutputs<T>, 'features'> {
  const embedding = headEmbedding(ops, features, cfg.head);
  return { embedding, logits: headLogits(ops, embedding, cfg.head) };
}
