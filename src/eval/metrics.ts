/**
 * Classification metrics as FER papers report them: overall accuracy (WAR), mean per-class
 * accuracy (UAR), macro-F1, per-class precision/recall/F1, and the confusion matrix (rows = true
 * class, row-normalised for pictures); expected calibration error and bootstrap intervals.
 */
import { Rng } from '../util/rng.js';
export interface ClassMetrics {
  class: string;
  support: number;
  precision: number;
  recall: number;
  f1: number;
}

export interface Metrics {
  n: number;
  accuracy: number;
  /** Mean per-class recall (unweighted average recall). */
  uar: number;
  macroF1: number;
  perClass: ClassMetrics[];
  /** confusion[true][predicted], counts. */
  confusion: number[][];
}

export function computeMetrics(labels: ArrayLike<number>, predictions: ArrayLike<number>, classes: string[]): Metrics {
  const k = classes.length;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < labels.length; i++) confusion[labels[i]!]![predictions[i]!]!++;
  let correct = 0;
  for (let c = 0; c < k; c++) correct += confusion[c]![c]!;
  const perClass = classes.map((name, c) => {
    const support = confusion[c]!.reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((a, row) => a + row[c]!, 0);
    const tp = confusion[c]![c]!;
    const precision = predicted ? tp / predicted : 0;
    const recall = support ? tp / support : 0;
    return {
      class: name,
      support,
      precision,
      recall,
      f1: precision + recall ? (2 * precision * recall) / (precision + recall) : 0,
    };
  });
  const present = perClass.filter((p) => p.support > 0);
  return {
    n: labels.length,
    accuracy: labels.length ? correct / labels.length : 0,
    uar: present.length ? present.reduce((a, p) => a + p.recall, 0) / present.length : 0,
    macroF1: present.length ? present.reduce((a, p) => a + p.f1, 0) / present.length : 0,
    perClass,
    confusion,
  };
}

export function argmaxRows(scores: Float32Array, k: number): Int32Array {
  const out = new Int32Array(scores.length / k);
  for (let r = 0; r < out.length; r++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (scores[r * k + c]! > scores[r * k + best]!) best = c;
    out[r] = best;
  }
  return out;
}

/**
 * Expected calibration error: the images binned by top-1 confidence into `bins` equal-width bins
 * over [0, 1]; Σ over bins of (bin size / N) · |accuracy − mean confidence| in the bin.
 * `probabilities`: N × classes, row-major.
 */
export function expectedCalibrationError(
  probabilities: Float32Array,
  labels: ArrayLike<number>,
  classes: number,
  bins = 15,
): number {
  const n = labels.length;
  return reliabilityBins(probabilities, labels, classes, bins).reduce(
    (e, b) => e + (b.count ? (b.count / n) * Math.abs(b.accuracy - b.confidence) : 0),
    0,
  );
}

/** One bin of the reliability diagram: images whose top-1 confidence is in [low, high). */
export interface ReliabilityBin {
  low: number;
  high: number;
  count: number;
  /** Mean top-1 confidence and the share of correct top-1 predictions in the bin (0 when empty). */
  confidence: number;
  accuracy: number;
}

export function reliabilityBins(
  probabilities: Float32Array,
  labels: ArrayLike<number>,
  classes: number,
  bins = 15,
): ReliabilityBin[] {
  const count = new Array<number>(bins).fill(0);
  const hits = new Array<number>(bins).fill(0);
  const conf = new Array<number>(bins).fill(0);
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probabilities[i * classes + c]! > probabilities[i * classes + best]!) best = c;
    const p = probabilities[i * classes + best]!;
    const b = Math.min(bins - 1, Math.floor(p * bins));
    count[b]!++;
    conf[b]! += p;
    if (best === labels[i]) hits[b]!++;
  }
  return count.map((c, b) => ({
    low: b / bins,
    high: (b + 1) / bins,
    count: c,
    confidence: c ? conf[b]! / c : 0,
    accuracy: c ? hits[b]! / c : 0,
  }));
}

export interface Interval {
  low: number;
  high: number;
}

/**
 * 95 % percentile-bootstrap confidence intervals of accuracy, UAR and macro-F1: `resamples` draws of
 * N images with replacement (seeded), the metrics recomputed on each, the 2.5th and 97.5th
 * percentiles kept.
 */
export function bootstrapIntervals(
  labels: ArrayLike<number>,
  predictions: ArrayLike<number>,
  classes: string[],
  seed: number,
  resamples = 1000,
): { accuracy: Interval; uar: Interval; macroF1: Interval; resamples: number; seed: number } {
  const rng = new Rng(seed);
  const n = labels.length;
  const draws = { accuracy: [] as number[], uar: [] as number[], macroF1: [] as number[] };
  const l = new Int32Array(n);
  const p = new Int32Array(n);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) {
      const j = rng.int(n);
      l[i] = labels[j]!;
      p[i] = predictions[j]!;
    }
    const m = computeMetrics(l, p, classes);
    draws.accuracy.push(m.accuracy);
    draws.uar.push(m.uar);
    draws.macroF1.push(m.macroF1);
  }
  const interval = (xs: number[]): Interval => {
    xs.sort((a, b) => a - b);
    return { low: xs[Math.floor(0.025 * (xs.length - 1))]!, high: xs[Math.ceil(0.975 * (xs.length - 1))]! };
  };
  return { accuracy: interval(draws.accuracy), uar: interval(draws.uar), macroF1: interval(draws.macroF1), resamples, seed };
}
