/**
 * Expressions over time: per-track smoothing of the probabilities, and a summary of each track
 * (dominant expression, share of time per expression, when the expression changed).
 */

/** One face in one analysed frame. */
export interface VideoRow {
  file: string;
  /** Seconds from the start of the file. */
  time: number;
  frame: number;
  track: number;
  box: { x: number; y: number; width: number; height: number };
  label: string;
  score: number;
  /** Probabilities, in the model's class order. */
  probs: number[];
}

/**
 * Exponential smoothing in time, per track: each step moves towards the new probabilities by
 * 1 − exp(−Δt / tau), so the result does not depend on the frame rate. tau = 0: unchanged.
 */
export class Smoother {
  private last = new Map<number, { time: number; p: number[] }>();
  constructor(private readonly tau: number) {}

  apply(track: number, time: number, probs: number[]): number[] {
    if (this.tau <= 0) return probs;
    const prev = this.last.get(track);
    const a = prev ? 1 - Math.exp(-Math.max(0, time - prev.time) / this.tau) : 1;
    const p = prev ? probs.map((v, i) => prev.p[i]! + a * (v - prev.p[i]!)) : probs.slice();
    this.last.set(track, { time, p });
    return p;
  }
}

export interface TrackSummary {
  track: number;
  start: number;
  end: number;
  frames: number;
  dominant: string;
  /** Share of the track's time per expression (of the smoothed top class), summing to 1. */
  share: Record<string, number>;
  /** When the (smoothed) expression changed, and to what; the first entry is the track's start. */
  onsets: { time: number; label: string }[];
}

/** Summaries of every track in `rows` (one file's rows, in time order), smoothed with `tau` seconds. */
export function summarise(rows: VideoRow[], classes: string[], tau = 0.5): TrackSummary[] {
  const byTrack = new Map<number, VideoRow[]>();
  for (const r of rows) byTrack.set(r.track, [...(byTrack.get(r.track) ?? []), r]);
  const out: TrackSummary[] = [];
  for (const [track, rs] of [...byTrack].sort((a, b) => a[0] - b[0])) {
    const smoother = new Smoother(tau);
    const labels = rs.map((r) => classes[argmax(smoother.apply(track, r.time, r.probs))]!);
    // A frame stands for the time until the track's next frame (the last one: the typical step).
    const steps = rs.slice(1).map((r, i) => r.time - rs[i]!.time);
    const typical = steps.length ? median(steps) : 0;
    const weights = rs.map((_, i) => steps[i] ?? typical);
    const total = weights.reduce((a, b) => a + b, 0);
    const share: Record<string, number> = Object.fromEntries(classes.map((c) => [c, 0]));
    labels.forEach((l, i) => (share[l]! += total > 0 ? weights[i]! / total : 1 / rs.length));
    const onsets = labels.flatMap((l, i) => (i === 0 || l !== labels[i - 1] ? [{ time: rs[i]!.time, label: l }] : []));
    const dominant = classes.reduce((a, b) => (share[b]! > share[a]! ? b : a));
    out.push({ track, start: rs[0]!.time, end: rs.at(-1)!.time, frames: rs.length, dominant, share, onsets });
  }
  return out;
}

export const argmax = (p: ArrayLike<number>): number => {
  let k = 0;
  for (let i = 1; i < p.length; i++) if (p[i]! > p[k]!) k = i;
  return k;
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
