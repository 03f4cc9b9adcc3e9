/**
 * Where weights and models come from, by name: what `--weights` and `-m` accept besides a local path.
 *
 * - `imagenet`: the ImageNet ConvNeXt the reference code loads (Keras' ConvNeXt weights are
 *   Facebook's checkpoints converted): for base, large and xlarge the ImageNet-22k → 1k fine-tuned
 *   224 px checkpoint, for tiny and small the ImageNet-1k one — here from timm's Hub copies.
 * - `keras:convnext_<size>`: the exact `convnext_<size>_notop.h5` Keras' applications download
 *   (pinned sha256; a copy already in Keras' own cache, ~/.keras/models, is used when it matches).
 * - `hf:<org>/<repo>[@revision][/<file>]`: any Hub repo (hub.ts); without a file, the repo's
 *   `model.safetensors` (timm's convention) or its only weight file.
 * - `https://…`: any URL, downloaded once into convcut's cache.
 *
 * `CONVCUT_KERAS_URL` points `keras:` at a mirror of Keras' folder. convcut's own cache (URLs and `keras:` files): `$CONVCUT_CACHE`, else `$XDG_CACHE_HOME/convcut`,
 * else ~/.cache/convcut — beside the Hub's cache, which it shares with Python.
 */
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { download, exists, sha256File } from './download.js';
import { cachedHubFile, hubCacheDir, hubFile, listHubFiles, parseHubRef, type HubRef } from './hub.js';
import { insideDir, unsafePathReason } from './safe-path.js';

export interface CatalogEntry {
  name: string;
  backbone: string;
  source: string;
  /** Approximate download size (float32 parameters of the whole ConvNeXt). */
  approxBytes: number;
  licence: string;
  what: string;
}

const KERAS_URL = 'https://storage.googleapis.com/tensorflow/keras-applications/convnext/';
/** keras/applications/convnext.py WEIGHTS_HASHES (notop). */
const KERAS_NOTOP_SHA256: Record<string, string> = {
  tiny: 'd547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1',
  small: '6fc8009faa2f00c1c1dfce59feea9b0745eb260a7dd11bee65c8e20843da6eab',
  base: '40a20c5548a5e9202f69735ecc06c990e6b7c9d2de39f0361e27baeb24cb7c45',
  large: '96f02b6f0753d4f543261bc9d09bed650f24dd6bc02ddde3066135b63d23a1cd',
  xlarge: 'de3f8a54174130e0cecdc71583354753d557fcf1f4487331558e2a16ba0cfe05',
};
/** Parameters of the whole ConvNeXt (with its classifier), in millions. */
const PARAMS_M: Record<string, number> = { tiny: 28.6, small: 50.2, base: 88.6, large: 197.8, xlarge: 350.2 };
const IN22K = new Set(['base', 'large', 'xlarge']);
const FB = "Facebook's ConvNeXt (facebookresearch/ConvNeXt, MIT)";

/** The table `convcut weights list` prints; the one place the names are defined. */
export const CATALOG: CatalogEntry[] = Object.keys(KERAS_NOTOP_SHA256).flatMap((size) => {
  const data = IN22K.has(size) ? 'ImageNet-22k → 1k, 224 px' : 'ImageNet-1k, 224 px';
  const bytes = PARAMS_M[size]! * 4e6;
  return [
    {
      name: `imagenet (--backbone ${size})`,
      backbone: size,
      source: `hf:${imagenetRepo(size)}/model.safetensors`,
      approxBytes: bytes,
      licence: `apache-2.0 (timm model card); weights: ${FB}`,
      what: data,
    },
    {
      name: `keras:convnext_${size}`,
      backbone: size,
      source: `${KERAS_URL}convnext_${size}_notop.h5`,
      approxBytes: bytes,
      licence: `Apache-2.0 (Keras applications); weights: ${FB}`,
      what: `${data}, Keras' notop file (sha256 ${KERAS_NOTOP_SHA256[size]!.slice(0, 12)}…)`,
    },
  ];
});

function imagenetRepo(size: string): string {
  return `timm/convnext_${size}.${IN22K.has(size) ? 'fb_in22k_ft_in1k' : 'fb_in1k'}`;
}

export function convcutCacheDir(): string {
  if (process.env.CONVCUT_CACHE) return process.env.CONVCUT_CACHE;
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'convcut');
}

const isUrl = (s: string) => /^https?:\/\//i.test(s);

/** A name sources.ts resolves (imagenet, keras:…, hf:…, a URL), not a local path. */
export const isNamedSource = (s: string): boolean => s === 'imagenet' || /^(keras|hf):/.test(s) || isUrl(s);

/**
 * A local file for a `--weights` value (ImageNet ConvNeXt weights) for a `backbone`-size model;
 * downloads it into the cache on first use. A plain path is returned as it is.
 */
export async function resolveWeights(spec: string, backbone: string): Promise<string> {
  if (spec === 'imagenet') {
    if (!PARAMS_M[backbone])
      throw new Error(
        `--weights imagenet: no ImageNet weights for the ${backbone} backbone (there are for ${Object.keys(PARAMS_M).join(', ')})`,
      );
    return hubFile({ repo: imagenetRepo(backbone), revision: 'main', file: 'model.safetensors' });
  }
  const keras = /^keras:convnext_([a-z]+)$/.exec(spec);
  if (keras) return kerasFile(keras[1]!);
  if (spec.startsWith('keras:'))
    throw new Error(`--weights ${spec}: expected keras:convnext_<size> (${Object.keys(KERAS_NOTOP_SHA256).join(', ')})`);
  if (spec.startsWith('hf:')) return hubPick(parseHubRef(spec.slice(3)), ['model.safetensors'], /\.(safetensors|h5)$/);
  if (isUrl(spec)) return urlFile(spec);
  return spec;
}

/**
 * A local file for a `-m` value (a convcut checkpoint or exported ONNX model): without a file, a
 * Hub repo's `best.safetensors`, `model.safetensors` or its only `.onnx` / `.safetensors` file.
 */
export async function resolveModel(spec: string): Promise<string> {
  if (spec.startsWith('hf:'))
    return hubPick(parseHubRef(spec.slice(3)), ['best.safetensors', 'model.safetensors'], /\.(onnx|safetensors)$/);
  if (isUrl(spec)) return urlFile(spec);
  return spec;
}

async function hubPick(ref: HubRef, preferred: string[], pattern: RegExp): Promise<string> {
  if (ref.file) return hubFile({ ...ref, file: ref.file });
  const files = await listHubFiles(ref);
  const pick = preferred.find((f) => files.includes(f)) ?? onlyOne(files.filter((f) => pattern.test(f)));
  if (!pick) throw new Error(`hf:${ref.repo}: name the file (hf:${ref.repo}/<file>); it has: ${files.join(', ') || 'no files'}`);
  return hubFile({ ...ref, file: pick });
}
const onlyOne = (xs: string[]) => (xs.length === 1 ? xs[0] : undefined);

async function kerasFile(size: string): Promise<string> {
  const sha256 = KERAS_NOTOP_SHA256[size];
  if (!sha256)
    throw new Error(
      `keras:convnext_${size}: Keras has ${Object.keys(KERAS_NOTOP_SHA256)
        .map((s) => `convnext_${s}`)
        .join(', ')}`,
    );
  const name = `convnext_${size}_notop.h5`;
  const kerasOwn = path.join(process.env.KERAS_HOME || path.join(os.homedir(), '.keras'), 'models', name);
  if ((await exists(kerasOwn)) && (await sha256File(kerasOwn)) === sha256) return kerasOwn;
  const label = `keras:convnext_${size}`;
  const dest = insideDir(convcutCacheDir(), path.join(convcutCacheDir(), 'keras', name), label);
  const base = process.env.CONVCUT_KERAS_URL || KERAS_URL; // a mirror of Keras' files, if set
  if (!(await exists(dest))) await download(`${base}${name}`, dest, { sha256, label, inside: convcutCacheDir() });
  return dest;
}

/**
 * urls/{hash of the URL}/{the URL's last path segment}: the name keeps the file's extension (which
 * says what it is). The segment stays percent-encoded, so `%2e%2e%2f` is no path; a name that is
 * still not a plain file name (none: URL parsing removes `.` and `..`) becomes `download`.
 */
async function urlFile(url: string): Promise<string> {
  const u = new URL(url);
  const last = path.posix.basename(u.pathname);
  const base = last && !unsafePathReason(last) && !last.includes('/') ? last : 'download';
  const cache = convcutCacheDir();
  const dest = insideDir(cache, path.join(cache, 'urls', createHash('sha256').update(url).digest('hex').slice(0, 16), base), url);
  if (!(await exists(dest))) await download(url, dest, { label: url, inside: cache });
  return dest;
}

/** Where each cache is (for `convcut weights list` and messages). */
export function cacheLocations(): { hub: string; convcut: string } {
  return { hub: hubCacheDir(), convcut: convcutCacheDir() };
}

/** The cached copy of a catalog entry, if any (no request). */
export async function cachedCopy(entry: CatalogEntry): Promise<string | undefined> {
  if (entry.source.startsWith('hf:')) {
    const ref = parseHubRef(entry.source.slice(3));
    return cachedHubFile({ ...ref, file: ref.file! });
  }
  const f = path.join(convcutCacheDir(), 'keras', path.basename(entry.source));
  return (await exists(f)) ? f : undefined;
}
