import path from 'node:path';
import type { Command } from 'commander';
import { progressBar } from './progress.js';
import { wholeNumber } from './arg-parsers.js';
import { deviceOption } from './device-option.js';
import type { DeviceChoice } from '../engine/device.js';

/**
 * The offline demo. No pretrained weights can exist on a fresh machine, so the demo trains a small
 * Conv-cut from scratch on synthetic faces: the `test`-size ConvNeXt cut after stage 1 at 112×112
 * (14×14×16 features, the same grid as the paper's cut), the whole network trainable (ONNX Runtime).
 * Settings were chosen so the run fits in under 5 minutes on 2 cores (see BENCHMARKS.md).
 */
export const DEMO_SETTINGS = {
  backbone: 'test',
  cut: 'stage_1',
  inputSize: 112,
  detailFilters: 64,
  finetune: 'all' as const,
  lr: 3e-3,
  epochs: 30,
  patience: 12,
  trainPerClass: 90,
  testPerClass: 25,
};

export function registerDemo(program: Command): void {
  deviceOption(
    program
      .command('demo')
      .description(
        'the whole pipeline offline in a few minutes: synthetic faces → train → evaluate (report with pictures) → predict',
      )
      .option('--out <dir>', 'output folder', './convcut-demo')
      .option('--seed <n>', 'random seed for data, split, training', wholeNumber(0), 1)
      .option('--quick', 'a smaller, faster run (fewer images and epochs; lower accuracy)')
      .option('--threads <n>', 'ONNX Runtime threads (default: every core, or CONVCUT_ORT_THREADS)', wholeNumber(1)),
  ).action(async (o: { out: string; seed: number; quick?: boolean; threads?: number; device?: DeviceChoice }) => {
    const { rmSync } = await import('node:fs');
    const { writeSyntheticRafdb } = await import('../data/synthetic.js');
    const { train } = await import('../train/train.js');
    const { trainProgress } = await import('./train-progress.js');
    const { evaluateAndReport } = await import('./eval.js');
    const { ConvCutModel } = await import('../infer/convcut-model.js');
    const t0 = Date.now();
    const s = { ...DEMO_SETTINGS, ...(o.quick ? { trainPerClass: 40, testPerClass: 10, epochs: 12 } : {}) };
    const seed = o.seed;
    const data = path.join(o.out, 'data');
    const run = path.join(o.out, 'run');
    rmSync(o.out, { recursive: true, force: true });
    console.log(
      `1/4 synthetic faces: ${7 * s.trainPerClass} train, ${7 * s.testPerClass} test (held-out identities), RAF-DB layout in ${data}`,
    );
    const bar = progressBar(7 * (s.trainPerClass + s.testPerClass), 'drawing faces');
    await writeSyntheticRafdb(data, { seed, trainPerClass: s.trainPerClass, testPerClass: s.testPerClass }, () => bar.tick());
    bar.stop();
    console.log(
      `2/4 training Conv-cut (${s.backbone} ConvNeXt cut at ${s.cut}, ${s.inputSize}×${s.inputSize}, token attention, from scratch) — seed ${seed}`,
    );
    const result = await train({
      data,
      out: run,
      backbone: s.backbone,
      cut: s.cut,
      inputSize: s.inputSize,
      detailFilters: s.detailFilters,
      finetune: s.finetune,
      lr: s.lr,
      epochs: s.epochs,
      patience: s.patience,
      seed,
      threads: o.threads,
      device: o.device,
      onEvent: trainProgress((l) => console.log(`    ${l}`)),
    });
    console.log(`3/4 evaluating the best checkpoint (chosen on validation) on the held-out test faces`);
    const report = path.join(o.out, 'report');
    const r = await evaluateAndReport({
      model: result.checkpoint,
      data,
      split: 'test',
      out: report,
      history: result.history,
      device: o.device,
    });
    const { cardWithTest } = await import('./train.js');
    await cardWithTest(run, result, r);
    console.log(`4/4 predictions for a few test images:`);
    const model = await ConvCutModel.load(result.checkpoint, { device: o.device });
    const imgs = [1, 2, 3, 4, 5].map((i) =>
      path.join(data, 'basic', 'Image', 'aligned', `test_${String(i * s.testPerClass - 3).padStart(5, '0')}_aligned.jpg`),
    );
    const preds = await model.predict(imgs, { topK: 2 });
    const truth = new Map(
      (await (await import('../data/open-dataset.js')).openDataset(data)).samples.map((x) => [
        path.basename(x.id),
        model.classes[x.label],
      ]),
    );
    preds.forEach((p, i) =>
      console.log(
        `    ${path.basename(imgs[i]!)}  true ${truth.get(path.basename(imgs[i]!))!.padEnd(9)}  → ${p.top.map((t) => `${t.label} ${(100 * t.score).toFixed(0)}%`).join(', ')}`,
      ),
    );
    await model.dispose();
    console.log(
      `\ndone in ${((Date.now() - t0) / 1000).toFixed(0)} s: test accuracy ${(100 * r.metrics.accuracy).toFixed(1)} % on ${r.metrics.n} held-out faces (chance ${(100 / 7).toFixed(1)} %).\n` +
        `report: ${report}/report.html   checkpoint: ${result.checkpoint}`,
    );
  });
}
