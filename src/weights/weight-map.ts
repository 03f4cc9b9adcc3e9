/**
 * Weights in memory: parameter name → channels-last float32 tensor. Loaders (Keras h5, timm,
 * torchvision, checkpoints) all produce this, and both engines consume it.
 */
import type { Init, ParamSpec } from '../model/ops.js';
import { Rng } from '../util/rng.js';

export interface WeightTensor {
  shape: number[];
  data: Float32Array;
  /** Where `data` lies, as little-endian float32, in a file on disk (lazily read safetensors). */
  source?: { file: string; offset: number };
}
export type Weights = Map<string, WeightTensor>;

export const numel = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

function fill(init: Init, n: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  switch (init.kind) {
    case 'zeros':
      break;
    case 'ones':
      out.fill(1);
      break;
    case 'const':
      out.fill(init.value);
      break;
    case 'truncnormal':
      for (let i = 0; i < n; i++) {
        let v: number;
        do v = rng.normal();
        while (Math.abs(v) > 2);
        out[i] = v * init.std;
      }
      break;
    case 'glorot': {
      const lim = Math.sqrt(6 / (init.fanIn + init.fanOut));
      for (let i = 0; i < n; i++) out[i] = rng.uniform(-lim, lim);
      break;
    }
  }
  return out;
}

/** Fresh weights for `specs`, seeded. */
export function initWeights(specs: ParamSpec[], seed: number): Weights {
  const rng = new Rng(seed);
  const w: Weights = new Map();
  for (const s of specs) w.set(s.name, { shape: [...s.shape], data: fill(s.init, numel(s.shape), rng) });
  return w;
}

export class WeightMismatchError extends Error {
  constructor(
    readonly source: string,
    readonly missing: string[],
    readonly unexpected: string[],
    readonly shapeErrors: string[],
  ) {
    const list = (title: string, items: string[]) =>
      items.length ? `\n  ${title} (${items.length}): ${items.slice(0, 8).join(', ')}${items.length > 8 ? ', …' : ''}` : '';
    super(
      `${source}: weights do not fit the model` +
        list('missing', missing) +
        list('unexpected', unexpected) +
        list('wrong shape', shapeErrors),
    );
    this.name = 'WeightMismatchError';
  }
}

/**
 * Check `weights` against `specs`. `partial` allows missing parameters (e.g. a backbone-only file
 * for a full model); unexpected names and shape mismatches always fail.
 */
export function checkWeights(specs: ParamSpec[], weights: Weights, source: string, partial = false): void {
  const names = new Set(specs.map((s) => s.name));
  const missing = partial ? [] : specs.filter((s) => !weights.has(s.name)).map((s) => s.name);
  const unexpected = [...weights.keys()].filter((k) => !names.has(k));
  const shapeErrors: string[] = [];
  for (const s of specs) {
    const w = weights.get(s.name);
    if (w && w.shape.join(',') !== s.shape.join(',')) {
      shapeErrors.push(`${s.name} is [${w.shape}] but the model needs [${s.shape}]`);
    }
  }
  if (missing.length || unexpected.length || shapeErrors.length) {
    throw new WeightMismatchError(source, missing, unexpected, shapeErrors);
  }
}

/** Weights for `specs`: those in `loaded`, the rest freshly initialised (seeded). */
export function completeWeights(specs: ParamSpec[], loaded: Weights, seed: number): Weights {
  const fresh = initWeights(
    specs.filter((s) => !loaded.has(s.name)),
    seed,
  );
  const out: Weights = new Map();
  for (const s of specs) out.set(s.name, (loaded.get(s.name) ?? fresh.get(s.name))!);
  return out;
}

/** Reorder a row-major array of `shape` by axis permutation `perm` (like numpy.transpose). */
export function transposeData(data: Float32Array, shape: number[], perm: number[]): WeightTensor {
  const outShape = perm.map((p) => shape[p]!);
  const r = shape.length;
  const inStrides = new Array<number>(r);
  let s = 1;
  for (let i = r - 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= shape[i]!;
  }
  const stride = perm.map((p) => inStrides[p]!);
  const out = new Float32Array(data.length);
  const idx = new Array<number>(r).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let i = 0; i < r; i++) src += idx[i]! * stride[i]!;
    out[o] = data[src]!;
    for (let i = r - 1; i >= 0; i--) {
      if (++idx[i]! < outShape[i]!) break;
      idx[i] = 0;
    }
  }
  return { shape: outShape, data: out };
}
