/**
 * The evaluation report a researcher can publish: report.json (every number), report.md and
 * report.html (human-readable), and pictures as PNG and SVG: the row-normalised confusion matrix,
 * a t-SNE of the 32-d embeddings, and training curves when a training log is given.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { escapeHtml } from '../util/html.js';
import { Rng } from '../util/rng.js';
import type { EvalResult } from './evaluate.js';
import type { Metrics } from './metrics.js';
import { confusionSpec, curvesSpec, groupsSpec, reliabilitySpec, renderSpec, scatterSpec } from './plots.js';
import { tsne } from './tsne.js';

const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
const ci = (i: { low: number; high: number }) => `${(100 * i.low).toFixed(1)}–${(100 * i.high).toFixed(1)} %`;

function metricsTable(m: Metrics): string {
  const rows = m.perClass.map(
    (c) => `| ${c.class} | ${c.support} | ${c.precision.toFixed(3)} | ${c.recall.toFixed(3)} | ${c.f1.toFixed(3)} |`,
  );
  return ['| class | support | precision | recall | F1 |', '|---|---|---|---|---|', ...rows].join('\n');
}

export interface ReportOptions {
  tsnePoints?: number;
  seed?: number;
  history?: { epoch: number; accuracy: number; val_accuracy: number }[];
}

export async function writeReport(dir: string, r: EvalResult, o: ReportOptions = {}): Promise<string[]> {
  await fs.mkdir(dir, { recursive: true });
  const files: string[] = [];
  const save = async (name: string, data: string | Buffer) => {
    await writeFileAtomic(path.join(dir, name), data);
    files.push(name);
  };
  const title = `${path.basename(r.model)} on ${r.split} (${r.format})`;
  const cm = await renderSpec(confusionSpec(r.metrics.confusion, r.classes, `Confusion (row-normalised): ${title}`));
  await save('confusion.svg', cm.svg);
  await save('confusion.png', cm.png);

  const rel = await renderSpec(
    reliabilitySpec(
      r.reliability,
      `Reliability (ECE ${pct(r.ece)}${r.temperature !== 1 ? `, T = ${r.temperature.toFixed(2)}` : ''})`,
    ),
  );
  await save('reliability.svg', rel.svg);
  await save('reliability.png', rel.png);

  if (r.fairness) {
    const f = r.fairness;
    const rows = (['gender', 'race', 'age'] as const).flatMap((a) =>
      f[a].groups.map((g) => ({
        attribute: a,
        group: g.name,
        n: g.n,
        accuracy: g.accuracy,
        low: g.ci95.accuracy.low,
        high: g.ci95.accuracy.high,
      })),
    );
    const g = await renderSpec(
      groupsSpec(rows, `Accuracy per group (${f.images} annotated images; bars: 95 % CI, numbers: images)`),
    );
    await save('groups.svg', g.svg);
    await save('groups.png', g.png);
  }

  // t-SNE on at most `tsnePoints` embeddings (seeded sample), coloured by true class.
  const n = r.embeddings.labels.length;
  const cap = Math.min(n, o.tsnePoints ?? 800);
  const idx = new Rng(o.seed ?? 0).shuffle([...Array(n).keys()]).slice(0, cap);
  if (cap >= 5) {
    const dim = r.embeddings.dim;
    const x = new Float32Array(cap * dim);
    idx.forEach((i, j) => x.set(r.embeddings.data.subarray(i * dim, (i + 1) * dim), j * dim));
    const y = tsne(x, cap, dim, { seed: o.seed ?? 0 });
    const pts = idx.map((i, j) => ({ x: y[j * 2]!, y: y[j * 2 + 1]!, label: r.classes[r.embeddings.labels[i]!]! }));
    const t = await renderSpec(scatterSpec(pts, r.classes, `t-SNE of the ${dim}-d embeddings (${cap} images)`));
    await save('tsne.svg', t.svg);
    await save('tsne.png', t.png);
  }
  if (o.history?.length) {
    const c = await renderSpec(curvesSpec(o.history, 'Training curves'));
    await save('curves.svg', c.svg);
    await save('curves.png', c.png);
  }

  const json = {
    model: r.model,
    data: r.data,
    format: r.format,
    split: r.split,
    attention: r.attention,
    classes: r.classes,
    protocol: 'sound: per-image predictions, independent of batch size and order',
    metrics: r.metrics,
    classMapping: r.classMapping,
    subset: r.subset,
    tta: r.tta ?? 'none',
    ece: r.ece,
    temperature: r.temperature,
    eceBeforeScaling: r.eceBeforeScaling,
    reliability: r.reliability,
    fairness: r.fairness,
    ci95: r.intervals,
    referenceProtocol: r.reference
      ? { description: 'published protocol: class-ordered batches of 32', metrics: r.reference }
      : undefined,
    problems: r.problems,
    seconds: r.seconds,
  };
  await save('report.json', JSON.stringify(json, null, 1));
  await save('predictions.csv', predictionsCsv(r));

  const m = r.metrics;
  const md = [
    `# convcut evaluation: ${title}`,
    '',
    `Model \`${r.model}\` (${r.attention} attention), data \`${r.data}\`, split **${r.split}**, ${m.n} images${r.tta ? ', test-time augmentation: flip' : ''}.`,
    ...(r.subset
      ? [
          '',
          `Subset \`${r.subset.file}\`: ${r.subset.found} of the split's images (${r.subset.listed} listed, ${r.subset.missing.length} not found).`,
        ]
      : []),
    ...(r.classMapping
      ? [
          '',
          `Classes mapped by name from the data set's (${r.classMapping.dataset.join(', ')}) to the model's; left out (no such class in the model): ${
            Object.entries(r.classMapping.unmapped)
              .map(([c, n]) => `${c} ${n}`)
              .join(', ') || 'none'
          }.`,
        ]
      : []),
    '',
    '| metric | value |',
    '|---|---|',
    `| accuracy (WAR) | ${pct(m.accuracy)} (95 % CI ${ci(r.intervals.accuracy)}) |`,
    `| mean class accuracy (UAR) | ${pct(m.uar)} (95 % CI ${ci(r.intervals.uar)}) |`,
    `| macro-F1 | ${pct(m.macroF1)} (95 % CI ${ci(r.intervals.macroF1)}) |`,
    `| expected calibration error (ECE, 15 bins of top-1 confidence) | ${pct(r.ece)}${r.eceBeforeScaling !== undefined ? ` (${pct(r.eceBeforeScaling)} before temperature scaling, T = ${r.temperature.toFixed(3)} fitted on validation)` : ''} |`,
    ...(r.reference
      ? [
          `| accuracy, **published protocol** (class-ordered batches of 32) | ${pct(r.reference.accuracy)} |`,
          '',
          `The published protocol ${r.reference.accuracy > m.accuracy ? 'inflates' : 'changes'} accuracy by ${(100 * (r.reference.accuracy - m.accuracy)).toFixed(2)} points: with \`batch\` attention, class-ordered batches let the model see its neighbours' class.`,
        ]
      : []),
    '',
    'Predictions are per image: they do not depend on batch size or order.',
    '',
    ...(r.fairness ? [fairnessMd(r.fairness), ''] : []),
    '## Per class',
    '',
    metricsTable(m),
    '',
    '![confusion matrix](confusion.png)',
    '',
    '![reliability diagram](reliability.png)',
    '',
    files.includes('tsne.png') ? '![t-SNE of embeddings](tsne.png)' : '',
    files.includes('curves.png') ? '\n![training curves](curves.png)' : '',
    '',
    r.problems.length
      ? `## Problems (${r.problems.length})\n\n${r.problems.map((p) => `- ${p.file}${p.line ? `:${p.line}` : ''}: ${p.message}`).join('\n')}\n`
      : '',
  ].join('\n');
  await save('report.md', md);
  // Pictures as <img>, not inlined: an SVG's text holds class names, and an image never runs script.
  const svgs = ['confusion.svg', 'reliability.svg', 'groups.svg', 'tsne.svg', 'curves.svg'].filter((f) => files.includes(f));
  const t = escapeHtml(title);
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>${t}</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}th:first-child,td:first-child{text-align:left}</style></head><body>
<h1>convcut evaluation</h1><p>${t}: ${m.n} images, ${escapeHtml(r.attention)} attention.</p>
<table><tr><th>metric</th><th>value (95 % CI)</th></tr><tr><td>accuracy (WAR)</td><td>${pct(m.accuracy)} (${ci(r.intervals.accuracy)})</td></tr><tr><td>mean class accuracy (UAR)</td><td>${pct(m.uar)} (${ci(r.intervals.uar)})</td></tr><tr><td>macro-F1</td><td>${pct(m.macroF1)} (${ci(r.intervals.macroF1)})</td></tr><tr><td>ECE (15 bins)</td><td>${pct(r.ece)}${r.eceBeforeScaling !== undefined ? ` (${pct(r.eceBeforeScaling)} before temperature scaling)` : ''}</td></tr>${
    r.reference ? `<tr><td>accuracy, published protocol</td><td>${pct(r.reference.accuracy)}</td></tr>` : ''
  }</table>
<h2>Per class</h2><table><tr><th>class</th><th>support</th><th>precision</th><th>recall</th><th>F1</th></tr>${m.perClass
    .map(
      (c) =>
        `<tr><td>${escapeHtml(c.class)}</td><td>${c.support}</td><td>${c.precision.toFixed(3)}</td><td>${c.recall.toFixed(3)}</td><td>${c.f1.toFixed(3)}</td></tr>`,
    )
    .join('')}</table>
${svgs.map((f) => `<div><img src="${f}" alt="${escapeHtml(f.replace('.svg', ''))}"></div>`).join('\n')}
</body></html>`;
  await save('report.html', html);
  return files;
}

function fairnessMd(f: NonNullable<EvalResult['fairness']>): string {
  const parts = (['gender', 'race', 'age'] as const).map((a) => {
    const rows = f[a].groups.map(
      (g) => `| ${g.name} | ${g.n} | ${pct(g.accuracy)} (${ci(g.ci95.accuracy)}) | ${pct(g.uar)} (${ci(g.ci95.uar)}) |`,
    );
    const gap = f[a].largestGap;
    return [
      `### ${a}`,
      '',
      '| group | images | accuracy (95 % CI) | UAR (95 % CI) |',
      '|---|---|---|---|',
      ...rows,
      '',
      gap.between.length ? `Largest accuracy gap: ${(100 * gap.accuracy).toFixed(1)} points (${gap.between.join(' vs ')}).` : '',
    ].join('\n');
  });
  return [
    `## Per group (RAF-DB manual annotations, ${f.images} images)`,
    '',
    ...parts,
    '',
    '![accuracy per group](groups.png)',
  ].join('\n');
}

/** One row per image: `file,true,predicted,p_<class>…` — every figure of the report can be recomputed from it. */
function predictionsCsv(r: EvalResult): string {
  const k = r.classes.length;
  const { ids, labels, predicted, probabilities: p, targets } = r.predictions;
  const quote = (s: string) => (/[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
  const rows = ids.map((id, i) => {
    const row = Array.from(p.subarray(i * k, (i + 1) * k), (x) => x.toPrecision(6));
    const soft = targets ? targets[i]!.map((x) => x.toPrecision(6)) : [];
    return [quote(id), r.classes[labels[i]!], r.classes[predicted[i]!], ...row, ...soft].join(',');
  });
  const header = [
    'file',
    'true',
    'predicted',
    ...r.classes.map((c) => `p_${c}`),
    ...(targets ? r.classes.map((c) => `target_${c}`) : []),
  ];
  return [header.join(','), ...rows].join('\n') + '\n';
}
