/**
 * Exact t-SNE (van der Maaten & Hinton 2008) for the report's embedding picture: perplexity-matched
 * Gaussian affinities, Student-t low-dimensional affinities, gradient descent with momentum and
 * early exaggeration. O(n²) per iteration, fine for the ≤ 1,000 points a report plots. Seeded.
 */
import { Rng } from '../util/rng.js';

export function tsne(
  x: Float32Array,
  n: number,
  dim: number,
  opts: { perplexity?: number; iterations?: number; seed?: number } = {},
): Float32Array {
  const perplexity = Math.min(opts.perplexity ?? 30, Math.max(2, (n - 1) / 3));
  const iters = opts.iterations ?? 500;
  const rng = new Rng(opts.seed ?? 0);
  // squared distances
  const d2 = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      let s = 0;
      for (let k = 0; k < dim; k++) {
        const t = x[i * dim + k]! - x[j * dim + k]!;
        s += t * t;
      }
      d2[i * n + j] = d2[j * n + i] = s;
    }
  // conditional affinities by binary search on the precision
  const p = new Float64Array(n * n);
  const target = Math.log(perplexity);
  for (let i = 0; i < n; i++) {
    let beta = 1;
    let lo = -Infinity;
    let hi = Infinity;
    for (let it = 0; it < 60; it++) {
      let sum = 0;
      let hsum = 0;
      for (let j = 0; j < n; j++) {
        if (j === i) continue;
        const v = Math.exp(-d2[i * n + j]! * beta);
        p[i * n + j] = v;
        sum += v;
        hsum += d2[i * n + j]! * v;
      }
      sum = Math.max(sum, 1e-300);
      const h = Math.log(sum) + (beta * hsum) / sum;
      for (let j = 0; j < n; j++) p[i * n + j]! /= sum;
      if (Math.abs(h - target) < 1e-5) break;
      if (h > target) {
        lo = beta;
        beta = hi === Infinity ? beta * 2 : (beta + hi) / 2;
      } else {
        hi = beta;
        beta = lo === -Infinity ? beta / 2 : (beta + lo) / 2;
      }
    }
  }
  // symmetrise
  const P = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) P[i * n + j] = Math.max((p[i * n + j]! + p[j * n + i]!) / (2 * n), 1e-12);
  const y = new Float64Array(n * 2).map(() => rng.normal() * 1e-4);
  const vel = new Float64Array(n * 2);
  const gains = new Float64Array(n * 2).fill(1);
  const q = new Float64Array(n * n);
  const grad = new Float64Array(n * 2);
  for (let it = 0; it < iters; it++) {
    const exag = it < 100 ? 12 : 1;
    const momentum = it < 250 ? 0.5 : 0.8;
    let qsum = 0;
    for (let i = 0; i < n; i++)
      for (let j = i + 1; j < n; j++) {
        const dx = y[i * 2]! - y[j * 2]!;
        const dy = y[i * 2 + 1]! - y[j * 2 + 1]!;
        const v = 1 / (1 + dx * dx + dy * dy);
        q[i * n + j] = q[j * n + i] = v;
        qsum += 2 * v;
      }
    grad.fill(0);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        if (i === j) continue;
        const w = q[i * n + j]!;
        const m = 4 * (exag * P[i * n + j]! - w / qsum) * w;
        grad[i * 2]! += m * (y[i * 2]! - y[j * 2]!);
        grad[i * 2 + 1]! += m * (y[i * 2 + 1]! - y[j * 2 + 1]!);
      }
    for (let k = 0; k < n * 2; k++) {
      gains[k] = Math.sign(grad[k]!) === Math.sign(vel[k]!) ? gains[k]! * 0.8 : gains[k]! + 0.2;
      gains[k] = Math.max(gains[k]!, 0.01);
      vel[k] = momentum * vel[k]! - 200 * gains[k]! * grad[k]!;
      y[k]! += vel[k]!;
    }
  }
  return Float32Array.from(y);
}
