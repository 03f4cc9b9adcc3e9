/**
 * Fuzz (seeded, bounded): damaged model and weight files — a convcut checkpoint, its exported ONNX,
 * a timm safetensors — truncated, with flipped bytes or a wild 32-bit field in the header; and
 * damaged label files (RAF-DB's partition list, FERPlus' two CSVs). Each load either works (bad
 * lines reported as problems) or fails with an Error that names the file or folder: never a
 * TypeError from deep inside, a crash, or a hang.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeBackbone, paramSpecs } from '../src/engine/describe.js';
import { exportOnnx } from '../src/engine/onnx-export.js';
import { loadModel } from '../src/infer/convcut-model.js';
import { makeConfig } from '../src/model/config.js';
import { openDataset } from '../src/data/open-dataset.js';
import { writeSyntheticFerplus, writeSyntheticRafdb } from '../src/data/synthetic.js';
import { Rng } from '../src/util/rng.js';
import { saveCheckpoint } from '../src/weights/checkpoint.js';
import { loadPretrained } from '../src/weights/load-pretrained.js';
import { initWeights } from '../src/weights/weight-map.js';
import { FIXTURES } from './helpers.js';

describe('fuzz: damaged model and weight files', () => {
  it('300 mutations: each loads or fails with an Error naming the file', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'convcut-fuzz-'));
    const cfg = makeConfig({ backbone: 'test', cut: 'stage_1', inputSize: 112, head: { detailFilters: 16 } });
    const w = initWeights(paramSpecs(cfg), 1);
    const ck = path.join(dir, 'seed.safetensors');
    await saveCheckpoint(ck, cfg, w);
    const seeds = {
      checkpoint: readFileSync(ck),
      onnx: Buffer.from(exportOnnx(cfg, w)),
      timm: readFileSync(path.join(FIXTURES, 'torchvision', 'timm.safetensors')),
    };
    const specs = describeBackbone(makeConfig({ backbone: 'test', cut: 'stage_1', inputSize: 64 })).specs;
    const rng = new Rng(3);
    const failures: string[] = [];
    let failed = 0;
    for (let i = 0; i < 300; i++) {
      const kind = (['checkpoint', 'onnx', 'timm'] as const)[i % 3]!;
      const m = Buffer.from(seeds[kind]);
      const op = rng.int(3);
      let body = m;
      if (op === 0) body = m.subarray(0, rng.int(m.length));
      else if (op === 1) for (let j = 0; j <= rng.int(8); j++) m[rng.int(Math.min(m.length, 600))] = rng.int(256);
      else m.writeUInt32LE(rng.int(2 ** 32) >>> 0, Math.min(rng.int(Math.min(m.length, 400)), m.length - 4));
      const f = path.join(dir, `f${i}.${kind === 'onnx' ? 'onnx' : 'safetensors'}`);
      writeFileSync(f, body);
      try {
        if (kind === 'timm') await loadPretrained(f, specs);
        else await (await loadModel(f)).dispose();
      } catch (e) {
        failed++;
        if (!(e instanceof Error) || e.name === 'TypeError' || e.name === 'RangeError' || !e.message.includes(f))
          failures.push(`${kind} case ${i}: ${(e as Error).name}: ${(e as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
    expect(failed).toBeGreaterThan(100); // the mutations really break files
  }, 120_000);

  it('300 mutations of label files: each data set opens (problems reported) or fails naming it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'convcut-fuzz-data-'));
    const raf = path.join(dir, 'raf');
    const fer = path.join(dir, 'fer');
    await writeSyntheticRafdb(raf, { seed: 1, trainPerClass: 3, testPerClass: 1 });
    await writeSyntheticFerplus(fer, { seed: 1, trainPerClass: 3, testPerClass: 1 });
    const files = [
      path.join(raf, 'basic', 'EmoLabel', 'list_patition_label.txt'),
      path.join(fer, 'fer2013.csv'),
      path.join(fer, 'fer2013new.csv'),
    ];
    const originals = files.map((f) => readFileSync(f));
    const rng = new Rng(5);
    const failures: string[] = [];
    let problems = 0;
    for (let i = 0; i < 300; i++) {
      const t = i % 3;
      const m = Buffer.from(originals[t]!);
      const op = rng.int(4);
      let body = m;
      if (op === 0) body = m.subarray(0, rng.int(m.length));
      else if (op === 1) for (let j = 0; j <= rng.int(8); j++) m[rng.int(m.length)] = rng.int(256);
      else if (op === 2)
        for (let j = 0; j <= rng.int(4); j++) m[rng.int(m.length)] = [44, 10, 13, 34, 32, 45, 46][rng.int(7)]!; // , \n \r " space - .
      else
        body = Buffer.concat([
          m.subarray(0, rng.int(m.length)),
          Buffer.from([0xef, 0xbb, 0xbf, 0, 255]),
          m.subarray(rng.int(m.length)),
        ]);
      writeFileSync(files[t]!, body);
      const where = t === 0 ? raf : fer;
      try {
        const ferplusMode = (['majority', 'probability', 'crossentropy', 'multi-target'] as const)[i % 4];
        problems += (await openDataset(where, { ferplusMode })).problems.length;
      } catch (e) {
        if (!(e instanceof Error) || e.name === 'TypeError' || e.name === 'RangeError' || !e.message.includes(where))
          failures.push(`${path.basename(files[t]!)} case ${i}: ${(e as Error).name}: ${(e as Error).message}`);
      }
      writeFileSync(files[t]!, originals[t]!);
    }
    expect(failures).toEqual([]);
    expect(problems).toBeGreaterThan(50); // damaged lines are reported, not ignored
  }, 120_000);
});
