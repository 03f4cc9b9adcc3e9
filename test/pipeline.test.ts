/**
 * The user-facing pipeline on synthetic faces written in the real RAF-DB layout:
 * train → checkpoint → eval → predict, resume, the feature cache, the reference recipe and protocol.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticFerplus, writeSyntheticRafdb } from '../src/data/synthetic.js';
import { describeBackbone } from '../src/engine/describe.js';
import { evaluate } from '../src/eval/evaluate.js';
import { makeConfig } from '../src/model/config.js';
import { train, TrainingHalted, type TrainEvent, type TrainOptions } from '../src/train/train.js';
import { readRunStateMeta, type RunStateMeta } from '../src/train/run-state.js';
import { loadCheckpoint } from '../src/weights/checkpoint.js';
import { ConvCutModel } from '../src/infer/convcut-model.js';
import { buildServer } from '../src/server/server.js';
import { encodeSafetensors } from '../src/weights/safetensors.js';
import { initWeights, transposeData } from '../src/weights/weight-map.js';
import { BIN, convcut } from './helpers.js';

const root = mkdtempSync(path.join(tmpdir(), 'convcut-pipeline-'));
const data = path.join(root, 'data');
const small = { backbone: 'test', cut: 'stage_1', inputSize: 112, detailFilters: 32, seed: 3 } satisfies Partial<TrainOptions>;

beforeAll(async () => {
  await writeSyntheticRafdb(data, { seed: 11, trainPerClass: 70, testPerClass: 12 });
});

describe('end to end: train → checkpoint → eval → predict', () => {
  let checkpoint = '';

  it('trains from scratch and is far above chance on held-out identities', async () => {
    const r = await train({ ...small, data, out: path.join(root, 'e2e'), finetune: 'all', lr: 3e-3, epochs: 14, patience: 14 });
    checkpoint = r.checkpoint;
    const ck = await loadCheckpoint(checkpoint);
    expect(ck.meta.provenance).toMatchObject({ seed: 3, recipe: 'default' });
    expect(ck.meta.config.head.attention).toBe('token');
    const split = JSON.parse(readFileSync(path.join(root, 'e2e', 'split.json'), 'utf8'));
    expect(split).toMatchObject({ seed: 3, source: 'carved', fraction: 0.1 });
    // How it ran: ONNX Runtime on the CPU (no --device, no CONVCUT_DEVICE), every core by default.
    const run = JSON.parse(readFileSync(path.join(root, 'e2e', 'run.json'), 'utf8'));
    expect(run.engine).toEqual({
      training: 'onnxruntime-node',
      threads: availableParallelism(),
      device: 'cpu',
      cpu: expect.any(String),
      cores: availableParallelism(),
      reason: 'cpu requested',
    });
    expect(
      readFileSync(path.join(root, 'e2e', 'log.jsonl'), 'utf8')
        .trim()
        .split('\n'),
    ).toHaveLength(r.history.length);

    // Temperature scaling: fitted on the validation split only (split.json's ids), lowering its NLL,
    // stored in the checkpoint, and never changing a prediction.
    const cal = JSON.parse(readFileSync(path.join(root, 'e2e', 'run.json'), 'utf8')).calibration;
    expect(cal).toMatchObject({ fittedOn: 'validation', n: split.validIds.length });
    expect(cal.nllAfter).toBeLessThan(cal.nllBefore);
    expect(ck.meta.config.head.temperature).toBe(cal.temperature);
    expect(r.calibration).toEqual(cal);

    const e1 = await evaluate({ model: checkpoint, data, batchSize: 1 });
    const e32 = await evaluate({ model: checkpoint, data, batchSize: 32 });
    // Measured: 40.5 % and 52.4 % (seed 3) on two machines' CPU kernels, 84 held-out faces; chance is 14.3 %.
    expect(e1.metrics.accuracy).toBeGreaterThan(0.3);
    expect(e1.metrics.n).toBe(84);
    expect(e32.metrics).toEqual(e1.metrics);
    // int8 backbone MatMuls: the same top-1 as fp32 for ≥ 95 % of the images, accuracy within 2 images.
    // (Which images flip depends on the CPU's kernels: 52.4 → 53.6 % on one machine, equal on another.)
    const q = await evaluate({ model: checkpoint, data, batchSize: 32, precision: 'int8' });
    const same = q.predictions.predicted.filter((p, i) => p === e1.predictions.predicted[i]).length;
    expect(same / e1.metrics.n).toBeGreaterThanOrEqual(0.95);
    expect(Math.abs(q.metrics.accuracy - e1.metrics.accuracy) * e1.metrics.n).toBeLessThanOrEqual(2 + 1e-9);
  });

  it('convcut eval writes the report with real PNG pictures; predict reads files and folders', async () => {
    const out = path.join(root, 'e2e', 'report');
    const r = await convcut('eval', checkpoint, data, '-o', out, '--json', '--batch-size', '7');
    expect(r.code).toBe(0);
    const m = JSON.parse(r.stdout);
    expect(m.n).toBe(84);
    for (const f of ['confusion.png', 'tsne.png']) {
      expect(readFileSync(path.join(out, f)).subarray(1, 4).toString()).toBe('PNG');
    }
    expect(readFileSync(path.join(out, 'report.md'), 'utf8')).toMatch(/accuracy \(WAR\)/);
    // predictions.csv: one row per image; accuracy and ECE recomputed from it, here, match report.json.
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    const [header, ...lines] = readFileSync(path.join(out, 'predictions.csv'), 'utf8').trim().split('\n');
    expect(header).toBe(['file', 'true', 'predicted', ...report.classes.map((c: string) => `p_${c}`)].join(','));
    expect(lines).toHaveLength(84);
    const preds = lines.map((l) => l.split(','));
    expect(preds.filter((x) => x[1] === x[2]).length / preds.length).toBeCloseTo(report.metrics.accuracy, 12);
    const bins = Array.from({ length: 15 }, () => ({ n: 0, hit: 0, conf: 0 }));
    for (const x of preds) {
      const p = x.slice(3).map(Number);
      expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
      const top = Math.max(...p);
      const bin = bins[Math.min(14, Math.floor(top * 15))]!;
      bin.n++;
      bin.conf += top;
      bin.hit += report.classes[p.indexOf(top)] === x[1] ? 1 : 0;
    }
    const ece = bins.reduce((a, b) => a + (b.n ? (b.n / preds.length) * Math.abs(b.hit / b.n - b.conf / b.n) : 0), 0);
    expect(report.ece).toBeCloseTo(ece, 4); // the CSV holds 6 significant digits
    // 95 % bootstrap intervals (seeded, recorded) hold the estimate, as wide as the binomial says
    expect(report.reliability).toHaveLength(15);
    expect(readFileSync(path.join(out, 'reliability.png')).subarray(1, 4).toString()).toBe('PNG');
    expect(report.eceBeforeScaling).toBeGreaterThan(0);
    const { accuracy: acc, resamples, seed } = report.ci95;
    expect({ resamples, seed }).toEqual({ resamples: 1000, seed: 0 });
    const est = report.metrics.accuracy;
    expect(acc.low).toBeLessThanOrEqual(est);
    expect(acc.high).toBeGreaterThanOrEqual(est);
    const normalWidth = 2 * 1.96 * Math.sqrt((est * (1 - est)) / preds.length);
    expect((acc.high - acc.low) / normalWidth).toBeGreaterThan(0.7);
    expect((acc.high - acc.low) / normalWidth).toBeLessThan(1.3);
    expect(readFileSync(path.join(out, 'report.md'), 'utf8')).toMatch(/accuracy \(WAR\) \| [\d.]+ % \(95 % CI [\d.]+–[\d.]+ %\)/);
    const img = path.join(data, 'basic', 'Image', 'aligned');
    const bad = path.join(root, 'bad.jpg');
    writeFileSync(bad, 'nope');
    const p = await convcut(
      'predict',
      '-m',
      checkpoint,
      path.join(img, 'test_00001_aligned.jpg'),
      bad,
      '--format',
      'json',
      '-k',
      '2',
    );
    expect(p.code).toBe(0);
    expect(p.stderr).toMatch(/skipped .*bad\.jpg: cannot decode image/);
    // Trained on the generator's faces (its folder says so): every place it predicts says so too, once.
    expect(p.stderr.match(/^note: this model was trained on convcut's synthetic faces/gm)).toHaveLength(1);
    const loaded = await ConvCutModel.load(checkpoint);
    const app = await buildServer(loaded);
    expect((await app.inject('/v1/model')).json().notice).toBe(loaded.notice);
    expect(loaded.notice).toMatch(/synthetic faces/);
    await app.close();
    await loaded.dispose();
    const rows = JSON.parse(p.stdout);
    expect(rows).toHaveLength(1);
    expect(rows[0].top).toHaveLength(2);
    const csv = await convcut('predict', '-m', checkpoint, `${img}/test_0000*.jpg`, '--format', 'csv');
    expect(csv.stdout.trim().split('\n')).toHaveLength(10); // header + 9 matches
  });
});

describe('resume', () => {
  const base = { ...small, data, finetune: 1, epochs: 3, saveEvery: 4, lr: 2e-3 } satisfies Partial<TrainOptions>;
  let unbroken: Awaited<ReturnType<typeof train>>;
  const sameWeights = async (a: string, b: string) => {
    const [wa, wb] = await Promise.all([loadCheckpoint(a), loadCheckpoint(b)]);
    for (const [k, v] of wa.weights) expect(Array.from(wb.weights.get(k)!.data), k).toEqual(Array.from(v.data));
  };

  it('a run stopped mid-epoch (its signal) and resumed ends with the same weights as an unbroken run', async () => {
    unbroken = await train({ ...base, out: path.join(root, 'unbroken') });
    // 441 training images / 16 = 28 steps per epoch: stop in epoch 1 after its step 6.
    const stop = new AbortController();
    let steps = 0;
    const onEvent = (e: TrainEvent) => e.kind === 'step' && ++steps === 34 && stop.abort();
    await expect(train({ ...base, out: path.join(root, 'broken'), signal: stop.signal, onEvent })).rejects.toThrow(
      TrainingHalted,
    );
    await expect(train({ ...base, out: path.join(root, 'broken') })).rejects.toThrow(/already holds a run.*--resume/);
    const b = await train({ ...base, out: path.join(root, 'broken'), resume: true });
    expect(b.history.map((h) => [h.epoch, h.loss, h.val_accuracy])).toEqual(
      unbroken.history.map((h) => [h.epoch, h.loss, h.val_accuracy]),
    );
    await sameWeights(unbroken.checkpoint, b.checkpoint);
    await expect(train({ ...base, lr: 1e-3, out: path.join(root, 'broken'), resume: true })).rejects.toThrow(
      /different settings/,
    );
    // The run's state is not a model, and passing it as one says so (it was "invalid wire type 7").
    const image = path.join(data, 'basic', 'Image', 'aligned', 'test_00001_aligned.jpg');
    const wrong = await convcut('predict', '-m', path.join(root, 'broken', 'state.safetensors'), image);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(
      /state\.safetensors: this is a training run's resumable state \(for --resume\), not a model; use .*broken\/best\.safetensors/,
    );
  });

  it('convcut train killed with SIGKILL mid-epoch resumes from its last save to the same weights', async () => {
    const out = path.join(root, 'killed');
    const args = [...['--backbone', 'test', '--cut', 'stage_1', '--input-size', '112', '--detail-filters', '32', '--seed', '3']];
    args.push('--finetune', '1', '--epochs', '3', '--lr', '2e-3', '--save-every', '4', '--no-test', '-o', out);
    const child = spawn(process.execPath, [BIN, 'train', data, ...args], { stdio: 'ignore' });
    // Kill it once the state of step 8 of epoch 1 is on disk: in the middle of an epoch, between saves.
    const state = path.join(out, 'state.safetensors');
    const killedAt = await new Promise<RunStateMeta['position']>((resolve, reject) => {
      child.on('exit', () => reject(new Error('convcut train ended before it could be killed')));
      const poll = setInterval(() => {
        if (!existsSync(state)) return;
        const meta = readRunStateMeta(state);
        if (meta && meta.position.epoch === 1 && meta.position.step >= 8) {
          clearInterval(poll);
          child.kill('SIGKILL');
          resolve(meta.position);
        }
      }, 5);
    });
    expect(killedAt.epoch).toBe(1);
    const resumed = await convcut('train', data, ...args, '--resume');
    expect(resumed.code, resumed.stderr).toBe(0);
    await sameWeights(unbroken.checkpoint, path.join(out, 'best.safetensors'));
    const log = readFileSync(path.join(out, 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(log.map((r: { epoch: number }) => r.epoch)).toEqual([0, 1, 2]);
  });
});

describe('feature cache', () => {
  it('a second run does no backbone work; other weights or another cut invalidate it', async () => {
    const specs = describeBackbone(makeConfig({ backbone: 'test', inputSize: 112, cut: 'stage_3' })).specs;
    // timm-layout weight files, as a user would bring them
    const timmFile = (seed: number) => {
      const f = path.join(root, `timm-${seed}.safetensors`);
      const w = initWeights(specs, seed);
      const out = new Map(
        [...w].map(([k, t]) => {
          if (k.endsWith('conv_dw.weight')) return [k, transposeData(t.data, t.shape, [2, 3, 0, 1])];
          if (t.shape.length === 4) return [k, transposeData(t.data, t.shape, [3, 2, 0, 1])];
          if (t.shape.length === 2) return [k, transposeData(t.data, t.shape, [1, 0])];
          return [k, t];
        }),
      );
      writeFileSync(f, encodeSafetensors(out));
      return f;
    };
    const cacheDir = path.join(root, 'cache');
    const run = (name: string, weights: string, cut = 'stage_1') =>
      train({ ...small, cut, data, out: path.join(root, name), weights, cacheDir, epochs: 1 });
    const w1 = timmFile(1);
    const first = await run('c1', w1);
    const images = 441 * 2 + 49; // train × (orig + flip) + validation
    expect(first.backboneImagesComputed).toBe(images);
    expect((await run('c2', w1)).backboneImagesComputed).toBe(0);
    expect((await run('c3', timmFile(2))).backboneImagesComputed).toBe(images);
    expect((await run('c4', w1, 'stage_1_block_0_layernorm')).backboneImagesComputed).toBe(images);
  });
});

describe('reference recipe and protocol', () => {
  it('runs the two published phases: LayerNorm head then no LayerNorm, batch attention, test set as validation', async () => {
    const r = await train({ ...small, data, out: path.join(root, 'ref'), recipe: 'reference', finetune: 'all', epochs: [6, 8] });
    const phases = r.history.map((h) => h.phase);
    expect(phases.filter((p) => p === 'head').length).toBeGreaterThan(0);
    expect(phases.indexOf('finetune')).toBeGreaterThan(phases.lastIndexOf('head'));
    const head = r.history.filter((h) => h.phase === 'head');
    const ft = r.history.filter((h) => h.phase === 'finetune');
    expect(head[0]!.lr).toBeCloseTo(1e-3, 10);
    // phase 2 starts after phase 1's best epoch, with lr 1e-5 / (1 + epoch / 80)
    const bestHead = head.reduce((b, h) => (h.val_accuracy - 0.003 > b.val_accuracy ? h : b), {
      val_accuracy: -Infinity,
      epoch: -1,
    } as (typeof head)[0]);
    expect(ft[0]!.epoch).toBe(bestHead.epoch + 1);
    for (const h of ft) expect(h.lr).toBeCloseTo(1e-5 / (1 + h.epoch / 80), 12);
    expect(ft.at(-1)!.epoch).toBe(7);
    const ck = await loadCheckpoint(r.checkpoint);
    expect(ck.meta.config.head).toMatchObject({ attention: 'batch', layerNorm: false, dropout: 0.2 });
    expect(ck.meta.provenance).toMatchObject({ phase: 'finetune', validation: 'TEST SET (reference recipe)' });
    expect([...ck.weights.keys()].some((k) => k.startsWith('head.norm'))).toBe(false);
    // Its validation split is the test split: no temperature is fitted on it.
    expect(r.calibration).toEqual({ skipped: expect.stringMatching(/reference recipe/) });
    expect(ck.meta.config.head.temperature).toBeUndefined();
  });

  it('--protocol reference reports the published (class-ordered) accuracy beside the sound one, and they differ', async () => {
    // A batch-attention model that has learned something (the reference recipe's few epochs above have not).
    const trained = await train({
      ...small,
      data,
      out: path.join(root, 'batch-attn'),
      finetune: 'all',
      lr: 3e-3,
      epochs: 16,
      patience: 16,
      attention: 'batch',
    });
    const refCheckpoint = trained.checkpoint;
    const r = await convcut('eval', refCheckpoint, data, '--protocol', 'reference', '--json');
    expect(r.code).toBe(0);
    const m = JSON.parse(r.stdout);
    // Measured: sound 40.5 %, published protocol 31.0 % (seed 3): here the class-ordered batches hurt.
    expect(m.referenceProtocol.accuracy).not.toBeCloseTo(m.accuracy, 3);
    // the sound protocol is batch-independent even for a batch-attention model (one image per batch)
    const again = await convcut('eval', refCheckpoint, data, '--json', '--batch-size', '32');
    expect(JSON.parse(again.stdout).accuracy).toBe(m.accuracy);
  });
});

describe('unreadable images', () => {
  it('with random contrast (the backbone runs every step), a corrupt training image is skipped and reported', async () => {
    const small = path.join(root, 'contrast-data');
    await writeSyntheticRafdb(small, { seed: 5, trainPerClass: 12, testPerClass: 3 });
    const bad = path.join(small, 'basic', 'Image', 'aligned', 'train_00002_aligned.jpg');
    writeFileSync(bad, readFileSync(bad).subarray(0, 300)); // truncated JPEG
    const out = path.join(root, 'contrast');
    const r = await train({
      backbone: 'test',
      cut: 'stage_1',
      inputSize: 112,
      detailFilters: 16,
      data: small,
      out,
      contrast: true,
      epochs: 2,
    });
    expect(r.history).toHaveLength(2);
    expect(r.problems.filter((p) => p.file.endsWith('train_00002_aligned.jpg'))).toHaveLength(1);
    const run = JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8'));
    expect(run.problems.map((p: { file: string }) => path.basename(p.file))).toContain('train_00002_aligned.jpg');
  });
});

describe('FERPlus label modes in training', () => {
  it('probability mode trains on labels drawn from the votes, not on the soft targets (crossentropy)', async () => {
    const fer = path.join(root, 'ferplus-data');
    await writeSyntheticFerplus(fer, { seed: 2, trainPerClass: 10, testPerClass: 2 });
    const opts = { backbone: 'test', cut: 'stage_1', inputSize: 112, detailFilters: 16, data: fer, epochs: 1, seed: 1 } as const;
    const losses: number[] = [];
    for (const ferplusMode of ['probability', 'probability', 'crossentropy'] as const) {
      const r = await train({ ...opts, ferplusMode, out: path.join(root, `fer-${ferplusMode}-${losses.length}`) });
      losses.push(r.history[0]!.loss);
    }
    expect(losses[1]).toBe(losses[0]); // seeded: the same draws
    expect(losses[2]).not.toBe(losses[0]);
  });
});
