/** The reference recipe's callbacks follow Keras' rules exactly. */
import { describe, expect, it } from 'vitest';
import { balancedClassWeights, EarlyStopping, inverseTimeDecay, ReduceLROnPlateau } from '../src/train/schedule.js';

describe('Keras callbacks', () => {
  it('EarlyStopping(patience 5, min_delta 0.003): an improvement must beat best by more than min_delta', () => {
    const es = new EarlyStopping(5, 0.003);
    const vals = [0.5, 0.502, 0.504, 0.503, 0.6, 0.6, 0.601, 0.6, 0.602, 0.59];
    const out = vals.map((v, e) => es.update(v, e));
    expect(out.map((o) => o.improved)).toEqual([true, false, true, false, true, false, false, false, false, false]);
    expect(out.map((o) => o.stop)).toEqual([false, false, false, false, false, false, false, false, false, true]);
    expect(es.bestEpoch).toBe(4);
  });

  it('ReduceLROnPlateau(factor 0.1, patience 3, min_lr 1e-6)', () => {
    const p = new ReduceLROnPlateau(0.1, 3, 1e-6);
    let lr = 1e-3;
    const lrs = [0.5, 0.5, 0.5, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6].map(
      (v) => (lr = p.update(v, lr)),
    );
    expect(lrs.map((x) => Number(x.toExponential(3)))).toEqual([
      1e-3, 1e-3, 1e-3, 1e-4, 1e-4, 1e-4, 1e-4, 1e-5, 1e-5, 1e-5, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6,
    ]);
  });

  it('inverse time decay and balanced class weights', () => {
    expect(inverseTimeDecay(1e-5, 0, 80)).toBe(1e-5);
    expect(inverseTimeDecay(1e-5, 40, 80)).toBeCloseTo(1e-5 / 1.5, 15);
    // sklearn: n / (classes · count): 6 samples, 3 classes with counts 3, 2, 1
    expect(balancedClassWeights([0, 0, 0, 1, 1, 2], 3)).toEqual([6 / 9, 6 / 6, 6 / 3]);
  });
});
