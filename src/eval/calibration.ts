/**
 * Temperature scaling (Guo et al. 2017): one scalar T that divides the logits, chosen to minimise
 * the negative log-likelihood on held-out data. It changes no prediction (the argmax stays), only
 * the confidence; fitted on the validation split, never on the test split.
 */
import { softmaxRows } from '../infer/classify.js';

/** Mean negative log-likelihood of the true classes at temperature `t`. */
export function meanNll(logits: Float32Array, labels: ArrayLike<number>, classes: number, t = 1): number {
  const p = softmaxRows(logits, classes, t);
  let s = 0;
  for (let i = 0; i < labels.length; i++) s -= Math.log(Math.max(p[i * classes + labels[i]!]!, 1e-12));
  return s / labels.length;
}

export interface TemperatureFit {
  temperature: number;
  nllBefore: number;
  nllAfter: number;
  n: number;
}

/** The T in [0.05, 20] of least mean NLL: golden-section search on log T (the NLL is convex in 1/T). */
export function fitTemperature(logits: Float32Array, labels: ArrayLike<number>, classes: number): TemperatureFit {
  const f = (u: number) => meanNll(logits, labels, classes, Math.exp(u));
  const g = (Math.sqrt(5) - 1) / 2;
  let a = Math.log(0.05);
  let b = Math.log(20);
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = f(c);
  let fd = f(d);
  for (let i = 0; i < 60; i++) {
    if (fc < fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  const u = (a + b) / 2;
  const before = f(0);
  const after = f(u);
  // Never worse than no scaling (the search interval always holds T = 1).
  return after < before
    ? { temperature: Math.exp(u), nllBefore: before, nllAfter: after, n: labels.length }
    : { temperature: 1, nllBefore: before, nllAfter: before, n: labels.length };
}
