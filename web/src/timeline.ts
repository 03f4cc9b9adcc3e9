/**
 * The webcam's expression timeline: the last `span` seconds of the first face's probabilities, a
 * line per class, drawn on a canvas as frames are labelled (the live view of what
 * `convcut predict clip.mp4 --report` draws for a recording), smoothed by the same Smoother as the
 * CLI's summaries (exponential, 0.5 s).
 */
import { Smoother } from '../../src/infer/video/summary.js';

const COLOURS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

export class Timeline {
  private points: { t: number; p: number[] }[] = [];
  private readonly ctx: CanvasRenderingContext2D;
  private smoother: Smoother;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly classes: string[],
    private readonly span = 20,
    private readonly tau = 0.5,
  ) {
    this.ctx = canvas.getContext('2d')!;
    this.smoother = new Smoother(tau);
  }

  clear(): void {
    this.points = [];
    this.smoother = new Smoother(this.tau);
    this.canvas.dataset.points = '0';
    this.draw();
  }

  /** One labelled frame at `t` seconds: every class's probability, in class order. */
  push(t: number, probs: number[]): void {
    this.points.push({ t, p: this.smoother.apply(0, t, probs) });
    this.points = this.points.filter((x) => x.t >= t - this.span);
    this.canvas.dataset.points = String(this.points.length);
    this.draw();
  }

  private draw(): void {
    const { ctx, canvas } = this;
    const W = canvas.width;
    const H = canvas.height - 18; // a row for the legend
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.strokeStyle = '#d5dbe3';
    ctx.strokeRect(0.5, 0.5, W - 1, H - 1);
    const end = this.points.at(-1)?.t ?? 0;
    const x = (t: number) => W - ((end - t) / this.span) * W;
    this.classes.forEach((c, k) => {
      ctx.strokeStyle = COLOURS[k % COLOURS.length]!;
      ctx.lineWidth = 2;
      ctx.beginPath();
      this.points.forEach((pt, i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, x(pt.t), H - pt.p[k]! * (H - 2) - 1));
      ctx.stroke();
      ctx.fillStyle = COLOURS[k % COLOURS.length]!;
      ctx.font = '11px system-ui, sans-serif';
      ctx.fillText(c, 4 + k * (W / this.classes.length), canvas.height - 4);
    });
  }
}
