import type { Command } from 'commander';
import { networkOptions } from './network-options.js';
import { deviceOption } from './device-option.js';
import {
  attentionArg,
  choice,
  ferplusModeArg,
  finetuneArg,
  openFraction,
  positiveNumber,
  wholeNumber,
  wholeNumberList,
} from './arg-parsers.js';
import { DEFAULTS } from '../defaults.js';

/** The run's model card again, now with the test metrics (the Hub shows them from its front matter). */
export async function cardWithTest(
  out: string,
  result: import('../train/train.js').TrainResult,
  test: import('../eval/evaluate.js').EvalResult,
) {
  const { writeModelCard } = await import('../train/model-card.js');
  const card = await writeModelCard({
    out,
    config: result.config,
    settings: result.settings,
    history: result.history,
    format: result.format,
    calibration: result.calibration,
    test,
  });
  console.log(`model card: ${card} (upload the run folder to the Hub, then: convcut predict -m hf:<you>/<repo>)`);
}

export function registerTrain(program: Command): void {
  deviceOption(
    networkOptions(
      program
        .command('train')
        .description(
          'train Conv-cut on a data set, on ONNX Runtime: frozen backbone features computed once and cached, the head (and optionally the last blocks) trained from them',
        )
        .argument(
          '<data>',
          'data set: RAF-DB basic folder, FERPlus folder (fer2013.csv + fer2013new.csv), class folders or a .csv manifest',
        )
        .requiredOption('-o, --out <dir>', 'run folder: best.safetensors, log.jsonl, split.json, state for --resume, report/')
        .option(
          '--recipe <name>',
          'default (sound) or reference (the published recipe, test set as validation)',
          choice('default', 'reference'),
          'default',
        )
        .option(
          '--weights <source>',
          'ImageNet ConvNeXt weights: imagenet (downloaded once; see convcut weights list), keras:convnext_<size>, hf:<org>/<repo>[/<file>], a URL, or a file (Keras .h5, timm or torchvision .safetensors; detected)',
        ),
    ),
  )
    .option('--attention <mode>', 'token (default recipe), batch (reference), none', attentionArg)
    .option('--no-detail-block', 'ablation: pool the cut features directly, without the Detail Extraction Block')
    .option('--detail-filters <n>', 'filters of the Detail Extraction Block', wholeNumber(1), 256)
    .option('--finetune <n>', "train the last n backbone blocks too ('all' = the whole backbone)", finetuneArg, 0)
    .option(
      '--epochs <n>',
      'maximum epochs (default recipe: 40); for the reference recipe the end epoch of each phase, e.g. 100,60',
      wholeNumberList,
    )
    .option('--batch-size <n>', 'training batch size', wholeNumber(1), DEFAULTS.trainBatch)
    .option('--lr <x>', 'initial learning rate (default 1e-3)', positiveNumber)
    .option('--patience <n>', 'early-stopping patience in epochs (LR plateau: half of it)', wholeNumber(1))
    .option('--valid-fraction <x>', 'share of the training data carved out for validation (stratified)', openFraction, 0.1)
    .option('--contrast', 'random contrast augmentation (runs the backbone every step: slow)')
    .option(
      '--ferplus-mode <mode>',
      'FERPlus labels: majority, probability, crossentropy, multi-target',
      ferplusModeArg,
      'majority',
    )
    .option('--cache-dir <dir>', 'feature cache folder (default: <out>/feature-cache); share it between runs')
    .option('--seed <n>', 'seed for the split, shuffling, augmentation, initialisation and dropout', wholeNumber(0), 0)
    .option('--resume', 'continue an interrupted run in --out with the same options (Ctrl-C saves the state first)')
    .option(
      '--save-every <n>',
      'also save the resumable state every n steps (it is always saved at epoch ends)',
      wholeNumber(1),
      200,
    )
    .option('--threads <n>', 'ONNX Runtime threads (default: every core, or CONVCUT_ORT_THREADS)', wholeNumber(1))
    .option('--no-test', 'do not evaluate the best checkpoint on the test split at the end')
    .addHelpText(
      'after',
      `
The default recipe is sound: validation carved from the training data, per-image (token) attention,
the test split used once, at the end. --recipe reference reproduces the published code, flaws
included (batch attention, test set as validation) so its numbers can be compared.

Examples:
  convcut train ~/data/RAF-DB/basic --weights imagenet -o runs/raf
  convcut train ~/data/RAF-DB/basic --weights keras:convnext_base -o runs/raf-ref --recipe reference
  convcut train ~/data/FERPlus --weights imagenet --ferplus-mode crossentropy -o runs/ferplus
  convcut train runs/raf ... --resume      # after an interruption
  convcut train ~/data/RAF-DB/basic --weights imagenet --finetune all --device webgpu -o runs/raf-gpu
`,
    )
    .action(async (data: string, o: Record<string, unknown>) => {
      const { train } = await import('../train/train.js');
      const { trainProgress } = await import('./train-progress.js');
      // Numeric options arrive as numbers (cli/arg-parsers.ts), or undefined where they have no default.
      const num = (k: string) => o[k] as number | undefined;
      // Ctrl-C stops after the step in progress and saves the state there (a second Ctrl-C kills).
      const stop = new AbortController();
      process.once('SIGINT', () => {
        console.error('\nstopping after this step (Ctrl-C again to kill)…');
        stop.abort();
      });
      const result = await train({
        data,
        out: o.out as string,
        recipe: o.recipe as 'default' | 'reference',
        weights: o.weights as string | undefined,
        backbone: o.backbone as string,
        cut: o.cut as string | undefined,
        inputSize: num('inputSize'),
        attention: o.attention as never,
        detailBlock: o.detailBlock as boolean,
        detailFilters: num('detailFilters'),
        finetune: o.finetune as number | 'all',
        epochs: o.epochs as number[] | undefined,
        batchSize: num('batchSize'),
        lr: num('lr'),
        patience: num('patience'),
        validFraction: num('validFraction'),
        contrast: Boolean(o.contrast),
        ferplusMode: o.ferplusMode as never,
        cacheDir: o.cacheDir as string | undefined,
        seed: num('seed'),
        resume: Boolean(o.resume),
        threads: num('threads'),
        device: o.device as never,
        saveEvery: num('saveEvery'),
        signal: stop.signal,
        onEvent: trainProgress(),
      });
      console.log(
        `best checkpoint: ${result.checkpoint} (validation accuracy ${(100 * result.bestValAccuracy).toFixed(2)} %, seed ${o.seed})`,
      );
      if (result.problems.length)
        console.log(`${result.problems.length} problem(s) in the data were skipped; see ${o.out}/run.json`);
      if (o.test !== false) {
        const { evaluateAndReport } = await import('./eval.js');
        const test = await evaluateAndReport({
          model: result.checkpoint,
          data,
          split: 'test',
          out: `${o.out}/report`,
          ferplusMode: o.ferplusMode as never,
          device: o.device as never,
          history: result.history,
        });
        await cardWithTest(o.out as string, result, test);
      }
    });
}
