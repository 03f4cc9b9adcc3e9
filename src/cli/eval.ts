import type { Command } from 'commander';
import type { EvalOptions } from '../eval/evaluate.js';
import { progressBar } from './progress.js';
import { BASELINES, type BaselineName } from '../eval/baselines.js';
import { deviceOption } from './device-option.js';
import { choice, ferplusModeArg, precisionArg, wholeNumber } from './arg-parsers.js';
import { DEFAULTS } from '../defaults.js';

export async function evaluateAndReport(
  o: EvalOptions & {
    out?: string;
    json?: boolean;
    history?: { epoch: number; accuracy: number; val_accuracy: number }[];
    tsnePoints?: number;
  },
) {
  const { evaluate } = await import('../eval/evaluate.js');
  const { writeReport } = await import('../eval/report.js');
  let bar: ReturnType<typeof progressBar> | undefined;
  const r = await evaluate({
    ...o,
    onProgress: (n, total) => {
      bar ??= progressBar(total, `evaluating ${o.split ?? 'test'}`);
      bar.tick(n);
    },
  });
  bar?.stop();
  const summary = {
    split: r.split,
    n: r.metrics.n,
    accuracy: r.metrics.accuracy,
    uar: r.metrics.uar,
    macroF1: r.metrics.macroF1,
    perClass: r.metrics.perClass,
    confusion: r.metrics.confusion,
    referenceProtocol: r.reference
      ? { accuracy: r.reference.accuracy, uar: r.reference.uar, macroF1: r.reference.macroF1 }
      : undefined,
    problems: r.problems.length,
  };
  if (o.json) console.log(JSON.stringify(summary, null, 1));
  else {
    const p = (x: number) => `${(100 * x).toFixed(2)} %`;
    console.log(
      `${r.split}: ${r.metrics.n} images  accuracy ${p(r.metrics.accuracy)}  UAR ${p(r.metrics.uar)}  macro-F1 ${p(r.metrics.macroF1)}`,
    );
    if (r.reference)
      console.log(
        `published protocol (class-ordered batches of 32): accuracy ${p(r.reference.accuracy)} (${r.reference.accuracy >= r.metrics.accuracy ? '+' : ''}${(100 * (r.reference.accuracy - r.metrics.accuracy)).toFixed(2)} points)`,
      );
    if (r.problems.length) console.log(`${r.problems.length} problem(s) (unreadable images were skipped): see the report`);
  }
  if (o.out) {
    await writeReport(o.out, r, { history: o.history, tsnePoints: o.tsnePoints });
    if (!o.json)
      console.log(`report: ${o.out}/report.md, report.html, predictions.csv, confusion.png, reliability.png, tsne.png`);
  }
  return r;
}

export function registerEval(program: Command): void {
  deviceOption(
    program
      .command('eval')
      .description(
        'evaluate a model on a data set split: accuracy (WAR), UAR, macro-F1, per-class scores, confusion matrix and t-SNE pictures',
      )
      .argument(
        '[model]',
        'convcut checkpoint (.safetensors) or exported .onnx: a file, hf:<org>/<repo>[@revision][/<file>] or a URL (leave out with --baseline)',
      )
      .argument('[data]', 'data set (any format `convcut data inspect` reads)')
      .option(
        '--baseline <name>',
        "evaluate a JS toolkit's own expression model instead: face-api or human (same report; then convcut compare)",
        choice(...BASELINES),
      )
      .option('--split <split>', 'test, valid, train or all', choice('test', 'valid', 'train', 'all'), 'test')
      .option('-o, --out <dir>', 'write the report (JSON, Markdown, HTML, PNG and SVG pictures) here')
      .option(
        '--batch-size <n>',
        'images per ONNX Runtime call: a speed knob only, results do not depend on it',
        wholeNumber(1),
        DEFAULTS.evalBatch,
      )
      .option(
        '--protocol <p>',
        'sound, or reference: also run the published class-ordered evaluation and report both',
        choice('sound', 'reference'),
        'sound',
      )
      .option(
        '--ferplus-mode <mode>',
        'FERPlus labels: majority, probability, crossentropy, multi-target',
        ferplusModeArg,
        'majority',
      )
      .option(
        '--precision <p>',
        'fp32, int8 (checkpoints; CPU speed) or fp16 (--device webgpu): to measure what they cost',
        precisionArg,
        'fp32',
      )
      .option('--tta <mode>', 'test-time augmentation: flip (average each image with its mirror image)', choice('flip'))
      .option(
        '--subset <file>',
        'evaluate only the images this file lists (one id, file name or stem per line), e.g. a pose or occlusion list',
      )
      .option('--tsne-points <n>', 'embeddings shown in the t-SNE picture', wholeNumber(0), 800)
      .option('--json', 'print the metrics as JSON on stdout'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  convcut eval runs/raf/best.safetensors ~/data/RAF-DB/basic -o runs/raf/report --protocol reference\n' +
        '  convcut eval runs/raf/best.safetensors ~/data/FERPlus -o runs/raf/on-ferplus     # cross-dataset: classes mapped by name\n' +
        '  convcut eval --baseline face-api ~/data/RAF-DB/basic -o runs/face-api             # a JS toolkit, same report\n' +
        '  convcut compare runs/face-api runs/raf/report                                     # side by side, paired test\n' +
        '\nReported: accuracy, UAR, macro-F1 with 95 % bootstrap CIs, ECE and a reliability diagram (at the temperature\n' +
        'fitted on validation after training), per-group figures when RAF-DB manual attributes are present, predictions.csv.\n',
    )
    .action(async (first: string | undefined, second: string | undefined, o: Record<string, unknown>) => {
      const baseline = o.baseline as BaselineName | undefined;
      const [model, data] = baseline && second === undefined ? [undefined, first] : [first, second];
      if (!data)
        throw new Error(
          baseline
            ? 'eval --baseline: give the data set'
            : 'eval: give a model and a data set (or --baseline <name> and a data set)',
        );
      if (baseline && model) throw new Error(`eval: give either a model (${model}) or --baseline ${baseline}, not both`);
      await evaluateAndReport({
        model,
        baseline,
        data,
        split: o.split as never,
        out: o.out as string | undefined,
        batchSize: o.batchSize as number,
        protocol: o.protocol as 'sound' | 'reference',
        ferplusMode: o.ferplusMode as never,
        tsnePoints: o.tsnePoints as number,
        json: Boolean(o.json),
        device: o.device as never,
        precision: o.precision as never,
        tta: o.tta as 'flip' | undefined,
        subset: o.subset as string | undefined,
      });
    });
}
