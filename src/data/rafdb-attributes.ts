/**
 * RAF-DB's manual annotations, `basic/Annotation/manual/<image>_manu_attri.txt`, as RAF-DB's README
 * describes them: five landmark lines (x y), then gender (0 male, 1 female, 2 unsure), race
 * (0 Caucasian, 1 African-American, 2 Asian) and age group (0: 0–3, 1: 4–19, 2: 20–39, 3: 40–69,
 * 4: 70+). Read tolerantly: blank lines and extra spaces are ignored, the three codes are the last
 * three one-number lines, and a file that does not parse is reported, not fatal.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Problem } from './dataset.js';
import { rafdbStem } from './rafdb.js';

export const ATTRIBUTES = {
  gender: ['male', 'female', 'unsure'],
  race: ['Caucasian', 'African-American', 'Asian'],
  age: ['0-3', '4-19', '20-39', '40-69', '70+'],
} as const;
export type Attribute = keyof typeof ATTRIBUTES;
export type Attributes = Record<Attribute, number>;

export const manualDir = (root: string): string => path.join(root, 'Annotation', 'manual');

/** Attributes by sample id, for the ids whose file exists; undefined when the folder is absent. */
export async function readRafAttributes(
  root: string,
  ids: string[],
): Promise<{ byId: Map<string, Attributes>; problems: Problem[] } | undefined> {
  const dir = manualDir(root);
  if (!existsSync(dir)) return undefined;
  const byId = new Map<string, Attributes>();
  const problems: Problem[] = [];
  for (const id of ids) {
    const file = path.join(dir, `${rafdbStem(id)}_manu_attri.txt`);
    const text = await fs.readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const parsed = parseAttributes(text);
    if (typeof parsed === 'string') problems.push({ file, message: parsed });
    else byId.set(id, parsed);
  }
  return { byId, problems };
}

export function parseAttributes(text: string): Attributes | string {
  const singles = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => /^-?\d+(\.\d+)?$/.test(l))
    .map(Number);
  if (singles.length < 3) return 'expected gender, race and age lines after the landmarks';
  const [gender, race, age] = singles.slice(-3) as [number, number, number];
  const ok = (v: number, a: Attribute) => Number.isInteger(v) && v >= 0 && v < ATTRIBUTES[a].length;
  if (!ok(gender, 'gender') || !ok(race, 'race') || !ok(age, 'age'))
    return `codes out of range: gender ${gender}, race ${race}, age ${age}`;
  return { gender, race, age };
}
