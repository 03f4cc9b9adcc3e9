import { execFile, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createSession, ort } from '../src/engine/ort-session.js';
import { OnnxOps } from '../src/engine/onnx-ops.js';
import { makeConfig, type ConvCutConfig, type ConvCutOptions } from '../src/model/config.js';
import { convcutBackbone, convcutHead } from '../src/model/convcut.js';
import { runUnits } from '../src/model/convnext.js';
import type { Weights } from '../src/weights/weight-map.js';
import { decodeNpy, type NdArray } from '../src/util/npy.js';

export const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

export function fixtureNpy(rel: string): NdArray {
  const f = path.join(FIXTURES, rel);
  return decodeNpy(readFileSync(f), f);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** The small configuration tests use: the `test` ConvNeXt at 112×112 (cut features 7×7×32). */
export function smallConfig(opts: ConvCutOptions = {}) {
  return makeConfig({
    backbone: 'test',
    inputSize: 112,
    ...opts,
    head: { detailFilters: 16, hidden: 8, ...opts.head },
  });
}

/** Deterministic pseudo-images, N×S×S×3 in 0..255. */
export function fakeImages(n: number, s: number, seed = 1): Float32Array {
  const out = new Float32Array(n * s * s * 3);
  let x = seed;
  for (let i = 0; i < out.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = (x >>> 16) % 256;
  }
  return out;
}

export const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'convcut.js');

/** Run the `convcut` CLI as a user would (optionally `{ env }` first); never throws on a non-zero exit. */
export async function convcut(
  ...args: [{ env: NodeJS.ProcessEnv }, ...string[]] | string[]
): Promise<{ stdout: string; stderr: string; code: number }> {
  const env = typeof args[0] === 'object' ? (args.shift() as { env: NodeJS.ProcessEnv }) : undefined;
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...(args as string[])], {
      maxBuffer: 1 << 26,
      env: env?.env,
    });
    return { stdout, stderr, code: 0 };
  } catch (e) {
    const err = e as { stdout: string; stderr: string; code: number };
    return { stdout: err.stdout, stderr: err.stderr, code: err.code };
  }
}

/**
 * The network run as the training engine builds it: every parameter a graph input (the patch
 * formulation of kernel = stride convs, Gemm dense layers), on ONNX Runtime. `training`: training
 * semantics (BatchNorm batch statistics; dropout masks of ones).
 */
export async function runAsTrained(
  cfg: ConvCutConfig,
  weights: Weights,
  input: { data: Float32Array; shape: number[] },
  part: 'backbone' | 'full',
  training = false,
): Promise<Float32Array> {
  const ops = new OnnxOps(weights, { paramInputs: new Set(weights.keys()), training });
  const x = ops.g.input('input', [-1, ...input.shape.slice(1)]);
  const features = runUnits(ops, { ...x, layout: 'nhwc' as const }, convcutBackbone(cfg));
  ops.output(part === 'backbone' ? features : convcutHead(ops, features, cfg).logits, 'out');
  const bytes = ops.g.encode('t');
  const session = await createSession(bytes, { threads: 1 });
  const n = input.shape[0]!;
  const feeds: Record<string, ort.Tensor> = { input: new ort.Tensor('float32', input.data, input.shape) };
  for (const m of ops.masks) {
    const shape = [n, ...m.shape.slice(1)];
    feeds[m.name] = new ort.Tensor('float32', new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1), shape);
  }
  for (const name of session.inputNames) {
    const w = weights.get(name);
    if (w) feeds[name] = new ort.Tensor('float32', w.data, w.shape);
  }
  const out = (await session.run(feeds)).out!.data as Float32Array;
  await session.release();
  return out;
}

/**
 * `convcut serve <args…>` as a child process, once it says where it listens: its address, the
 * child, what it printed so far (stdout and stderr) and its exit.
 */
export async function startServe(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { env });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('exit', r));
  const address = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 30_000);
    child.stdout.on('data', () => {
      const m = /at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    });
  });
  return { child, address, exited, output: () => out };
}

/** Debian's ffmpeg, quiet, overwriting. */
export function ffmpeg(...args: string[]): void {
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args]);
}

/** Three 8192×8192 frames in Matroska: ≈ 200 kB on disk, 600 MB as RGB (a frame-pixel-limit attack). */
export const hugeFramesClip = (out: string) =>
  ffmpeg('-f', 'lavfi', '-i', 'color=size=8192x8192:rate=1', '-frames:v', '3', '-c:v', 'libx264', '-preset', 'ultrafast', out);

/** An HLS playlist of one segment: what an upload sends to have ffmpeg read `segment` instead. */
export const hlsPlaylist = (segment: string) =>
  `#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n${segment}\n#EXT-X-ENDLIST\n`;
