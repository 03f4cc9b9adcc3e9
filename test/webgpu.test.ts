/**
 * The WebGPU path (engine/device.ts): ONNX Runtime's WebGPU execution provider gives the CPU's
 * features, logits and training steps. In CI this runs on Mesa's software Vulkan (lavapipe, from
 * bookworm-backports; .ci/run installs it): correctness only, never speed.
 *
 * Without any WebGPU adapter these tests fail and say how to get one (set CONVCUT_SKIP_WEBGPU=1 to
 * skip them instead), so a CI machine that lost its adapter cannot pass them by skipping.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { iou } from '../src/infer/face-align.js';
import { writeSyntheticRafdb } from '../src/data/synthetic.js';
import { paramSpecs } from '../src/engine/describe.js';
import { probeAdapter } from '../src/engine/device.js';
import { BackboneRunner } from '../src/infer/features.js';
import { ConvCutModel } from '../src/infer/convcut-model.js';
import { convcutBackbone } from '../src/model/convcut.js';
import { OrtTrainer, type Batch } from '../src/train/ort-trainer.js';
import { initWeights } from '../src/weights/weight-map.js';
import { convcut, fakeImages, smallConfig } from './helpers.js';

const skip = process.env.CONVCUT_SKIP_WEBGPU === '1';
/** How close to the CPU's fp32 each WebGPU precision must be, relative to the outputs' scale. */
const TOLERANCES = [
  ['fp32', 1e-3],
  ['fp16', 3e-2],
] as const;

/** Largest difference relative to the reference's scale (its largest magnitude, at least 1). */
function relDiff(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let d = 0;
  let scale = 1;
  for (let i = 0; i < want.length; i++) {
    d = Math.max(d, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return d / scale;
}

describe.skipIf(skip)('WebGPU execution provider', () => {
  beforeAll(async () => {
    const probe = await probeAdapter();
    if (!probe.adapter)
      throw new Error(
        `no WebGPU adapter (${probe.missing}); on Debian 12 install mesa-vulkan-drivers from bookworm-backports, or set CONVCUT_SKIP_WEBGPU=1`,
      );
  });

  const cfg = smallConfig({ head: { classes: ['a', 'b', 'c'] } });
  const weights = initWeights(paramSpecs(cfg), 11);
  for (const k of weights.keys()) if (k.endsWith('.gamma')) weights.get(k)!.data.fill(0.3); // let the blocks matter
  const images: Batch = { data: fakeImages(4, 112, 5), shape: [4, 112, 112, 3] };

  it('computes the same cut features and logits as the CPU (fp32 within 1e-3; fp16 within 3e-2)', async () => {
    const cpuFeatures = await BackboneRunner.create(cfg, weights, { device: 'cpu' });
    const want = await cpuFeatures.run(images);
    await cpuFeatures.dispose();
    for (const [precision, tol] of TOLERANCES) {
      const gpu = await BackboneRunner.create(cfg, weights, { device: 'webgpu', precision });
      const got = await gpu.run(images);
      expect(got.shape).toEqual(want.shape);
      expect(relDiff(got.data, want.data), precision).toBeLessThan(tol);
      await gpu.dispose();
    }
    const cpu = await ConvCutModel.fromWeights(cfg, weights, { device: 'cpu' });
    const ref = await cpu.run(images);
    await cpu.dispose();
    for (const [precision, tol] of TOLERANCES) {
      const gpu = await ConvCutModel.fromWeights(cfg, weights, { device: 'webgpu', precision });
      const got = await gpu.run(images);
      expect(relDiff(got.logits.data, ref.logits.data), precision).toBeLessThan(tol);
      expect(relDiff(got.embedding.data, ref.embedding.data), precision).toBeLessThan(tol);
      await gpu.dispose();
    }
    await expect(ConvCutModel.fromWeights(cfg, weights, { device: 'cpu', precision: 'fp16' })).rejects.toThrow(
      /--precision fp16 runs on WebGPU only/,
    );
  });

  it('trains the whole network like the CPU: the same losses and weights within 1e-3, the loss going down', async () => {
    const labels = Int32Array.from({ length: 4 }, (_, i) => i % 3);
    const all = convcutBackbone(cfg).length - 1; // every unit (the 'all' of --finetune)
    const runs = [];
    for (const device of ['cpu', 'webgpu'] as const) {
      const t = await OrtTrainer.create(cfg, weights, { trainableBackboneUnits: all, learningRate: 1e-3, seed: 3, device });
      expect(t.device.device).toBe(device);
      const losses = [];
      for (let i = 0; i < 4; i++) losses.push((await t.step(images, labels)).loss);
      // Between steps the parameters and moments stay where the step ran.
      expect(t.stateLocation).toBe(device === 'cpu' ? 'cpu' : 'gpu-buffer');
      const w = await t.weights();
      const opt = await t.optimizerState();
      const logits = (await t.predict(images)).logits;
      runs.push({ t, losses, w, opt, logits });
    }
    const [cpu, gpu] = runs as [(typeof runs)[0], (typeof runs)[0]];
    expect(relDiff(gpu.losses, cpu.losses)).toBeLessThan(1e-3);
    expect(gpu.losses[3]!).toBeLessThan(gpu.losses[0]!);
    for (const [name, w] of cpu.w) expect(relDiff(gpu.w.get(name)!.data, w.data), name).toBeLessThan(1e-3);
    for (const [name, m] of cpu.opt) expect(relDiff(gpu.opt.get(name)!.data, m.data), name).toBeLessThan(1e-3);
    expect(relDiff(gpu.logits, cpu.logits)).toBeLessThan(1e-3);

    // State written from the host replaces what the GPU holds: the next step starts from it.
    await gpu.t.setWeights(cpu.w);
    await gpu.t.setOptimizerState(cpu.opt);
    const a = await cpu.t.step(images, labels, 99);
    const b = await gpu.t.step(images, labels, 99);
    expect(Math.abs(a.loss - b.loss) / Math.max(1, Math.abs(a.loss))).toBeLessThan(1e-3);
    await Promise.all(runs.map((r) => r.t.dispose()));
  });

  it('convcut train --device webgpu records the adapter in run.json; predict on webgpu equals predict on the CPU', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'convcut-webgpu-'));
    const data = path.join(root, 'data');
    await writeSyntheticRafdb(data, { seed: 5, trainPerClass: 6, testPerClass: 2 });
    const net = ['--backbone', 'test', '--cut', 'stage_1', '--input-size', '112', '--detail-filters', '16'];
    const out = path.join(root, 'run');
    const r = await convcut(
      'train',
      data,
      ...net,
      '--finetune',
      'all',
      '--epochs',
      '2',
      '--device',
      'webgpu',
      '-o',
      out,
      '--no-test',
    );
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8'));
    const { adapter } = await probeAdapter();
    expect(run.engine).toMatchObject({ device: 'webgpu', adapter: { description: adapter!.description } });
    const images = path.join(data, 'basic', 'Image', 'aligned');
    const predict = async (device: string) => {
      const p = await convcut(
        'predict',
        '-m',
        path.join(out, 'best.safetensors'),
        images,
        '--format',
        'json',
        '-k',
        '7',
        '--device',
        device,
      );
      expect(p.code, p.stderr).toBe(0);
      return JSON.parse(p.stdout) as { file: string; top: { label: string; score: number }[] }[];
    };
    const [cpu, gpu] = [await predict('cpu'), await predict('webgpu')];
    expect(gpu.map((g) => g.file)).toEqual(cpu.map((c) => c.file));
    const score = (rows: typeof cpu) =>
      rows.flatMap((x) => [...x.top].sort((a, b) => a.label.localeCompare(b.label)).map((t) => t.score));
    expect(relDiff(score(gpu), score(cpu))).toBeLessThan(1e-3);
  });

  it("finds the CPU's faces on WebGPU: SSD, landmarks and the Tiny confirmation (NMS stays in TypeScript)", async () => {
    const { decodePhoto, detectWithLandmarks, useFaceDevice } = await import('../src/infer/faces.js');
    const frame = await decodePhoto('/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg');
    useFaceDevice('cpu');
    const cpu = await detectWithLandmarks(frame, 112);
    useFaceDevice('webgpu');
    try {
      const gpu = await detectWithLandmarks(frame, 112);
      expect(cpu).toHaveLength(1);
      expect(gpu).toHaveLength(1);
      expect(iou(gpu[0]!.box, cpu[0]!.box)).toBeGreaterThan(0.99);
      expect(Math.abs(gpu[0]!.box.score - cpu[0]!.box.score)).toBeLessThan(1e-3);
      const px = Math.max(...cpu[0]!.points.map((p, i) => Math.hypot(p.x - gpu[0]!.points[i]!.x, p.y - gpu[0]!.points[i]!.y)));
      expect(px).toBeLessThan(0.05);
    } finally {
      useFaceDevice('cpu');
    }
  });

  it('fails with one line when there is no adapter, never falling back to the CPU', async () => {
    const r = await convcut('devices');
    expect(r.stdout).toMatch(/^webgpu {2}.+ONNX Runtime on it: ok$/m);
    const env = { ...process.env, VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json' };
    const none = await convcut(
      { env },
      'features',
      '--backbone',
      'test',
      '--weights',
      'w.safetensors',
      '--device',
      'webgpu',
      '-o',
      '/tmp/x.npy',
      'x.png',
    );
    expect(none.code).toBe(1);
    expect(none.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^convcut: --device webgpu: no WebGPU adapter: Vulkan found no driver \(.+\)$/),
    ]);
    const auto = await convcut({ env }, 'devices');
    expect(auto.stdout).toMatch(/^auto {4}→ cpu \(auto: no WebGPU adapter/m);
  });
});
