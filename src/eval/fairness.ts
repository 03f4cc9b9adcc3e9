/**
 * Accuracy and UAR per demographic group (RAF-DB's manual gender, race and age annotations,
 * data/rafdb-attributes.ts), every code including "unsure", each with its 95 % bootstrap interval,
 * and the largest accuracy gap between two groups of one attribute.
 */
import { ATTRIBUTES, type Attribute, type Attributes } from '../data/rafdb-attributes.js';
import { bootstrapIntervals, computeMetrics, type Interval } from './metrics.js';

export interface GroupResult {
  code: number;
  name: string;
  n: number;
  accuracy: number;
  uar: number;
  ci95: { accuracy: Interval; uar: Interval };
}
export interface AttributeResult {
  groups: GroupResult[];
  /** Largest accuracy difference between two groups with images (0 with fewer than two). */
  largestGap: { accuracy: number; between: [string, string] | [] };
}
export type Fairness = { images: number } & Record<`${Attribute}`, AttributeResult>;

export function fairness(
  ids: string[],
  labels: number[],
  predicted: ArrayLike<number>,
  classes: string[],
  byId: Map<string, Attributes>,
): Fairness | undefined {
  const known = ids.flatMap((id, i) => (byId.has(id) ? [i] : []));
  if (!known.length) return undefined;
  const out = { images: known.length } as Fairness;
  for (const attr of Object.keys(ATTRIBUTES) as Attribute[]) {
    const groups: GroupResult[] = [];
    ATTRIBUTES[attr].forEach((name, code) => {
      const idx = known.filter((i) => byId.get(ids[i]!)![attr] === code);
      if (!idx.length) return;
      const l = idx.map((i) => labels[i]!);
      const p = idx.map((i) => predicted[i]!);
      const m = computeMetrics(l, p, classes);
      const ci = bootstrapIntervals(l, p, classes, 0);
      groups.push({ code, name, n: idx.length, accuracy: m.accuracy, uar: m.uar, ci95: { accuracy: ci.accuracy, uar: ci.uar } });
    });
    const sorted = [...groups].sort((a, b) => a.accuracy - b.accuracy);
    out[attr] = {
      groups,
      largestGap:
        sorted.length >= 2
          ? { accuracy: sorted.at(-1)!.accuracy - sorted[0]!.accuracy, between: [sorted.at(-1)!.name, sorted[0]!.name] }
          : { accuracy: 0, between: [] },
    };
  }
  return out;
}
