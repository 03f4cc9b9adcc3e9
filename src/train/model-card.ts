/**
 * The run folder's README.md, in the Hugging Face Hub's model-card format: YAML front matter
 * (`library_name: convcut`, `pipeline_tag`, tags, datasets, `base_model`, and a `model-index` with
 * the test metrics, the protocol and the label mode that produced them), then how the model was
 * trained and what its numbers do and do not mean. A run folder uploaded with the Hub's own tools
 * (`huggingface-cli upload <you>/<repo> runs/raf`) is then usable as `-m hf:<you>/<repo>`.
 */
import path from 'node:path';
import YAML from 'yaml';
import { isSynthetic } from '../data/synthetic.js';
import type { EvalResult } from '../eval/evaluate.js';
import { cutName, type ConvCutConfig } from '../model/config.js';
import { writeFileAtomic } from '../util/atomic.js';
import { CATALOG } from '../weights/sources.js';
import type { Calibration } from './calibrate.js';
import type { EpochRecord, RunSettings } from './options.js';

export interface CardInput {
  out: string;
  config: ConvCutConfig;
  settings: RunSettings;
  history: EpochRecord[];
  /** The data set's format as its reader names it (`rafdb-basic (aligned)`, `ferplus`, …). */
  format: string;
  /** The test split's evaluation, when the run ended with one. */
  test?: EvalResult;
  /** Temperature scaling after training (or why there is none). */
  calibration?: Calibration;
}

const DATASET = (format: string) =>
  format.startsWith('rafdb') ? 'RAF-DB' : format.startsWith('ferplus') ? 'FERPlus' : undefined;

export async function writeModelCard(c: CardInput): Promise<string> {
  const file = path.join(c.out, 'README.md');
  await writeFileAtomic(file, modelCard(c));
  return file;
}

export function modelCard(c: CardInput): string {
  const { settings: s, config, test } = c;
  const synthetic = isSynthetic(s.data);
  const dataset = synthetic ? undefined : DATASET(c.format);
  const dataName = synthetic ? `synthetic faces (${c.format} layout)` : (dataset ?? c.format);
  const base =
    s.weights === 'imagenet' ? CATALOG.find((e) => e.name === `imagenet (--backbone ${s.backbone})`)?.source : undefined;
  const reference = s.recipe.name === 'reference';
  const labelMode = c.format.startsWith('ferplus') ? s.ferplusMode : 'single label';
  const best = c.history.reduce<EpochRecord | undefined>((b, h) => (!b || h.val_accuracy > b.val_accuracy ? h : b), undefined);
  const metric = (type: string, value: number, name: string) => ({ type, value: round(value), name });
  const front: Record<string, unknown> = {
    library_name: 'convcut',
    pipeline_tag: 'image-classification',
    tags: ['facial-expression-recognition', 'conv-cut', 'convnext', 'onnx', ...(synthetic ? ['synthetic-data'] : [])],
    ...(dataset ? { datasets: [dataset] } : {}),
    ...(base ? { base_model: base.replace(/^hf:/, '').replace(/\/model\.safetensors$/, '') } : {}),
    metrics: ['accuracy'],
  };
  if (test) {
    front['model-index'] = [
      {
        name: `convcut Conv-cut (${s.backbone}, cut ${cutName(config.cut)})`,
        results: [
          {
            task: { type: 'image-classification', name: 'Facial expression recognition' },
            dataset: {
              name: dataName,
              type: dataset?.toLowerCase() ?? 'custom',
              split: test.split,
              args: { labels: labelMode },
            },
            metrics: [
              metric('accuracy', test.metrics.accuracy, 'accuracy (WAR), sound protocol: one image at a time'),
              metric('uar', test.metrics.uar, 'UAR (mean per-class recall)'),
              metric('f1', test.metrics.macroF1, 'macro-F1'),
              metric('ece', test.ece, 'expected calibration error (15 bins)'),
              ...(test.reference
                ? [metric('accuracy', test.reference.accuracy, 'accuracy, published protocol (class-ordered batches of 32)')]
                : []),
            ],
          },
        ],
      },
    ];
  }
  const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
  const caveats = [
    reference
      ? '**Trained with the published (reference) recipe: the test set was the validation set** (early stopping, learning rate and checkpoint were chosen on it), so its test numbers are optimistic.'
      : 'The checkpoint was chosen on a validation split carved from the training data; the test split was used once, at the end.',
    config.head.attention === 'batch'
      ? "Batch attention mixes the images of a batch (the published code's flaw): predictions depend on the other images; evaluate one image at a time."
      : 'Token attention: each prediction depends on its own image only.',
    ...(synthetic
      ? ['Trained on synthetic faces (convcut demo): a demonstration, not a facial expression model for real photos.']
      : []),
    ...(s.weights ? [] : ['The backbone started from random weights (no ImageNet weights).']),
  ];
  const body = [
    `# Conv-cut facial expression model (convcut)`,
    '',
    `A truncated ConvNeXt-${s.backbone} (cut at \`${cutName(config.cut)}\`), a Detail Extraction Block and ${config.head.attention} self-attention, trained with [convcut](https://www.npmjs.com/package/convcut) on ${dataName}. Classes: ${config.head.classes.join(', ')}.`,
    '',
    '## Use',
    '',
    '```sh',
    'npx convcut predict -m hf:<you>/<this-repo> face.jpg',
    'npx convcut predict -m hf:<you>/<this-repo> group-photo.jpg --faces',
    '```',
    '',
    '## Results',
    '',
    test
      ? `Test split (${test.metrics.n} images, ${labelMode}): accuracy ${pct(test.metrics.accuracy)} (95 % CI ${pct(test.intervals.accuracy.low)}–${pct(test.intervals.accuracy.high)}), UAR ${pct(test.metrics.uar)}, macro-F1 ${pct(test.metrics.macroF1)}, ECE ${test.ece.toFixed(3)}.` +
        (test.reference ? ` Published protocol: ${pct(test.reference.accuracy)}.` : '')
      : 'Not evaluated on a test split yet (`convcut eval`).',
    best ? `Best validation accuracy ${pct(best.val_accuracy)} at epoch ${best.epoch + 1} (${best.phase}).` : '',
    '',
    '## Training',
    '',
    `- recipe: ${s.recipe.name}; batch ${s.recipe.batchSize}; phases: ${s.recipe.phases.map((p) => `${p.name} (lr ${p.lr}, up to epoch ${p.endEpoch})`).join(', ')}`,
    `- backbone weights: ${s.weights ?? 'random'}; fine-tuned backbone units: ${s.finetune}`,
    `- input ${s.inputSize}×${s.inputSize}; detail block ${s.detailBlock ? `${s.detailFilters} filters` : 'off'}; random contrast ${s.contrast ? 'on' : 'off'}`,
    `- **seed ${s.seed}** (split, shuffling, augmentation, initialisation, dropout); validation share ${s.validFraction}`,
    `- epochs run: ${c.history.length}`,
    c.calibration
      ? 'temperature' in c.calibration
        ? `- calibration: softmax temperature ${c.calibration.temperature.toFixed(3)}, fitted on ${c.calibration.n} validation images (NLL ${c.calibration.nllBefore.toFixed(4)} → ${c.calibration.nllAfter.toFixed(4)}); predict and serve apply it`
        : `- calibration: none (${c.calibration.skipped})`
      : '',
    '',
    '## Caveats',
    '',
    ...caveats.map((x) => `- ${x}`),
    '',
  ];
  return `---\n${YAML.stringify(front)}---\n\n${body.join('\n')}`;
}

const round = (x: number) => Math.round(x * 1e4) / 1e4;
