/** Data sets in their real layouts, written small by the tests, read back with the right labels, splits and problems. */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { adjustContrast, Augmenter, hflip } from '../src/data/augment.js';
import { countsBySplit, describeProblem } from '../src/data/dataset.js';
import { ferplusTarget, readFerplus } from '../src/data/ferplus.js';
import { readManifest } from '../src/data/folders.js';
import { decodeImage } from '../src/data/image.js';
import { openDataset } from '../src/data/open-dataset.js';
import { applySplit, carveValidation } from '../src/data/split.js';
import { writeSyntheticFerplus, writeSyntheticRafdb } from '../src/data/synthetic.js';
import { checkImages } from '../src/data/validate.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'convcut-data-'));
const jpeg = (color: string, size = 100) =>
  sharp({ create: { width: size, height: size, channels: 3, background: color } })
    .jpeg()
    .toBuffer();

describe('RAF-DB basic, official layout', () => {
  it('reads labels 1–7 into the alphabetical classes, splits by prefix, and reports every broken input', async () => {
    const root = path.join(tmp(), 'basic');
    const img = path.join(root, 'Image', 'aligned');
    mkdirSync(img, { recursive: true });
    mkdirSync(path.join(root, 'EmoLabel'));
    const good = await jpeg('#808080');
    for (let i = 1; i <= 7; i++) writeFileSync(path.join(img, `train_0000${i}_aligned.jpg`), good);
    writeFileSync(path.join(img, 'test_00001_aligned.jpg'), good);
    writeFileSync(path.join(img, 'test_00002_aligned.jpg'), good.subarray(0, good.length >> 1)); // truncated JPEG
    writeFileSync(path.join(img, 'test_00003_aligned.jpg'), ''); // zero bytes
    writeFileSync(path.join(img, 'test_00004_aligned.jpg'), 'this is not an image\n'); // text named .jpg
    const labels = [
      ...[1, 2, 3, 4, 5, 6, 7].map((l, i) => `train_0000${i + 1}.jpg ${l}`),
      'test_00001.jpg 4',
      'test_00002.jpg 1',
      'test_00003.jpg 2',
      'test_00004.jpg 3',
      'test_00005.jpg 7', // listed, but no such image
      'test_00006.jpg 9', // label out of range
      'test_00007.jpg', // malformed
    ];
    const labelFile = path.join(root, 'EmoLabel', 'list_patition_label.txt');
    writeFileSync(labelFile, labels.join('\n') + '\n');

    const ds = await openDataset(path.dirname(root));
    expect(ds.format).toBe('rafdb-basic (aligned)');
    expect(ds.classes).toEqual(['anger', 'disgust', 'fear', 'happiness', 'neutral', 'sadness', 'surprise']);
    const byId = Object.fromEntries(ds.samples.map((s) => [path.basename(s.id), ds.classes[s.label]]));
    // 1 Surprise, 2 Fear, 3 Disgust, 4 Happiness, 5 Sadness, 6 Anger, 7 Neutral
    expect(byId).toMatchObject({
      'train_00001_aligned.jpg': 'surprise',
      'train_00002_aligned.jpg': 'fear',
      'train_00003_aligned.jpg': 'disgust',
      'train_00004_aligned.jpg': 'happiness',
      'train_00005_aligned.jpg': 'sadness',
      'train_00006_aligned.jpg': 'anger',
      'train_00007_aligned.jpg': 'neutral',
      'test_00001_aligned.jpg': 'happiness',
    });
    expect(ds.problems.map(describeProblem)).toEqual([
      `${labelFile}:12: lists test_00005_aligned.jpg, which is not in ${img}`,
      `${labelFile}:13: label "9" is not 1..7`,
      `${labelFile}:14: expected "train_00001.jpg <1-7>", got "test_00007.jpg"`,
    ]);
    const { dataset, bad } = await checkImages(ds);
    expect(bad.map((b) => path.basename(b.file)).sort()).toEqual([
      'test_00002_aligned.jpg',
      'test_00003_aligned.jpg',
      'test_00004_aligned.jpg',
    ]);
    for (const b of bad) expect(b.message.length).toBeGreaterThan(5);
    expect(countsBySplit(dataset).test).toMatchObject({ happiness: 1, surprise: 0, fear: 0, disgust: 0 });
    expect(dataset.samples.filter((s) => s.split === 'train')).toHaveLength(7);
  });
});

describe('folder layouts and manifests', () => {
  it('split folders (the reference code layout) and plain class folders', async () => {
    const d = tmp();
    const px = await jpeg('#123456', 20);
    for (const [split, cls, n] of [
      ['train', 'happy', 3],
      ['train', 'angry', 2],
      ['test', 'happy', 1],
      ['test', 'angry', 1],
    ] as const) {
      mkdirSync(path.join(d, split, cls), { recursive: true });
      for (let i = 0; i < n; i++) writeFileSync(path.join(d, split, cls, `${i}.jpg`), px);
    }
    writeFileSync(path.join(d, 'train', 'happy', 'notes.txt'), 'ignored');
    const ds = await openDataset(d);
    expect(ds.format).toBe('split-folders');
    expect(ds.classes).toEqual(['angry', 'happy']);
    expect(countsBySplit(ds)).toEqual({ train: { angry: 2, happy: 3 }, test: { angry: 1, happy: 1 } });
    const plain = await openDataset(path.join(d, 'train'));
    expect(plain.format).toBe('class-folders');
    expect(countsBySplit(plain)).toEqual({ train: { angry: 2, happy: 3 } });
  });

  it('a CSV manifest with relative paths; bad rows are reported with their line', async () => {
    const d = tmp();
    writeFileSync(
      path.join(d, 'a.png'),
      await sharp({ create: { width: 8, height: 8, channels: 3, background: 'red' } })
        .png()
        .toBuffer(),
    );
    const f = path.join(d, 'labels.csv');
    writeFileSync(
      f,
      'path,label,split\na.png,happy,train\n"a.png",sad,test\nmissing.png,sad,train\na.png,sad\na.png,sad,holdout\n',
    );
    const ds = await readManifest(f);
    expect(ds.classes).toEqual(['happy', 'sad']);
    expect(ds.samples.map((s) => [s.split, ds.classes[s.label]])).toEqual([
      ['train', 'happy'],
      ['test', 'sad'],
    ]);
    expect(ds.problems.map(describeProblem)).toEqual([
      `${f}:5: expected 3 columns, got 2`,
      `${f}:6: split "holdout" is not train, valid or test`,
      `${f}:4: image missing.png does not exist`,
    ]);
    writeFileSync(f, 'file,class\na.png,x\n');
    await expect(readManifest(f)).rejects.toThrow(/labels\.csv:1: a manifest needs a header with columns path,label/);
  });
});

describe('FERPlus label rules (Microsoft FERPlus _process_data)', () => {
  // vote columns: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF
  const v = (o: Partial<Record<'ne' | 'ha' | 'su' | 'sa' | 'an' | 'di' | 'fe' | 'co' | 'un' | 'nf', number>>) =>
    [o.ne, o.ha, o.su, o.sa, o.an, o.di, o.fe, o.co, o.un, o.nf].map((x) => x ?? 0);
  const round = (t: number[] | undefined) => t?.map((x) => Math.round(x * 1000) / 1000);

  it('majority: single votes are outliers; the top emotion needs > 50 % of the rest', () => {
    expect(round(ferplusTarget(v({ ne: 8, ha: 1, su: 1 }), 'majority'))).toEqual([1, 0, 0, 0, 0, 0, 0, 0]);
    expect(ferplusTarget(v({ ha: 4, su: 4, sa: 2 }), 'majority')).toBeUndefined(); // tie, 40 %
    expect(ferplusTarget(v({ ne: 4, ha: 3, su: 3 }), 'majority')).toBeUndefined(); // no majority
    expect(round(ferplusTarget(v({ ha: 5, su: 3, ne: 1, sa: 1 }), 'majority'))).toEqual([0, 1, 0, 0, 0, 0, 0, 0]); // 5 of 8 after outliers
    expect(ferplusTarget(v({ ne: 3, un: 7 }), 'majority')).toBeUndefined(); // unknown wins
    expect(ferplusTarget(v({ nf: 10 }), 'majority')).toBeUndefined(); // not a face
    expect(ferplusTarget(v({ ha: 1, su: 1, sa: 1 }), 'majority')).toBeUndefined(); // only outliers
  });

  it('probability / crossentropy: up to three top emotions covering 75 %', () => {
    expect(round(ferplusTarget(v({ ha: 4, su: 4, sa: 2 }), 'crossentropy'))).toEqual([0, 0.5, 0.5, 0, 0, 0, 0, 0]);
    expect(round(ferplusTarget(v({ ne: 4, ha: 3, su: 3 }), 'probability'))).toEqual([0.4, 0.3, 0.3, 0, 0, 0, 0, 0]);
    expect(ferplusTarget(v({ ne: 5, un: 5 }), 'probability')).toBeUndefined(); // unknown shares the top: only 50 % kept
    expect(round(ferplusTarget(v({ ne: 8, un: 2 }), 'crossentropy'))).toEqual([1, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('multi-target: every emotion with ≥ 30 % of the votes', () => {
    expect(round(ferplusTarget(v({ ha: 5, su: 3, ne: 2 }), 'multi-target'))).toEqual([0, 0.625, 0.375, 0, 0, 0, 0, 0]);
    expect(ferplusTarget(v({ ha: 2, su: 2, ne: 2, sa: 2, an: 2 }), 'multi-target')).toBeUndefined();
  });

  it('reads fer2013.csv + fer2013new.csv: splits, class order, removed rows, broken rows', async () => {
    const d = tmp();
    const px = Array.from({ length: 2304 }, (_, i) => i % 256).join(' ');
    const rows = [
      ['Training', 'fer0000000.png', v({ ha: 9, ne: 1 })],
      ['Training', '', v({ ha: 10 })], // removed by FERPlus
      ['PublicTest', 'fer0000002.png', v({ co: 6, ne: 4 })],
      ['PrivateTest', 'fer0000003.png', v({ su: 7, fe: 3 })],
      ['PrivateTest', 'fer0000004.png', v({ nf: 10 })], // dropped: not a face
    ] as const;
    const fer = ['emotion,pixels,Usage', ...rows.map(([u]) => `0,${px},${u}`), '3,1 2 3,Training'];
    const plus = [
      'Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF',
      ...rows.map(([u, n, vs]) => `${u},${n},${vs.join(',')}`),
      'Training,fer0000005.png,10,0,0,0,0,0,0,0,0,0',
    ];
    writeFileSync(path.join(d, 'fer2013.csv'), fer.join('\n') + '\n');
    writeFileSync(path.join(d, 'fer2013new.csv'), plus.join('\n') + '\n');
    const ds = await openDataset(d);
    expect(ds.format).toBe('ferplus');
    expect(ds.classes).toEqual(['anger', 'contempt', 'disgust', 'fear', 'happiness', 'neutral', 'sadness', 'surprise']);
    expect(ds.samples.map((s) => [s.id, s.split, ds.classes[s.label]])).toEqual([
      ['fer0000000.png', 'train', 'happiness'],
      ['fer0000002.png', 'valid', 'contempt'],
      ['fer0000003.png', 'test', 'surprise'],
    ]);
    expect(ds.notes).toContain('1 rows removed by FERPlus (empty image name)');
    expect(ds.notes).toContain('1 images dropped by the majority rule (unknown, non-face or no agreement)');
    expect(ds.problems.map(describeProblem)).toEqual([
      `${path.join(d, 'fer2013.csv')}:7: pixels has 3 values, expected 2304 (48×48)`,
    ]);
    const img = await decodeImage(ds.samples[0]!.source, 96);
    expect(img.data.length).toBe(96 * 96 * 3);
    const soft = await readFerplus(d, { mode: 'crossentropy' });
    expect(soft.samples.find((s) => s.id === 'fer0000002.png')!.target).toEqual([0, 0.6, 0, 0, 0, 0.4, 0, 0]);
    writeFileSync(path.join(d, 'fer2013new.csv'), 'Usage,Image,neutral\n');
    await expect(openDataset(d)).rejects.toThrow(/fer2013new\.csv:1: expected columns Usage,Image name,neutral,/);
  });
});

describe('validation split', () => {
  it('is stratified, seeded, recorded, and never touches the test split', async () => {
    const ds = {
      format: 'x',
      root: '',
      classes: ['a', 'b'],
      problems: [],
      samples: Array.from({ length: 60 }, (_, i) => ({
        id: `s${i}`,
        source: { kind: 'file' as const, path: '' },
        label: i < 40 ? 0 : 1,
        split: (i % 10 === 9 ? 'test' : 'train') as 'train' | 'test',
      })),
    };
    const a = carveValidation(ds, 0.25, 7);
    const counts = countsBySplit({ ...ds, samples: a.samples });
    expect(counts.valid).toEqual({ a: 9, b: 5 }); // 25 % of 36 and of 18, rounded
    expect(counts.test).toEqual({ a: 4, b: 2 });
    expect(carveValidation(ds, 0.25, 7).record.validIds).toEqual(a.record.validIds);
    expect(carveValidation(ds, 0.25, 8).record.validIds).not.toEqual(a.record.validIds);
    expect(applySplit(ds, a.record)).toEqual(a.samples);
    expect(() => applySplit({ ...ds, samples: ds.samples.slice(0, 10) }, a.record)).toThrow(/the data changed/);
  });
});

describe('augmentation', () => {
  const img = { width: 3, height: 2, data: Float32Array.from({ length: 18 }, (_, i) => i * 14) };

  it('horizontal flip is exact', () => {
    const f = hflip(img);
    // pixel (y=0, x=0) comes from (y=0, x=2)
    expect(Array.from(f.data.slice(0, 3))).toEqual(Array.from(img.data.slice(6, 9)));
    expect(Array.from(hflip(f).data)).toEqual(Array.from(img.data));
  });

  it('contrast follows (x − mean)·f + mean per channel, clipped to [0, 255]', () => {
    const f = 1.3;
    const out = adjustContrast(img, f);
    for (let c = 0; c < 3; c++) {
      const vals = [0, 1, 2, 3, 4, 5].map((p) => img.data[p * 3 + c]!);
      const mean = vals.reduce((a, b) => a + b, 0) / 6;
      vals.forEach((x, p) => expect(out.data[p * 3 + c]).toBeCloseTo(Math.min(255, Math.max(0, (x - mean) * f + mean)), 4));
    }
    expect(Math.max(...out.data)).toBeLessThanOrEqual(255);
    expect(out.data.some((v) => v === 255)).toBe(true); // 238·1.3 overshoots: clipped
  });

  it('the same seed gives the same augmentation; another seed does not', () => {
    const opts = { flip: true, contrast: 0.3, cropScale: 0.8, rotate: 10, brightness: 20, erase: 0.5 };
    const big = { width: 16, height: 16, data: Float32Array.from({ length: 768 }, (_, i) => (i * 37) % 256) };
    const run = (seed: number) => {
      const a = new Augmenter(opts, seed);
      return [0, 1, 2].map(() => Array.from(a.apply(big).data));
    };
    expect(run(3)).toEqual(run(3));
    expect(run(3)).not.toEqual(run(4));
  });
});

describe('synthetic faces', () => {
  it('writes a RAF-DB basic tree that the real reader reads, reproducibly from the seed', async () => {
    const d1 = tmp();
    const d2 = tmp();
    await writeSyntheticRafdb(d1, { seed: 5, trainPerClass: 2, testPerClass: 1 });
    await writeSyntheticRafdb(d2, { seed: 5, trainPerClass: 2, testPerClass: 1 });
    const ds = await openDataset(d1);
    expect(ds.problems).toEqual([]);
    expect(countsBySplit(ds).train).toEqual(Object.fromEntries(ds.classes.map((c) => [c, 2])));
    expect(countsBySplit(ds).test).toEqual(Object.fromEntries(ds.classes.map((c) => [c, 1])));
    const f = (d: string) => readFileSync(path.join(d, 'basic', 'Image', 'aligned', 'test_00003_aligned.jpg'));
    expect(f(d1).equals(f(d2))).toBe(true);
    const im = await decodeImage(path.join(d1, 'basic', 'Image', 'aligned', 'train_00001_aligned.jpg'), 100);
    expect(im.width).toBe(100);
  });
});

describe('synthetic FERPlus', () => {
  it('writes fer2013.csv + fer2013new.csv that the FERPlus reader reads, with every label rule exercised', async () => {
    const d = tmp();
    const { rows } = await writeSyntheticFerplus(d, { seed: 2, trainPerClass: 12, testPerClass: 4 });
    expect(rows).toBe(8 * 16);
    const ds = await openDataset(d);
    expect(ds.format).toBe('ferplus');
    expect(ds.problems).toEqual([]);
    const counts = countsBySplit(ds);
    expect(Object.keys(counts).sort()).toEqual(['test', 'train', 'valid']);
    const kept = ds.samples.length;
    // some rows are removed (empty name) or dropped (non-face, unknown, no majority)
    expect(kept).toBeLessThan(rows);
    expect(kept).toBeGreaterThan(rows * 0.8);
    expect(ds.notes!.join(' ')).toMatch(/rows removed by FERPlus/);
    const img = await decodeImage(ds.samples[0]!.source, 48);
    expect(img.data.length).toBe(48 * 48 * 3);
  });
});
