/**
 * What `convcut eval` reports beyond accuracy, recomputed here from its predictions.csv and the data
 * set's own files, independently of the report code: per-group figures from RAF-DB's manual
 * attribute files, a subset list, the flipped-view average, and a RAF-DB model on FERPlus with its
 * classes mapped by name.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticFerplus, writeSyntheticRafdb } from '../src/data/synthetic.js';
import { paramSpecs } from '../src/engine/describe.js';
import { saveCheckpoint } from '../src/weights/checkpoint.js';
import { initWeights } from '../src/weights/weight-map.js';
import { convcut, FIXTURES, smallConfig } from './helpers.js';

const root = mkdtempSync(path.join(tmpdir(), 'convcut-evalx-'));
const raf = path.join(root, 'raf');
const ferplus = path.join(root, 'ferplus');
const model = path.join(root, 'model.safetensors');

beforeAll(async () => {
  await writeSyntheticRafdb(raf, { seed: 4, trainPerClass: 2, testPerClass: 6 });
  await writeSyntheticFerplus(ferplus, { seed: 4, trainPerClass: 2, testPerClass: 4 });
  const cfg = smallConfig();
  const w = initWeights(paramSpecs(cfg), 8);
  for (const k of w.keys()) if (k.endsWith('.gamma')) w.get(k)!.data.fill(0.5); // predictions that vary
  await saveCheckpoint(model, cfg, w);
});

interface Row {
  file: string;
  truth: string;
  predicted: string;
}
function readPredictions(dir: string): Row[] {
  const [, ...lines] = readFileSync(path.join(dir, 'predictions.csv'), 'utf8').trim().split('\n');
  return lines.map((l) => {
    const [file, truth, predicted] = l.split(',') as [string, string, string];
    return { file, truth, predicted };
  });
}
const accuracy = (rows: Row[]) => rows.filter((r) => r.truth === r.predicted).length / rows.length;

describe('convcut eval extras', () => {
  it('per-group accuracy from the manual attribute files equals report.json, every code with a CI and the largest gap', async () => {
    const out = path.join(root, 'groups');
    const r = await convcut('eval', model, raf, '-o', out);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    const rows = readPredictions(out);
    // Read the attribute files as RAF-DB's README lays them out: 5 landmark lines, then gender, race, age.
    const codes = (file: string) => {
      const stem = path.basename(file).replace('_aligned.jpg', '');
      const lines = readFileSync(path.join(raf, 'basic', 'Annotation', 'manual', `${stem}_manu_attri.txt`), 'utf8')
        .trim()
        .split('\n');
      return { gender: Number(lines[5]), race: Number(lines[6]), age: Number(lines[7]) };
    };
    expect(report.fairness.images).toBe(rows.length);
    for (const attr of ['gender', 'race', 'age'] as const) {
      const groups = report.fairness[attr].groups as {
        code: number;
        n: number;
        accuracy: number;
        ci95: { accuracy: { low: number; high: number } };
      }[];
      const present = [...new Set(rows.map((x) => codes(x.file)[attr]))].sort();
      expect(groups.map((g) => g.code)).toEqual(present);
      for (const g of groups) {
        const mine = rows.filter((x) => codes(x.file)[attr] === g.code);
        expect(g.n).toBe(mine.length);
        expect(g.accuracy).toBeCloseTo(accuracy(mine), 12);
        expect(g.ci95.accuracy.low).toBeLessThanOrEqual(g.accuracy);
        expect(g.ci95.accuracy.high).toBeGreaterThanOrEqual(g.accuracy);
      }
      const accs = groups.map((g) => g.accuracy);
      expect(report.fairness[attr].largestGap.accuracy).toBeCloseTo(Math.max(...accs) - Math.min(...accs), 12);
    }
    expect(readFileSync(path.join(out, 'groups.png')).subarray(1, 4).toString()).toBe('PNG');
    expect(readFileSync(path.join(out, 'report.md'), 'utf8')).toMatch(/## Per group \(RAF-DB manual annotations, \d+ images\)/);
  });

  it('--subset keeps the listed images only and names the missing; --tta flip averages with the mirror image', async () => {
    const list = path.join(root, 'subset.txt');
    writeFileSync(
      list,
      '# pose subset\ntest_00001\ntest_00003_aligned.jpg\nImage/aligned/test_00005_aligned.jpg\nno_such_image\n',
    );
    const out = path.join(root, 'subset');
    const r = await convcut('eval', model, raf, '-o', out, '--subset', list, '--json');
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    expect(readPredictions(out).map((x) => path.basename(x.file))).toEqual([
      'test_00001_aligned.jpg',
      'test_00003_aligned.jpg',
      'test_00005_aligned.jpg',
    ]);
    expect(report.subset).toMatchObject({ listed: 4, found: 3, missing: ['no_such_image'] });

    const plain = path.join(root, 'plain');
    const flip = path.join(root, 'flip');
    await convcut('eval', model, raf, '-o', plain);
    expect((await convcut('eval', model, raf, '-o', flip, '--tta', 'flip')).code).toBe(0);
    const pRows = readFileSync(path.join(plain, 'predictions.csv'), 'utf8').trim().split('\n').slice(1);
    const fRows = readFileSync(path.join(flip, 'predictions.csv'), 'utf8').trim().split('\n').slice(1);
    expect(fRows).toHaveLength(pRows.length);
    expect(fRows).not.toEqual(pRows); // the mirror image changes the probabilities
    expect(JSON.parse(readFileSync(path.join(flip, 'report.json'), 'utf8')).tta).toBe('flip');

    // compare: the paired difference is the accuracy difference on the shared images, computed here.
    const cmp = path.join(root, 'compare');
    const c = await convcut('compare', plain, flip, plain, '-o', cmp);
    expect(c.code, c.stderr).toBe(0);
    const j = JSON.parse(readFileSync(path.join(cmp, 'compare.json'), 'utf8'));
    const want = accuracy(readPredictions(flip)) - accuracy(readPredictions(plain));
    expect(j.models[1].paired.difference).toBeCloseTo(want, 12);
    expect(j.models[1].paired.ci95.low).toBeLessThanOrEqual(want);
    expect(j.models[1].paired.ci95.high).toBeGreaterThanOrEqual(want);
    expect(j.models[2].paired).toMatchObject({ difference: 0, pValue: 1 }); // a model against itself
    expect(c.stdout).toMatch(/\| baseline \|/);
    expect(readFileSync(path.join(cmp, 'comparison.png')).subarray(1, 4).toString()).toBe('PNG');
    const none = await convcut('compare', plain, path.join(root, 'nothing-here'));
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/nothing-here: no report\.json with predictions\.csv here/);
  });

  it('a RAF-DB model on FERPlus: classes mapped by name, contempt left out and counted', async () => {
    const out = path.join(root, 'cross');
    const r = await convcut('eval', model, ferplus, '-o', out);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    expect(report.classMapping.unmapped).toEqual({ contempt: 4 });
    const rows = readPredictions(out);
    expect(rows.some((x) => x.truth === 'contempt')).toBe(false);
    expect(report.metrics.n).toBe(rows.length);
    expect(report.metrics.accuracy).toBeCloseTo(accuracy(rows), 12);
    expect(readFileSync(path.join(out, 'report.md'), 'utf8')).toMatch(/left out \(no such class in the model\): contempt 4/);

    // Soft FERPlus labels: predictions.csv carries each image's vote distribution (on the model's classes).
    const soft = path.join(root, 'cross-soft');
    expect((await convcut('eval', model, ferplus, '-o', soft, '--ferplus-mode', 'crossentropy')).code).toBe(0);
    const [header, ...lines] = readFileSync(path.join(soft, 'predictions.csv'), 'utf8').trim().split('\n');
    const cols = header!.split(',');
    const t = cols.flatMap((c, i) => (c.startsWith('target_') ? [i] : []));
    expect(t.map((i) => cols[i])).toEqual(smallConfig().head.classes.map((c) => `target_${c}`));
    for (const l of lines) {
      const v = l.split(',');
      const sum = t.reduce((a, i) => a + Number(v[i]), 0);
      expect(sum).toBeGreaterThan(0.5); // contempt's votes, if any, are dropped with the class
      expect(sum).toBeLessThanOrEqual(1 + 1e-5);
      // the true class is the top of the votes
      const top = t.reduce((b, i) => (Number(v[i]) > Number(v[b]) ? i : b), t[0]!);
      expect(cols[top]).toBe(`target_${v[1]}`);
    }
  });
});

describe('baselines', () => {
  it("face-api's classes map one to one onto convcut's, by its own label list", async () => {
    const { FACE_API_CLASSES } = await import('../src/eval/baselines.js');
    const { createRequire } = await import('node:module');
    const faceapi = createRequire(import.meta.url)('@vladmandic/face-api/dist/face-api.node-wasm.js') as {
      FACE_EXPRESSION_LABELS: string[];
    };
    expect(Object.keys(FACE_API_CLASSES).sort()).toEqual([...faceapi.FACE_EXPRESSION_LABELS].sort());
    expect(Object.values(FACE_API_CLASSES).sort()).toEqual(smallConfig().head.classes.slice().sort());
  });

  it("Human's output order is the one its own source gives its grayscale (oarriaga) emotion model", async () => {
    const { HUMAN_CLASSES } = await import('../src/eval/baselines.js');
    const src = readFileSync(
      path.join(path.dirname(FIXTURES), '..', 'node_modules', '@vladmandic', 'human', 'src', 'gear', 'emotion.ts'),
      'utf8',
    );
    const m = /if \(!rgb\) annotations = (\[[^\]]*\]);\s*\/\/ oarriaga/.exec(src);
    expect(m, "Human's gear/emotion.ts annotations line").not.toBeNull();
    expect(HUMAN_CLASSES.map(([theirs]) => theirs)).toEqual(JSON.parse(m![1]!.replaceAll("'", '"')));
    expect(HUMAN_CLASSES.map(([, ours]) => ours).sort()).toEqual(smallConfig().head.classes.slice().sort());
  });

  it('eval --baseline face-api|human: real photos through the same face pipeline, and the synthetic faces, in the same report', async () => {
    // Real photos no one here made, aligned by convcut's face pipeline, in class folders labelled by eye:
    // scikit-image's astronaut smiles broadly; matplotlib's Grace Hopper looks on, neutral.
    const { detectFaces } = await import('../src/infer/faces.js');
    const sharp = (await import('sharp')).default;
    const { mkdirSync } = await import('node:fs');
    const photos = path.join(root, 'photos');
    for (const [cls, file] of [
      ['happiness', '/usr/lib/python3/dist-packages/skimage/data/astronaut.png'],
      ['neutral', '/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg'],
    ] as const) {
      const [face] = await detectFaces(file, 112);
      mkdirSync(path.join(photos, cls), { recursive: true });
      await sharp(Buffer.from(Uint8Array.from(face!.aligned.data)), { raw: { width: 112, height: 112, channels: 3 } })
        .png()
        .toFile(path.join(photos, cls, `${path.basename(file, path.extname(file))}.png`));
    }
    for (const baseline of ['face-api', 'human']) {
      const out = path.join(root, `${baseline}-photos`);
      const r = await convcut('eval', '--baseline', baseline, photos, '-o', out, '--split', 'all');
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
      expect(report.model).toBe(`baseline:${baseline}`);
      expect(readPredictions(out).map((x) => [path.basename(x.file), x.predicted])).toEqual([
        ['astronaut.png', 'happiness'],
        ['grace_hopper.png', 'neutral'],
      ]);
    }
    const syn = path.join(root, 'face-api-synthetic');
    const s = await convcut('eval', '--baseline', 'face-api', raf, '-o', syn);
    expect(s.code, s.stderr).toBe(0);
    const sr = JSON.parse(readFileSync(path.join(syn, 'report.json'), 'utf8'));
    expect(sr.metrics.n).toBe(42);
    expect(sr.metrics.accuracy).toBeCloseTo(accuracy(readPredictions(syn)), 12);
    expect((await convcut('eval', '--baseline', 'face-api', model, raf)).stderr).toMatch(
      /give either a model .* or --baseline face-api, not both/,
    );
  });
});
