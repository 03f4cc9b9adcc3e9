/**
 * Keras' training callbacks, with Keras' exact rules, as plain state machines whose state can be
 * saved with a run and restored on resume.
 */

/** Keras EarlyStopping (mode 'max'): improvement = value − minDelta > best. */
export class EarlyStopping {
  best = -Infinity;
  bestEpoch = -1;
  wait = 0;
  constructor(
    readonly patience: number,
    readonly minDelta: number,
  ) {}

  /** Returns whether this epoch improved and whether training should stop. */
  update(value: number, epoch: number): { improved: boolean; stop: boolean } {
    this.wait++;
    if (value - this.minDelta > this.best) {
      this.best = value;
      this.bestEpoch = epoch;
      this.wait = 0;
      return { improved: true, stop: false };
    }
    return { improved: false, stop: this.wait >= this.patience };
  }
}

/** Keras ReduceLROnPlateau (mode 'max', cooldown 0, min_delta 1e-4). */
export class ReduceLROnPlateau {
  best = -Infinity;
  wait = 0;
  constructor(
    readonly factor: number,
    readonly patience: number,
    readonly minLr: number,
    readonly minDelta = 1e-4,
  ) {}

  update(value: number, lr: number): number {
    if (value > this.best + this.minDelta) {
      this.best = value;
      this.wait = 0;
      return lr;
    }
    this.wait++;
    if (this.wait >= this.patience && lr > this.minLr) {
      this.wait = 0;
      return Math.max(lr * this.factor, this.minLr);
    }
    return lr;
  }
}

/** Keras InverseTimeDecay applied per epoch: lr0 / (1 + epoch / decayEpochs). */
export const inverseTimeDecay = (lr0: number, epoch: number, decayEpochs: number): number => lr0 / (1 + epoch / decayEpochs);

/** sklearn's compute_class_weight('balanced'): n / (classes · count_c); 0 for absent classes. */
export function balancedClassWeights(labels: number[], classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (const l of labels) counts[l]!++;
  return counts.map((c) => (c ? labels.length / (classes * c) : 0));
}
