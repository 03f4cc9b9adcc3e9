/**
 * Adam as Keras computes it, with Keras' `global_clipnorm` folded in, written into a training-step
 * graph (after the gradients) so that one ONNX Runtime call does the whole step:
 *
 *   c = clip / max(‖g‖, clip)              (‖g‖: the joint L2 norm of all gradients)
 *   m ← β1·m + (1−β1)·c·g                  v ← β2·v + (1−β2)·c²·g²
 *   θ ← θ − lr·√(1−β2ᵗ)/(1−β1ᵗ) · m / (√v + ε)
 *
 * This is the formula of the Keras optimiser the reference trained with (ε is added to √v, not to
 * the bias-corrected √v̂ as PyTorch and tfjs do). The step size lr·√(1−β2ᵗ)/(1−β1ᵗ) is computed in
 * float64 by the caller (`adamStepSize`), from the step count, as Keras derives its β powers.
 */
import type { OnnxGraph, V } from '../engine/onnx-graph.js';

export interface AdamSettings {
  clipNorm: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

/** Keras' defaults, and the reference recipe's global-norm clipping at 3.0. */
export const KERAS_ADAM: AdamSettings = { clipNorm: 3.0, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };

export function adamStepSize(lr: number, t: number, s: AdamSettings = KERAS_ADAM): number {
  return (lr * Math.sqrt(1 - s.beta2 ** t)) / (1 - s.beta1 ** t);
}

export interface AdamSlot {
  param: V;
  grad: string;
  m: V;
  v: V;
}

/**
 * Appends the update of every slot; `stepSize` is a scalar graph input. Returns the new parameter,
 * moment names (in slot order) and the gradient norm before clipping.
 */
export function adamUpdate(
  g: OnnxGraph,
  slots: AdamSlot[],
  stepSize: V,
  s: AdamSettings = KERAS_ADAM,
): { params: string[]; m: string[]; v: string[]; gradNorm: string } {
  const squares = slots.map(({ grad }) => g.node('ReduceSum', [g.node('Mul', [grad, grad])], { keepdims: 0 }));
  const norm = g.node('Sqrt', [squares.length === 1 ? squares[0]! : g.node('Sum', squares)]);
  const clip = g.scalar(s.clipNorm);
  const c = g.node('Div', [clip, g.node('Max', [norm, clip])]);
  const gScale = g.node('Mul', [c, g.scalar(1 - s.beta1)]);
  const g2Scale = g.node('Mul', [g.node('Mul', [c, c]), g.scalar(1 - s.beta2)]);
  const out = { params: [] as string[], m: [] as string[], v: [] as string[], gradNorm: norm };
  for (const { param, grad, m, v } of slots) {
    const m1 = g.node('Add', [g.node('Mul', [m.name, g.scalar(s.beta1)]), g.node('Mul', [grad, gScale])]);
    const v1 = g.node('Add', [g.node('Mul', [v.name, g.scalar(s.beta2)]), g.node('Mul', [g.node('Mul', [grad, grad]), g2Scale])]);
    const update = g.node('Div', [m1, g.node('Add', [g.node('Sqrt', [v1]), g.scalar(s.epsilon)])]);
    out.params.push(g.node('Sub', [param.name, g.node('Mul', [update, stepSize.name])]));
    out.m.push(m1);
    out.v.push(v1);
  }
  return out;
}
