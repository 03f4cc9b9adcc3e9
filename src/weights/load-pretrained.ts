/**
 * Load ImageNet ConvNeXt weights for a Conv-cut backbone from any supported file, detecting the
 * format from its contents: Keras `.h5`, timm safetensors, torchvision safetensors.
 * Parameters after the cut are dropped; missing, unexpected or mis-shaped ones are errors.
 */
import { promises as fs } from 'node:fs';
import type { ParamSpec } from '../model/ops.js';
import { mapKerasWeight, mapTimmKey, mapTorchvisionKey, type Mapped } from '../model/convnext-pretrained.js';
import { isHdf5, readKerasH5 } from './keras-h5.js';
import { decodeSafetensors, isSafetensors } from './safetensors.js';
import { resolveWeights } from './sources.js';
import { checkWeights, WeightMismatchError, type WeightTensor, type Weights } from './weight-map.js';

export type PretrainedFormat = 'keras-h5' | 'timm' | 'torchvision';

export interface Pretrained {
  format: PretrainedFormat;
  weights: Weights;
  /** ConvNeXt parameters in the file that lie after the cut (or in its classifier). */
  dropped: number;
}

export async function readPretrainedEntries(
  file: string,
): Promise<{ format: PretrainedFormat; entries: { key: string; map: () => Mapped }[] }> {
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(file);
  } catch (e) {
    throw new Error(`${file}: cannot read weights (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
  }
  if (isHdf5(bytes)) {
    const ws = await readKerasH5(file);
    return {
      format: 'keras-h5',
      entries: ws.map((w) => ({ key: `${w.layer}/${w.weightName}`, map: () => mapKerasWeight(w.layer, w.weightName, w.tensor) })),
    };
  }
  if (isSafetensors(bytes)) {
    const { tensors } = decodeSafetensors(bytes, file);
    const keys = [...tensors.keys()];
    const format: PretrainedFormat = keys.some((k) => k.startsWith('features.')) ? 'torchvision' : 'timm';
    const mapper = format === 'torchvision' ? mapTorchvisionKey : mapTimmKey;
    return { format, entries: keys.map((k) => ({ key: k, map: () => mapper(k, tensors.get(k) as WeightTensor) })) };
  }
  if (bytes.length >= 8 && bytes[0] === 0x50 && bytes[1] === 0x4b) {
    throw new Error(`${file}: this looks like a PyTorch .pth/.pt (zip) file; save the state dict as safetensors first`);
  }
  throw new Error(`${file}: unknown weight format (expected a Keras .h5 or a timm/torchvision .safetensors file)`);
}

/**
 * Backbone weights for `specs` (the backbone's parameter list) from `source`: a file, or a name
 * sources.ts resolves (`imagenet` for a `backbone`-size model, `keras:…`, `hf:…`, a URL).
 */
export async function loadPretrained(
  source: string,
  specs: ParamSpec[],
  backbone = 'base',
): Promise<Pretrained & { file: string }> {
  const file = await resolveWeights(source, backbone);
  const { format, entries } = await readPretrainedEntries(file);
  const wanted = new Set(specs.map((s) => s.name));
  const weights: Weights = new Map();
  const unexpected: string[] = [];
  let dropped = 0;
  let convnextKeys = 0;
  for (const e of entries) {
    const m = e.map();
    if (m === undefined) unexpected.push(e.key);
    else if (m === 'skip') convnextKeys++;
    else {
      convnextKeys++;
      if (wanted.has(m.name)) weights.set(m.name, m.tensor);
      else dropped++;
    }
  }
  if (convnextKeys === 0) {
    throw new Error(
      `${file}: no ConvNeXt weights found in this ${format} file (first keys: ${
        entries
          .slice(0, 3)
          .map((e) => e.key)
          .join(', ') || 'none'
      })`,
    );
  }
  if (unexpected.length) throw new WeightMismatchError(`${file} (${format})`, [], unexpected, []);
  checkWeights(specs, weights, `${file} (${format})`);
  return { format, weights, dropped, file };
}
