/**
 * Synthetic expression faces: a seeded procedural generator that stands in for real faces (none
 * can be downloaded here). Each image is a cartoon face whose brows, eyes and mouth take the shape
 * of an expression, with varied identity (face shape, skin tone, hair, feature placement), pose
 * (position, scale, rotation), lighting, background and noise. Identities are disjoint between
 * train and test, so test accuracy measures generalisation to new faces.
 *
 * The generator writes the *real* dataset formats (RAF-DB basic layout, FERPlus CSVs), so tests
 * and the demo exercise the same readers users' data goes through.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { FERPLUS_CLASSES, RAFDB_CLASSES } from '../model/config.js';
import { Rng } from '../util/rng.js';
import { FERPLUS_VOTE_COLUMNS } from './ferplus.js';
import { RAFDB_LABEL_TO_INDEX } from './rafdb.js';

interface Expression {
  /** Brow height (+ up), inner-end tilt (+ inner up: sad/fear; − inner down: anger). */
  browRaise: number;
  browTilt: number;
  /** Eye openness (1 = neutral). */
  eyeOpen: number;
  /** Mouth corner lift (+ smile), opening, width factor, asymmetry (one corner up). */
  curve: number;
  open: number;
  width: number;
  asym: number;
  /** Nose wrinkle intensity (disgust). */
  wrinkle: number;
}

const EXPRESSIONS: Record<string, Expression> = {
  neutral: { browRaise: 0, browTilt: 0, eyeOpen: 1, curve: 0, open: 0, width: 1, asym: 0, wrinkle: 0 },
  happiness: { browRaise: 0.01, browTilt: 0, eyeOpen: 0.75, curve: 1, open: 0.35, width: 1.25, asym: 0, wrinkle: 0 },
  sadness: { browRaise: 0, browTilt: 0.9, eyeOpen: 0.75, curve: -0.9, open: 0, width: 0.9, asym: 0, wrinkle: 0 },
  anger: { browRaise: -0.03, browTilt: -1, eyeOpen: 0.8, curve: -0.3, open: 0.15, width: 0.85, asym: 0, wrinkle: 0.2 },
  surprise: { browRaise: 0.06, browTilt: 0.1, eyeOpen: 1.5, curve: 0, open: 1, width: 0.6, asym: 0, wrinkle: 0 },
  fear: { browRaise: 0.04, browTilt: 0.8, eyeOpen: 1.4, curve: -0.4, open: 0.5, width: 1.2, asym: 0, wrinkle: 0 },
  disgust: { browRaise: -0.02, browTilt: -0.4, eyeOpen: 0.6, curve: -0.5, open: 0.1, width: 0.9, asym: 0.3, wrinkle: 1 },
  contempt: { browRaise: 0, browTilt: 0, eyeOpen: 0.9, curve: 0.1, open: 0, width: 1, asym: 1, wrinkle: 0 },
};

interface Identity {
  skin: [number, number, number];
  hair: [number, number, number];
  rx: number;
  ry: number;
  eyeX: number;
  eyeY: number;
  mouthY: number;
  mouthW: number;
  brow: number;
  hairline: number;
}

function makeIdentity(rng: Rng): Identity {
  const tone = rng.uniform(0.25, 1);
  const skin: [number, number, number] = [90 + 150 * tone, 55 + 140 * tone, 35 + 125 * tone];
  const h = rng.uniform(10, 120);
  return {
    skin,
    hair: [h * rng.uniform(0.8, 1.6), h * rng.uniform(0.6, 1.1), h * rng.uniform(0.4, 0.9)],
    rx: rng.uniform(0.27, 0.33),
    ry: rng.uniform(0.36, 0.42),
    eyeX: rng.uniform(0.1, 0.135),
    eyeY: rng.uniform(-0.1, -0.05),
    mouthY: rng.uniform(0.17, 0.23),
    mouthW: rng.uniform(0.12, 0.15),
    brow: rng.uniform(0.012, 0.022),
    hairline: rng.uniform(-0.32, -0.2),
  };
}

const smooth = (d: number, aa: number) => Math.min(1, Math.max(0, 0.5 - d / aa));

/** Render one face, RGB 0..255, `size`×`size`. */
export function renderFace(expressionName: string, id: Identity, rng: Rng, size: number): Uint8Array {
  const base = EXPRESSIONS[expressionName];
  if (!base) throw new Error(`no synthetic expression "${expressionName}"`);
  // Per-image variation of the expression (intensity and noise), so classes are not trivially separable.
  const k = rng.uniform(0.75, 1.2);
  const j = (v: number, s: number) => v * k + rng.normal() * s;
  const e: Expression = {
    browRaise: j(base.browRaise, 0.008),
    browTilt: j(base.browTilt, 0.15),
    eyeOpen: Math.max(0.25, 1 + (base.eyeOpen - 1) * k + rng.normal() * 0.08),
    curve: j(base.curve, 0.12),
    open: Math.max(0, j(base.open, 0.06)),
    width: 1 + (base.width - 1) * k + rng.normal() * 0.05,
    asym: j(base.asym, 0.1) * (rng.next() < 0.5 ? -1 : 1),
    wrinkle: Math.max(0, j(base.wrinkle, 0.1)),
  };
  const cx = 0.5 + rng.normal() * 0.03;
  const cy = 0.52 + rng.normal() * 0.03;
  const scale = rng.uniform(0.88, 1.1);
  const ang = (rng.normal() * 8 * Math.PI) / 180;
  const light = rng.uniform(0, 2 * Math.PI);
  const lightAmt = rng.uniform(0.05, 0.3);
  const bgA = [rng.uniform(20, 235), rng.uniform(20, 235), rng.uniform(20, 235)];
  const bgB = [rng.uniform(20, 235), rng.uniform(20, 235), rng.uniform(20, 235)];
  const noise = rng.uniform(2, 10);
  const aa = 1.5 / (size * scale);
  const cos = Math.cos(ang);
  const sin = Math.sin(ang);
  const out = new Uint8Array(size * size * 3);
  const mw = id.mouthW * e.width;

  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      const X = (px + 0.5) / size;
      const Y = (py + 0.5) / size;
      // face coordinates: origin at the face centre, unrotated, unscaled
      const dx = (X - cx) / scale;
      const dy = (Y - cy) / scale;
      const u = cos * dx + sin * dy;
      const v = -sin * dx + cos * dy;
      const t = (X + Y) / 2;
      let col = [0, 1, 2].map((c) => bgA[c]! * (1 - t) + bgB[c]! * t);
      const paint = (rgb: number[], alpha: number) => {
        if (alpha > 0) col = col.map((c, i) => c * (1 - alpha) + rgb[i]! * alpha);
      };
      // head + hair
      const faceD = (Math.hypot(u / id.rx, v / id.ry) - 1) * Math.min(id.rx, id.ry);
      const hairD = (Math.hypot(u / (id.rx * 1.08), (v + 0.03) / (id.ry * 1.06)) - 1) * id.rx;
      paint(id.hair, smooth(hairD, aa) * (v < id.hairline + 0.05 ? 1 : 0));
      const shade = 1 + lightAmt * (Math.cos(light) * u + Math.sin(light) * v) * 3;
      const faceA = smooth(faceD, aa) * (v > id.hairline ? 1 : smooth(id.hairline - v, aa * 2));
      paint(
        id.skin.map((c) => c * shade),
        faceA,
      );
      if (faceA > 0.5) {
        for (const side of [-1, 1]) {
          const ex = side * id.eyeX;
          // eye: white almond, dark iris
          const erx = 0.065;
          const ery = 0.032 * e.eyeOpen;
          const ed = (Math.hypot((u - ex) / erx, (v - id.eyeY) / ery) - 1) * ery;
          paint([240, 240, 235], smooth(ed, aa));
          const ir = Math.min(0.022, ery * 0.95);
          paint([40, 30, 25], smooth(Math.hypot(u - ex, v - id.eyeY) - ir, aa) * smooth(ed, aa));
          // brow: a thick segment above the eye; the inner end (toward the nose) tilts
          const inner = side * 0.035;
          const outer = side * (id.eyeX + 0.075);
          const by = id.eyeY - 0.075 - e.browRaise;
          const tiltY = -0.045 * e.browTilt;
          const [ax, ay, bx, bY] = [inner, by + tiltY, outer, by - tiltY * 0.2];
          const abx = bx - ax;
          const aby = bY - ay;
          const tt = Math.min(1, Math.max(0, ((u - ax) * abx + (v - ay) * aby) / (abx * abx + aby * aby)));
          const bd = Math.hypot(u - (ax + tt * abx), v - (ay + tt * aby)) - id.brow;
          paint(
            id.hair.map((c) => c * 0.7),
            smooth(bd, aa),
          );
        }
        // nose and disgust wrinkles
        paint(
          id.skin.map((c) => c * 0.75),
          smooth(Math.hypot(u / 0.025, (v - 0.07) / 0.012) - 1, 0.2) * 0.8,
        );
        if (e.wrinkle > 0.05) {
          for (const side of [-1, 1]) {
            const wd = Math.abs(u - side * 0.035 - (v - 0.02) * side * 0.6) - 0.004;
            paint(
              id.skin.map((c) => c * 0.55),
              smooth(wd, aa) * (v > -0.02 && v < 0.06 ? Math.min(1, e.wrinkle) : 0),
            );
          }
        }
        // mouth: corners lift with `curve`, one side with `asym`; opens between two lip curves
        if (Math.abs(u) < mw * 1.1) {
          const xr = u / mw;
          const mid = id.mouthY - e.curve * 0.07 * xr * xr - e.asym * 0.045 * Math.max(0, xr) * Math.abs(xr);
          const env = Math.max(0, 1 - xr * xr);
          const upper = mid - e.open * 0.04 * env;
          const lower = mid + e.open * 0.09 * env;
          const lip = [150, 60, 60].map((c, i) => c * 0.6 + id.skin[i]! * 0.4);
          if (Math.abs(xr) <= 1) {
            paint([50, 15, 20], smooth(Math.max(upper - v, v - lower), aa));
            paint(lip, smooth(Math.min(Math.abs(v - upper), Math.abs(v - lower)) - 0.01, aa));
          }
        }
      }
      for (let c = 0; c < 3; c++)
        out[(py * size + px) * 3 + c] = Math.max(0, Math.min(255, Math.round(col[c]! + rng.normal() * noise)));
    }
  }
  return out;
}

export interface SyntheticOptions {
  seed?: number;
  /** Images per class per split. */
  trainPerClass?: number;
  testPerClass?: number;
  /** Distinct people per split (test people are never in train). */
  trainIdentities?: number;
  testIdentities?: number;
}

interface Planned {
  cls: string;
  split: 'train' | 'test';
  identity: Identity;
  /** Which person of the split (for per-person attributes). */
  person: number;
  seed: number;
}

function plan(classes: string[], o: Required<SyntheticOptions>): Planned[] {
  const rng = new Rng(o.seed);
  const people = (n: number) => Array.from({ length: n }, () => makeIdentity(rng));
  const train = people(o.trainIdentities);
  const test = people(o.testIdentities);
  const out: Planned[] = [];
  for (const [split, n, ids] of [
    ['train', o.trainPerClass, train],
    ['test', o.testPerClass, test],
  ] as const) {
    for (const cls of classes)
      for (let i = 0; i < n; i++) {
        const person = rng.int(ids.length);
        out.push({ cls, split, identity: ids[person]!, person, seed: rng.fork() });
      }
  }
  return out;
}

const defaults = (o: SyntheticOptions): Required<SyntheticOptions> => ({
  seed: o.seed ?? 1,
  trainPerClass: o.trainPerClass ?? 40,
  testPerClass: o.testPerClass ?? 15,
  trainIdentities: o.trainIdentities ?? 24,
  testIdentities: o.testIdentities ?? 8,
});

/** Write a RAF-DB basic tree (aligned 100×100 JPEGs + list_patition_label.txt) under `dir`. */
export async function writeSyntheticRafdb(
  dir: string,
  opts: SyntheticOptions = {},
  onImage?: () => void,
): Promise<{ root: string; images: number }> {
  const o = defaults(opts);
  const root = path.join(dir, 'basic');
  const imgDir = path.join(root, 'Image', 'aligned');
  await fs.mkdir(imgDir, { recursive: true });
  await fs.mkdir(path.join(root, 'EmoLabel'), { recursive: true });
  const items = plan(RAFDB_CLASSES, o);
  const counters = { train: 0, test: 0 };
  const lines: string[] = [];
  const rafNumber = (cls: string) => RAFDB_LABEL_TO_INDEX.indexOf(RAFDB_CLASSES.indexOf(cls)) + 1;
  const jobs = items.map((it) => {
    const n = ++counters[it.split];
    const name = `${it.split}_${String(n).padStart(5, '0')}`;
    lines.push(`${name}.jpg ${rafNumber(it.cls)}`);
    return { it, file: path.join(imgDir, `${name}_aligned.jpg`) };
  });
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const { it, file } = jobs[next++]!;
      const rgb = renderFace(it.cls, it.identity, new Rng(it.seed), 100);
      await sharp(rgb, { raw: { width: 100, height: 100, channels: 3 } })
        .jpeg({ quality: 92 })
        .toFile(file);
      onImage?.();
    }
  };
  await Promise.all([worker(), worker()]);
  await fs.writeFile(path.join(root, 'EmoLabel', 'list_patition_label.txt'), lines.join('\n') + '\n');
  await fs.writeFile(path.join(root, SYNTHETIC_MARKER), SYNTHETIC_NOTE);
  // RAF-DB's manual attributes (five landmarks, gender, race, age group), drawn per identity.
  const manual = path.join(root, 'Annotation', 'manual');
  await fs.mkdir(manual, { recursive: true });
  for (const [j, { it }] of jobs.entries()) {
    const r = new Rng(o.seed * 7919 + it.person * 31 + (it.split === 'test' ? 1 : 0));
    const marks = ['38.1 47.5', '61.9 47.3', '50.0 60.2', '40.3 72.9', '59.7 72.8'];
    const name = path.basename(jobs[j]!.file).replace('_aligned.jpg', '');
    await fs.writeFile(path.join(manual, `${name}_manu_attri.txt`), [...marks, r.int(3), r.int(3), r.int(5)].join('\n') + '\n');
  }
  return { root, images: jobs.length };
}

/**
 * Write FERPlus-format CSVs (fer2013.csv + fer2013new.csv, 48×48 grey) under `dir`. Votes of 10
 * annotators favour the drawn expression; a few rows test the label rules: removed rows (empty
 * image name), non-face and unknown winners, and rows without a majority.
 */
export async function writeSyntheticFerplus(dir: string, opts: SyntheticOptions = {}): Promise<{ rows: number }> {
  const o = defaults(opts);
  await fs.mkdir(dir, { recursive: true });
  const items = plan(FERPLUS_CLASSES, o);
  const rng = new Rng(o.seed + 1);
  const fer = ['emotion,pixels,Usage'];
  const plus = ['Usage,Image name,' + FERPLUS_VOTE_COLUMNS.join(',')];
  let n = 0;
  for (const it of items) {
    // Training rows alternate into PublicTest (validation) for 1 in 6, as FERPlus has its own.
    const usage = it.split === 'test' ? 'PrivateTest' : n % 6 === 5 ? 'PublicTest' : 'Training';
    const rgb = renderFace(it.cls, it.identity, new Rng(it.seed), 96);
    const grey = await sharp(rgb, { raw: { width: 96, height: 96, channels: 3 } })
      .greyscale()
      .resize(48, 48)
      .raw()
      .toBuffer();
    const votes = new Array<number>(10).fill(0);
    const r = rng.next();
    const col = FERPLUS_VOTE_COLUMNS.indexOf(it.cls);
    if (r < 0.03)
      votes[9] = 10; // non-face
    else if (r < 0.05)
      votes[8] = 6; // unknown wins
    else if (r < 0.08) {
      votes[col] = 4; // no majority: 4 / 3 / 3
      votes[(col + 1) % 8] = 3;
      votes[(col + 2) % 8] = 3;
    } else {
      const main = 6 + rng.int(5);
      votes[col] = main;
      for (let k = main; k < 10; k++) votes[rng.int(8)]! += 1;
    }
    if (votes[8]! === 6) votes[col] = 4;
    const removed = r > 0.985;
    const name = removed ? '' : `fer${String(n).padStart(7, '0')}.png`;
    fer.push(`${FERPLUS_CLASSES.indexOf(it.cls) % 7},${Array.from(grey).join(' ')},${usage}`);
    plus.push(`${usage},${name},${votes.join(',')}`);
    n++;
  }
  await fs.writeFile(path.join(dir, 'fer2013.csv'), fer.join('\n') + '\n');
  await fs.writeFile(path.join(dir, 'fer2013new.csv'), plus.join('\n') + '\n');
  await fs.writeFile(path.join(dir, SYNTHETIC_MARKER), SYNTHETIC_NOTE);
  return { rows: n };
}

/** Left in a synthetic data set's folder, so that what is trained on it says so (the model card). */
export const SYNTHETIC_MARKER = 'SYNTHETIC.txt';
const SYNTHETIC_NOTE = "Synthetic expression faces drawn by convcut's generator (src/data/synthetic.ts): not photos of people.\n";

/** Whether `data` (a data set folder, or its RAF-DB basic/ subfolder) was made by the generator. */
export function isSynthetic(data: string): boolean {
  return [path.join(data, SYNTHETIC_MARKER), path.join(data, 'basic', SYNTHETIC_MARKER)].some((f) => existsSync(f));
}
