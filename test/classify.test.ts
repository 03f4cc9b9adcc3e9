/** Post-processing (infer/classify.ts), used by the library, the CLI, the server and the web page. */
import { describe, expect, it } from 'vitest';
import { classify, classifyLogits, softmaxRows } from '../src/infer/classify.js';

describe('classify', () => {
  it('softmax per row (large logits do not overflow), then the top classes', () => {
    const logits = Float32Array.of(1, 2, 3, 1000, 1000, 999);
    const p = softmaxRows(logits, 3);
    const e = [Math.exp(-2), Math.exp(-1), 1];
    const s = e[0]! + e[1]! + e[2]!;
    expect(Array.from(p.subarray(0, 3))).toEqual(e.map((x) => expect.closeTo(x / s, 6)));
    const [a, b] = classifyLogits(logits, ['x', 'y', 'z'], 2);
    expect(a!.top.map((t) => t.label)).toEqual(['z', 'y']);
    expect(a!.label).toBe('z');
    expect(b!.score).toBeCloseTo(1 / (2 + Math.exp(-1)), 6);
    expect(b!.probabilities).toHaveLength(3);
    expect(classify([0.2, 0.8], ['a', 'b'], 99).top).toHaveLength(2); // top-k clamped to the classes
  });
});

describe('temperature scaling', () => {
  it('softmax at T divides the logits; the fitted T is the NLL minimum a plain grid finds, and never worse than T = 1', async () => {
    const { fitTemperature, meanNll } = await import('../src/eval/calibration.js');
    const p = softmaxRows(Float32Array.of(0, Math.log(3)), 2, 2); // e^(x/2): 1 : √3
    expect(p[1]! / p[0]!).toBeCloseTo(Math.sqrt(3), 6);
    // Over-confident logits: right 70 % of the time at very large margins.
    const n = 200;
    const logits = new Float32Array(n * 3);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      labels[i] = i % 3;
      const predicted = i % 10 < 7 ? labels[i]! : (labels[i]! + 1) % 3;
      logits[i * 3 + predicted] = 8 + (i % 5);
    }
    const fit = fitTemperature(logits, labels, 3);
    // An independent plain grid over log T (no golden section).
    let best = { t: 1, nll: Infinity };
    for (let u = Math.log(0.05); u <= Math.log(20); u += 0.001) {
      const nll = meanNll(logits, labels, 3, Math.exp(u));
      if (nll < best.nll) best = { t: Math.exp(u), nll };
    }
    expect(fit.temperature).toBeCloseTo(best.t, 2);
    expect(fit.nllAfter).toBeCloseTo(best.nll, 5);
    expect(fit.nllAfter).toBeLessThan(fit.nllBefore);
    expect(fit.temperature).toBeGreaterThan(1); // over-confident → softened
    // Argmax unchanged at any T.
    const a = classifyLogits(logits, ['a', 'b', 'c'], 1).map((x) => x.label);
    const b = classifyLogits(logits, ['a', 'b', 'c'], 1, fit.temperature).map((x) => x.label);
    expect(b).toEqual(a);
  });
});
