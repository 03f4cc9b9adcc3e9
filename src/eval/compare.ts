/**
 * Models side by side on the same images: each evaluation's predictions.csv, matched by image, and
 * a paired bootstrap (seeded, 1,000 resamples of the common images) of each model's accuracy
 * difference to the first: its 95 % interval and a two-sided p-value.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { Rng } from '../util/rng.js';

export interface Evaluated {
  name: string;
  dir: string;
  report: {
    metrics: { n: number; accuracy: number; uar: number; macroF1: number };
    ece?: number;
    ci95?: { accuracy: { low: number; high: number } };
  };
  /** Image → whether its top-1 was right. */
  correct: Map<string, boolean>;
}

/** A report folder, a run folder (its report/), or a report.json file. */
export async function readEvaluation(arg: string): Promise<Evaluated> {
  const candidates = [arg, path.join(arg, 'report')].map((p) => (p.endsWith('.json') ? path.dirname(p) : p));
  const dir = candidates.find((d) => existsSync(path.join(d, 'report.json')) && existsSync(path.join(d, 'predictions.csv')));
  if (!dir)
    throw new Error(
      `${arg}: no report.json with predictions.csv here or in ${path.join(arg, 'report')} (run convcut eval -o first)`,
    );
  const report = JSON.parse(await fs.readFile(path.join(dir, 'report.json'), 'utf8')) as Evaluated['report'];
  const [header, ...lines] = (await fs.readFile(path.join(dir, 'predictions.csv'), 'utf8')).trim().split('\n');
  if (!header?.startsWith('file,true,predicted')) throw new Error(`${dir}/predictions.csv: not a convcut predictions file`);
  const correct = new Map<string, boolean>();
  for (const l of lines) {
    const m = /^("(?:[^"]|"")*"|[^,]*),([^,]*),([^,]*)/.exec(l);
    if (m) correct.set(m[1]!.replace(/^"|"$/g, '').replaceAll('""', '"'), m[2] === m[3]);
  }
  const name = path.basename(dir) === 'report' ? path.basename(path.dirname(dir)) : path.basename(dir);
  return { name, dir, report, correct };
}

export interface PairedDifference {
  against: string;
  common: number;
  /** Accuracy of this model minus the first's, on the common images. */
  difference: number;
  ci95: { low: number; high: number };
  pValue: number;
}

export function pairedBootstrap(a: Evaluated, b: Evaluated, seed = 0, resamples = 1000): PairedDifference {
  const ids = [...a.correct.keys()].filter((id) => b.correct.has(id));
  if (!ids.length) throw new Error(`${a.name} and ${b.name} share no image: compare evaluations of the same data`);
  const d = ids.map((id) => Number(b.correct.get(id)) - Number(a.correct.get(id)));
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const rng = new Rng(seed);
  const draws: number[] = [];
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < d.length; i++) s += d[rng.int(d.length)]!;
    draws.push(s / d.length);
  }
  draws.sort((x, y) => x - y);
  const q = (p: number) => draws[Math.min(resamples - 1, Math.floor(p * resamples))]!;
  const below = draws.filter((x) => x <= 0).length / resamples;
  const above = draws.filter((x) => x >= 0).length / resamples;
  return {
    against: a.name,
    common: ids.length,
    difference: mean(d),
    ci95: { low: q(0.025), high: q(0.975) },
    pValue: Math.min(1, 2 * Math.min(below, above)),
  };
}
