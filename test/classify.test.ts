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
