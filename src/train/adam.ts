/**
 * Adam as Keras computes it, with Keras' `global_clipnorm` folded in:
 *
 *   c = clip / max(‖g‖, clip)              (‖g‖: the joint L2 norm of all gradients)
 *   m ← β1·m + (1−β1)·c·g                  v ← β2·v + (1−β2)·c²·g²
 *   θ ← θ − lr·√(1−β2ᵗ)/(1−β1ᵗ) · m / (√v + ε)
 *
 * Written out instead of using tfjs' AdamOptimizer because (1) this is the formula of the Keras
 * optimiser the reference trained with (tfjs adds ε to the bias-corrected √v̂ instead), and (2) it
 * takes fewer kernels per variable — clipping costs no pass of its own — and every kernel launch on
 * tfjs-wasm costs ~16 µs (measured), which adds up over the head's two dozen variables.
 */
import { tf } from '../engine/tfjs-backend.js';
import type { Weights } from '../weights/weight-map.js';

export class KerasAdam {
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  iterations = 0;

  constructor(
    private readonly vars: Map<string, tf.Variable>,
    public learningRate: number,
    readonly clipNorm: number,
    readonly beta1 = 0.9,
    readonly beta2 = 0.999,
    readonly epsilon = 1e-7,
  ) {
    for (const [name, p] of vars) {
      this.m.set(name, tf.variable(tf.zerosLike(p), false));
      this.v.set(name, tf.variable(tf.zerosLike(p), false));
    }
  }

  /** One update from `grads` (keyed by tfjs variable name); returns the gradient norm before clipping. */
  apply(grads: Record<string, tf.Tensor>): number {
    const t = ++this.iterations;
    // As Keras: β powers from the step count (so the state is just moments + count).
    const stepSize = (this.learningRate * Math.sqrt(1 - this.beta2 ** t)) / (1 - this.beta1 ** t);
    return tf.tidy(() => {
      const names = [...this.vars.keys()];
      const gradOf = (name: string) => {
        const g = grads[this.vars.get(name)!.name];
        if (!g) throw new Error(`no gradient for ${name}`);
        return g;
      };
      const norm = tf.sqrt(tf.sum(tf.square(tf.concat(names.map((n) => tf.reshape(gradOf(n), [-1]))))));
      const c = tf.div(this.clipNorm, tf.maximum(norm, this.clipNorm));
      const gScale = tf.mul(c, 1 - this.beta1);
      const g2Scale = tf.mul(tf.square(c), 1 - this.beta2);
      const [b1, b2, eps, lr] = [this.beta1, this.beta2, this.epsilon, -stepSize].map((x) => tf.scalar(x));
      for (const name of names) {
        const g = gradOf(name);
        const m = tf.add(tf.mul(this.m.get(name)!, b1!), tf.mul(g, gScale));
        const v = tf.add(tf.mul(this.v.get(name)!, b2!), tf.mul(tf.square(g), g2Scale));
        const p = this.vars.get(name)!;
        p.assign(tf.add(p, tf.mul(tf.div(m, tf.add(tf.sqrt(v), eps!)), lr!)));
        this.m.get(name)!.assign(m);
        this.v.get(name)!.assign(v);
      }
      return norm.dataSync()[0]!;
    });
  }

  /** Moments and step count, exactly (a resumed run continues bit-identically). */
  state(): Weights {
    const out: Weights = new Map();
    const scalar = (x: number) => ({ shape: [], data: Float32Array.of(x) });
    out.set('iterations', scalar(this.iterations));
    for (const [slot, map] of [
      ['m', this.m],
      ['v', this.v],
    ] as const)
      for (const [name, t] of map) out.set(`${slot}/${name}`, { shape: [...t.shape], data: t.dataSync() as Float32Array });
    return out;
  }

  setState(state: Weights): void {
    const get = (k: string) => {
      const w = state.get(k);
      if (!w) throw new Error(`optimizer state lacks "${k}" (saved by another convcut version?); start the run afresh`);
      return w;
    };
    this.iterations = get('iterations').data[0]!;
    for (const [slot, map] of [
      ['m', this.m],
      ['v', this.v],
    ] as const)
      for (const [name, t] of map) t.assign(tf.tensor(get(`${slot}/${name}`).data, t.shape));
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}
