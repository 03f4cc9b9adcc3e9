/**
 * Keras legacy HDF5 weights (`model.save_weights('x.h5')` and the files keras.applications ships):
 * the root (or `model_weights/` in a full-model save) has attribute `layer_names`; each layer group
 * has attribute `weight_names`, paths relative to that group (nested for Sequential sub-models such
 * as ConvNeXt's stem, e.g. `convnext_base_stem_conv/kernel:0`). We follow those attributes rather
 * than hard-coding dataset paths.
 */
import h5wasm from 'h5wasm/node';
import type { WeightTensor } from './weight-map.js';

export interface KerasWeight {
  layer: string;
  weightName: string;
  tensor: WeightTensor;
}

const HDF5_MAGIC = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
export const isHdf5 = (bytes: Uint8Array): boolean => HDF5_MAGIC.every((b, i) => bytes[i] === b);

function strings(v: unknown): string[] {
  const arr = Array.isArray(v) ? v : [v];
  return arr.map((s) => (typeof s === 'string' ? s : new TextDecoder().decode(s as Uint8Array)));
}

/**
 * A string-list attribute as Keras writes it: whole, or (over 64512 bytes) split into `<name>0`,
 * `<name>1`, … (hdf5_format.save_attributes_to_hdf5_group). Undefined when absent.
 */
function listAttr(g: InstanceType<typeof h5wasm.Group>, name: string): string[] | undefined {
  if (name in g.attrs) return strings(g.attrs[name]!.value);
  const parts: string[] = [];
  for (let i = 0; `${name}${i}` in g.attrs; i++) parts.push(...strings(g.attrs[`${name}${i}`]!.value));
  return parts.length ? parts : undefined;
}

export async function readKerasH5(file: string): Promise<KerasWeight[]> {
  await h5wasm.ready;
  let f: InstanceType<typeof h5wasm.File>;
  try {
    f = new h5wasm.File(file, 'r');
  } catch (e) {
    throw new Error(`${file}: cannot open as HDF5 (${(e as Error).message})`, { cause: e });
  }
  try {
    let root: InstanceType<typeof h5wasm.Group> = f;
    let layers = listAttr(f, 'layer_names');
    if (!layers) {
      const mw = f.get('model_weights');
      if (mw instanceof h5wasm.Group) layers = listAttr((root = mw), 'layer_names');
      if (!layers)
        throw new Error(`${file}: not a Keras weight file (no "layer_names" attribute at the root or in model_weights/)`);
    }
    const out: KerasWeight[] = [];
    for (const layer of layers) {
      const g = root.get(layer);
      if (!(g instanceof h5wasm.Group)) throw new Error(`${file}: layer_names lists "${layer}" but there is no such group`);
      const names = (listAttr(g, 'weight_names') ?? []).filter(Boolean);
      for (const weightName of names) {
        const d = g.get(weightName);
        if (!(d instanceof h5wasm.Dataset))
          throw new Error(`${file}: ${layer} lists weight "${weightName}" but the dataset is missing`);
        const value = d.value;
        if (!(value instanceof Float32Array || value instanceof Float64Array)) {
          throw new Error(`${file}: ${layer}/${weightName} is not a float dataset`);
        }
        out.push({ layer, weightName, tensor: { shape: [...(d.shape ?? [])], data: Float32Array.from(value) } });
      }
    }
    return out;
  } finally {
    f.close();
  }
}

/** Write a Keras-layout weight file (tests and converters). */
export async function writeKerasH5(
  file: string,
  layers: { layer: string; weights: { name: string; tensor: WeightTensor }[] }[],
): Promise<void> {
  await h5wasm.ready;
  const f = new h5wasm.File(file, 'w');
  try {
    f.create_attribute(
      'layer_names',
      layers.map((l) => l.layer),
    );
    f.create_attribute('backend', 'tensorflow');
    f.create_attribute('keras_version', '2.10.0');
    for (const l of layers) {
      const g = f.create_group(l.layer);
      g.create_attribute('weight_names', l.weights.length ? l.weights.map((w) => w.name) : ['']);
      for (const w of l.weights) {
        const parts = w.name.split('/');
        let parent = g;
        for (const p of parts.slice(0, -1)) parent = (parent.get(p) as typeof g | null) ?? parent.create_group(p);
        parent.create_dataset({ name: parts[parts.length - 1]!, data: w.tensor.data, shape: w.tensor.shape, dtype: '<f' });
      }
    }
  } finally {
    f.close();
  }
}
