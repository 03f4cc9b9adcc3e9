/** The network commands as users run them: model-info, features, export. */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { paramSpecs } from '../src/engine/describe.js';
import { ConvCutModel } from '../src/infer/convcut-model.js';
import { decodeNpy } from '../src/util/npy.js';
import { exportOnnx } from '../src/engine/onnx-export.js';
import { onnx } from '../src/engine/onnx-ops.js';
import { loadCheckpoint, saveCheckpoint } from '../src/weights/checkpoint.js';
import { initWeights } from '../src/weights/weight-map.js';
import { convcut, FIXTURES, fixtureNpy, maxAbsDiff, smallConfig } from './helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'convcut-cli-'));
const TV_WEIGHTS = path.join(FIXTURES, 'torchvision', 'torchvision.safetensors');

/** `convcut features` on the `test` backbone at 64×64 with the torchvision fixture weights. */
const features = (out: string, ...rest: string[]) =>
  convcut('features', '--backbone', 'test', '--input-size', '64', '--weights', TV_WEIGHTS, '-o', out, ...rest);

describe('convcut CLI: network commands', () => {
  it('model-info --json reports the paper cut of ConvNeXt-Base', async () => {
    const r = await convcut('model-info', '--backbone', 'base', '--cut', 'stage_2_block_23_layernorm', '--json');
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.cutBackbone.params).toBe(51_640_448);
    expect(info.cutBackbone.outputShape).toEqual([14, 14, 512]);
    expect(info.kerasCut).toBe('convnext_base_stage_2_block_23_layernorm');
    expect(info.model.outputShape).toEqual([7]);
    const human = await convcut('model-info', '--backbone', 'tiny');
    expect(human.stdout).toMatch(/cut at convnext_tiny_stage_2_block_5_layernorm/);
  });

  it('features: images on disk + torchvision weights → .npy equal to torchvision at the cut', async () => {
    const images = fixtureNpy('torchvision/images.npy');
    const per = 64 * 64 * 3;
    const files: string[] = [];
    for (let i = 0; i < images.shape[0]!; i++) {
      const f = path.join(dir, `face_${i}.png`);
      await sharp(Buffer.from(Uint8Array.from(images.data.subarray(i * per, (i + 1) * per))), {
        raw: { width: 64, height: 64, channels: 3 },
      })
        .png()
        .toFile(f);
      files.push(f);
    }
    const out = path.join(dir, 'feats.npy');
    const r = await features(out, '--batch-size', '2', ...files);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const got = decodeNpy(readFileSync(out));
    const ref = fixtureNpy('torchvision/cut_layernorm.npy');
    expect(got.shape).toEqual(ref.shape);
    expect(maxAbsDiff(got.data, ref.data)).toBeLessThan(1e-4);
    // int8 MatMuls: per-image cosine similarity to the fp32 features ≥ 0.99
    const q8 = path.join(dir, 'feats-int8.npy');
    const r8 = await features(q8, '--precision', 'int8', ...files);
    expect(r8.code).toBe(0);
    const q = decodeNpy(readFileSync(q8));
    const fper = q.data.length / q.shape[0]!;
    for (let n = 0; n < q.shape[0]!; n++) {
      let dot = 0;
      let na = 0;
      let nb = 0;
      for (let i = n * fper; i < (n + 1) * fper; i++) {
        dot += q.data[i]! * got.data[i]!;
        na += q.data[i]! ** 2;
        nb += got.data[i]! ** 2;
      }
      expect(dot / Math.sqrt(na * nb)).toBeGreaterThan(0.99);
    }
    expect(maxAbsDiff(q.data, got.data)).toBeGreaterThan(0); // really a different (quantised) graph
  });

  it('features: a bad weight file or image is one clear line on stderr and a non-zero exit', async () => {
    const bad = path.join(dir, 'weights.bin');
    await sharp({ create: { width: 4, height: 4, channels: 3, background: 'red' } })
      .png()
      .toFile(bad);
    const r = await convcut('features', '--backbone', 'test', '--weights', bad, '-o', path.join(dir, 'x.npy'), bad);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      `convcut: ${bad}: unknown weight format (expected a Keras .h5 or a timm/torchvision .safetensors file)`,
    );
    // A file that is not an image is skipped and reported; the others are still processed.
    const out = path.join(dir, 'x.npy');
    const r2 = await features(out, TV_WEIGHTS, path.join(dir, 'face_1.png'));
    expect(r2.code).toBe(0);
    expect(r2.stderr).toMatch(/^skipped .*torchvision\.safetensors: cannot decode image/);
    expect(decodeNpy(readFileSync(out)).shape[0]).toBe(1);
    expect(readFileSync(`${out}.files.txt`, 'utf8')).toBe(`${path.join(dir, 'face_1.png')}\n`);
    const r3 = await features(out, TV_WEIGHTS);
    expect(r3.code).toBe(1);
    expect(r3.stderr).toMatch(/convcut: none of the 1 images could be decoded\n$/);
    expect(r3.stderr).not.toMatch(/\n\s+at /);
  });

  it('export: checkpoint → ONNX file that loads and predicts exactly as the checkpoint', async () => {
    const cfg = smallConfig();
    const ck = path.join(dir, 'model.safetensors');
    await saveCheckpoint(ck, cfg, initWeights(paramSpecs(cfg), 8), { seed: 8 });
    const onnxFile = path.join(dir, 'model.onnx');
    const r = await convcut('export', ck, '-o', onnxFile);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/wrote .*model\.onnx/);
    const img = path.join(dir, 'face_0.png');
    const a = await ConvCutModel.load(ck);
    const b = await ConvCutModel.load(onnxFile);
    expect(b.config).toEqual(cfg);
    const [pa] = await a.predict([img]);
    const [pb] = await b.predict([img]);
    expect(maxAbsDiff(pa!.probabilities, pb!.probabilities)).toBeLessThan(1e-6);
    // Loading a checkpoint hands its float32 weights to ONNX Runtime as external data (read from the
    // checkpoint by ORT, never copied through JS): the in-process graph references the file.
    const lazy = await loadCheckpoint(ck, { lazy: true });
    const graph = onnx.ModelProto.decode(exportOnnx(cfg, lazy.weights, { externalDir: dir })).graph!.initializer!;
    const external = graph.filter((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL);
    expect(external.length).toBeGreaterThan(graph.length / 2);
    expect(external[0]!.externalData!.find((e) => e.key === 'location')!.value).toBe('model.safetensors');
    // The exported file stands alone.
    const written = onnx.ModelProto.decode(readFileSync(onnxFile)).graph!.initializer!;
    expect(written.every((t) => t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL)).toBe(true);
    const backbone = await convcut('export', ck, '-o', path.join(dir, 'bb.onnx'), '--part', 'backbone');
    expect(backbone.code).toBe(0);
    await expect(ConvCutModel.load(path.join(dir, 'bb.onnx'))).rejects.toThrow(
      /not a convcut checkpoint or full convcut ONNX model \(it holds the backbone only\)/,
    );
  });
});

describe('convcut predict --faces', () => {
  it('finds every face in a real photo shipped inside an npm package and returns one result per face', async () => {
    const photo = path.join(path.dirname(FIXTURES), '..', 'node_modules', '@vladmandic', 'face-api', 'demo', 'sample1.jpg');
    const cfg = smallConfig();
    const ck = path.join(dir, 'faces-model.safetensors');
    await saveCheckpoint(ck, cfg, initWeights(paramSpecs(cfg), 2));
    const r = await convcut('predict', '-m', ck, photo, '--faces', '--format', 'json');
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout) as {
      file: string;
      face: number;
      box: { x: number; y: number; width: number; height: number; score: number };
      top: unknown[];
    }[];
    // The photo shows three people (1920×1280).
    expect(rows).toHaveLength(3);
    rows.forEach((row, i) => {
      expect(row.face).toBe(i);
      expect(row.box.score).toBeGreaterThan(0.5);
      expect(row.box.x).toBeGreaterThanOrEqual(0);
      expect(row.box.x + row.box.width).toBeLessThanOrEqual(1920);
      expect(row.box.y + row.box.height).toBeLessThanOrEqual(1280);
      expect(row.top).toHaveLength(3);
    });
    expect(rows[0]!.box.x + rows[0]!.box.width).toBeLessThan(rows[2]!.box.x); // distinct faces, left to right
    const table = await convcut('predict', '-m', ck, photo, '--faces', '--save-crops', path.join(dir, 'crops'));
    expect(table.stdout.trim().split('\n')).toHaveLength(3);
    // --save-crops: each aligned face the model saw, at its input size, named <stem>_face<k>.png
    expect(readdirSync(path.join(dir, 'crops')).sort()).toEqual(['sample1_face0.png', 'sample1_face1.png', 'sample1_face2.png']);
    expect(await sharp(path.join(dir, 'crops', 'sample1_face1.png')).metadata()).toMatchObject({
      width: 112,
      height: 112,
      format: 'png',
    });
    const misuse = await convcut('predict', '-m', ck, photo, '--save-crops', path.join(dir, 'crops2'));
    expect(misuse.code).toBe(1);
    expect(misuse.stderr).toMatch(/--save-crops needs --faces/);
    expect(table.stdout).toMatch(/sample1\.jpg#0 \[\d+,\d+ \d+×\d+\]/);

    // A plain grey square has no face: that is what the error says, not "could not be read".
    const blank = path.join(dir, 'blank.png');
    await sharp({ create: { width: 200, height: 200, channels: 3, background: { r: 128, g: 128, b: 128 } } })
      .png()
      .toFile(blank);
    const none = await convcut('predict', '-m', ck, blank, '--faces');
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(`${blank}: no face found`);
    expect(none.stderr).toMatch(/no face found in any of the 1 images \(--faces expects photos/);
  });
});
