/**
 * The report's pictures, drawn with Vega-Lite and rendered to SVG (vega's headless renderer), then
 * to PNG with sharp (librsvg).
 */
import sharp from 'sharp';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';

export async function renderSpec(spec: TopLevelSpec): Promise<{ svg: string; png: Buffer }> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const png = await sharp(Buffer.from(svg), { density: 144 }).flatten({ background: '#ffffff' }).png().toBuffer();
  return { svg, png };
}

/** Row-normalised confusion matrix: rows are true classes, cells show the share of each row. */
export function confusionSpec(confusion: number[][], classes: string[], title: string): TopLevelSpec {
  const values = confusion.flatMap((row, t) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    return row.map((v, p) => ({ true: classes[t], predicted: classes[p], share: v / total, count: v }));
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values },
    width: 40 * classes.length,
    height: 40 * classes.length,
    encoding: {
      x: { field: 'predicted', type: 'nominal', sort: classes, axis: { labelAngle: -40 } },
      y: { field: 'true', type: 'nominal', sort: classes },
    },
    layer: [
      {
        mark: 'rect',
        encoding: {
          color: { field: 'share', type: 'quantitative', scale: { domain: [0, 1], scheme: 'blues' }, legend: { format: '.0%' } },
        },
      },
      {
        mark: { type: 'text', fontSize: 10 },
        encoding: {
          text: { field: 'share', type: 'quantitative', format: '.2f' },
          color: { condition: { test: 'datum.share > 0.5', value: 'white' }, value: 'black' },
        },
      },
    ],
  };
}

export function scatterSpec(points: { x: number; y: number; label: string }[], classes: string[], title: string): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values: points },
    width: 420,
    height: 360,
    mark: { type: 'circle', size: 28, opacity: 0.8 },
    encoding: {
      x: { field: 'x', type: 'quantitative', axis: null },
      y: { field: 'y', type: 'quantitative', axis: null },
      color: { field: 'label', type: 'nominal', sort: classes, scale: { scheme: 'tableau10' }, title: 'true class' },
    },
  };
}

export function curvesSpec(history: { epoch: number; accuracy: number; val_accuracy: number }[], title: string): TopLevelSpec {
  const values = history.flatMap((h) => [
    { epoch: h.epoch, value: h.accuracy, series: 'train accuracy' },
    { epoch: h.epoch, value: h.val_accuracy, series: 'validation accuracy' },
  ]);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values },
    width: 420,
    height: 240,
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'epoch', type: 'quantitative' },
      y: { field: 'value', type: 'quantitative', scale: { domain: [0, 1] }, axis: { format: '.0%' } },
      color: { field: 'series', type: 'nominal' },
    },
  };
}

/**
 * Reliability diagram: per bin of top-1 confidence, the share of correct predictions (bars) against
 * the diagonal of perfect calibration; bars above it are under-confident, below it over-confident.
 */
export function reliabilitySpec(
  bins: { low: number; high: number; count: number; accuracy: number; confidence: number }[],
  title: string,
): TopLevelSpec {
  const values = bins.filter((b) => b.count > 0);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 360,
    height: 300,
    layer: [
      {
        data: { values },
        mark: { type: 'bar', opacity: 0.85, stroke: 'white' },
        encoding: {
          x: {
            field: 'low',
            type: 'quantitative',
            scale: { domain: [0, 1] },
            title: 'top-1 confidence',
            axis: { format: '.0%' },
          },
          x2: { field: 'high' },
          y: {
            field: 'accuracy',
            type: 'quantitative',
            scale: { domain: [0, 1], nice: false },
            title: 'accuracy in the bin',
            axis: { format: '.0%' },
          },
          y2: { datum: 0 },
          color: { field: 'count', type: 'quantitative', scale: { scheme: 'blues' }, title: 'images', legend: { format: 'd' } },
        },
      },
      {
        data: {
          values: [
            { x: 0, y: 0 },
            { x: 1, y: 1 },
          ],
        },
        mark: { type: 'line', color: '#c33', strokeDash: [4, 3] },
        encoding: {
          x: { field: 'x', type: 'quantitative', scale: { domain: [0, 1], nice: false } },
          y: { field: 'y', type: 'quantitative', scale: { domain: [0, 1], nice: false } },
        },
      },
    ],
  };
}

/** Accuracy per demographic group with its 95 % interval, one panel per attribute. */
export function groupsSpec(
  rows: { attribute: string; group: string; n: number; accuracy: number; low: number; high: number }[],
  title: string,
): TopLevelSpec {
  const panel = (attribute: string) => {
    const y = { field: 'group', type: 'nominal' as const, title: attribute, sort: null };
    return {
      data: { values: rows.filter((r) => r.attribute === attribute) },
      width: 360,
      layer: [
        {
          mark: { type: 'bar' as const, color: '#4c78a8' },
          encoding: {
            y,
            x: {
              field: 'accuracy',
              type: 'quantitative' as const,
              scale: { domain: [0, 1] },
              axis: { format: '.0%' },
              title: 'accuracy',
            },
          },
        },
        {
          mark: { type: 'rule' as const, color: 'black' },
          encoding: { y, x: { field: 'low', type: 'quantitative' as const, title: null }, x2: { field: 'high' } },
        },
        {
          mark: { type: 'text' as const, align: 'left' as const, dx: 4, fontSize: 10 },
          encoding: {
            y,
            x: { field: 'high', type: 'quantitative' as const, title: null },
            text: { field: 'n', type: 'quantitative' as const },
          },
        },
      ],
    };
  };
  const attributes = [...new Set(rows.map((r) => r.attribute))];
  return { $schema: 'https://vega.github.io/schema/vega-lite/v5.json', title, vconcat: attributes.map(panel) } as TopLevelSpec;
}

/** Accuracy of each compared model with its 95 % interval (convcut compare). */
export function comparisonSpec(rows: { name: string; accuracy: number; low: number; high: number }[]): TopLevelSpec {
  const y = { field: 'name', type: 'nominal' as const, sort: null, title: null };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Accuracy on the same images (bars: 95 % bootstrap CI)',
    data: { values: rows },
    width: 360,
    layer: [
      {
        mark: { type: 'bar', color: '#4c78a8' },
        encoding: {
          y,
          x: { field: 'accuracy', type: 'quantitative', scale: { domain: [0, 1] }, axis: { format: '.0%' }, title: 'accuracy' },
        },
      },
      {
        mark: { type: 'rule', color: 'black' },
        encoding: { y, x: { field: 'low', type: 'quantitative', title: null }, x2: { field: 'high' } },
      },
    ],
  } as TopLevelSpec;
}

/** One face track's expression probabilities over time (smoothed as the summary is), a line per class. */
export function timelineSpec(points: { time: number; probs: number[] }[], classes: string[], title: string): TopLevelSpec {
  const values = points.flatMap((p) => classes.map((c, i) => ({ time: p.time, expression: c, p: p.probs[i] })));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values },
    width: 560,
    height: 200,
    mark: { type: 'line', interpolate: 'monotone' },
    encoding: {
      x: { field: 'time', type: 'quantitative', title: 'time (s)' },
      y: { field: 'p', type: 'quantitative', scale: { domain: [0, 1] }, title: 'probability' },
      color: { field: 'expression', type: 'nominal', sort: classes, scale: { scheme: 'tableau10' } },
    },
  };
}
