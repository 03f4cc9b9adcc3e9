/**
 * Models from strangers (issue "Safe to expose"): anyone can publish a checkpoint or an ONNX file
 * that `-m hf:…` loads. One that reads files beside it through ONNX external data is refused; class
 * names that are control characters or megabytes are refused when the model loads; class names that
 * are HTML load, and reach written reports as text (checked by opening the report in Chromium, with
 * the HTML's own rules, not by looking for the escaping this code does).
 */
import { existsSync, mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { paramSpecs } from '../src/engine/describe.js';
import { exportOnnx } from '../src/engine/onnx-export.js';
import { onnx } from '../src/engine/onnx-ops.js';
import { createSession, runSession } from '../src/engine/ort-session.js';
import { loadModel } from '../src/infer/convcut-model.js';
import { saveCheckpoint } from '../src/weights/checkpoint.js';
import { initWeights } from '../src/weights/weight-map.js';
import { convcut, smallConfig } from './helpers.js';

const root = mkdtempSync(path.join(tmpdir(), 'convcut-hostile-model-'));
const CHROMIUM = '/usr/bin/chromium';
const SECRET = 'the server owner\u2019s secret: 0123456789abcdef';
const cwd = process.cwd();
afterEach(() => process.chdir(cwd));

/** Rows of the leaked table: big enough that ONNX Runtime's optimisers leave it alone (as an attacker would). */
const ROWS = 16;

/**
 * A convcut export (its metadata intact) whose logits have one row of an external-data table at
 * `location` added: row 0, picked by an index computed from the image (always 0) so that no
 * constant folding touches it. Its probabilities then carry that file's bytes.
 */
function leakingOnnx(location: string): Uint8Array {
  const cfg = smallConfig();
  const model = onnx.ModelProto.decode(exportOnnx(cfg, initWeights(paramSpecs(cfg), 3)));
  const g = model.graph!;
  const [nodes, inits] = [g.node!, g.initializer!];
  const k = cfg.head.classes.length;
  const last = nodes.find((n) => n.output?.includes('logits'))!;
  last.output = last.output!.map((o) => (o === 'logits' ? 'honest_logits' : o));
  const external = [
    ['location', location],
    ['offset', '0'],
    ['length', String(4 * k * ROWS)],
  ].map(([key, value]) => ({ key, value }));
  inits.push(
    { name: 'leak', dims: [ROWS, k], dataType: 1, dataLocation: onnx.TensorProto.DataLocation.EXTERNAL, externalData: external },
    { name: 'zero', dims: [], dataType: 1, floatData: [0] },
  );
  const int = (name: string, i: number) => ({ name, type: onnx.AttributeProto.AttributeType.INT, i });
  nodes.push(
    { opType: 'ReduceMin', input: [g.input![0]!.name!], output: ['m'], attribute: [int('keepdims', 0)] },
    { opType: 'Mul', input: ['m', 'zero'], output: ['m0'] },
    { opType: 'Cast', input: ['m0'], output: ['row0'], attribute: [int('to', onnx.TensorProto.DataType.INT64)] },
    { opType: 'Gather', input: ['leak', 'row0'], output: ['leaked'], attribute: [int('axis', 0)] },
    { opType: 'Add', input: ['honest_logits', 'leaked'], output: ['logits'] },
  );
  return onnx.ModelProto.encode(model).finish();
}

/** The bytes of a ROWS × 7 float table whose first row is `row`. */
const table = (row: number[]) => {
  const t = new Float32Array(ROWS * 7);
  t.set(row);
  return Buffer.from(t.buffer);
};

describe('a model that reads files beside it', () => {
  it('is a real leak when ONNX Runtime loads it as it is, and loadModel refuses it in one line', async () => {
    const dir = path.join(root, 'leak');
    mkdirSync(dir, { recursive: true });
    const bytes = leakingOnnx('secret.txt');
    const file = path.join(dir, 'evil.onnx');
    writeFileSync(file, bytes);
    process.chdir(dir); // ONNX Runtime resolves a byte model's external data against the working folder

    // The control: loaded straight into ONNX Runtime, the file's bytes become the model's bias, so
    // its logits move by exactly the floats the file holds (the attacker reads them back).
    const s = smallConfig().inputSize;
    const logitsWith = async (content: Buffer) => {
      writeFileSync(path.join(dir, 'secret.txt'), content);
      const raw = await createSession(bytes);
      const out = await runSession(raw, { data: new Float32Array(s * s * 3).fill(128), shape: [1, s, s, 3] });
      await raw.release();
      return out.logits!.data as Float32Array;
    };
    const secret = [3.5, -1.25, 0.5, 2, -4, 1, 0.75];
    const zero = await logitsWith(table([0, 0, 0, 0, 0, 0, 0]));
    const leaked = await logitsWith(table(secret));
    leaked.forEach((v, i) => expect(v - zero[i]!).toBeCloseTo(secret[i]!, 4));
    writeFileSync(path.join(dir, 'secret.txt'), SECRET);

    await expect(loadModel(file)).rejects.toThrow(
      /reads tensors from other files \(.*"secret\.txt"\).*must hold all of its weights/,
    );
    const err = await loadModel(file).catch((e: Error) => e.message);
    expect(String(err).split('\n')).toHaveLength(1);
  });

  it('convcut predict -m refuses it, exits non-zero, and prints nothing of the file', async () => {
    const dir = path.join(root, 'leak-cli');
    mkdirSync(path.join(dir, '.ssh'), { recursive: true });
    writeFileSync(path.join(dir, '.ssh', 'id_rsa'), SECRET);
    writeFileSync(path.join(dir, 'evil.onnx'), leakingOnnx('.ssh/id_rsa'));
    const img = path.join(dir, 'face.png');
    await sharp({ create: { width: 64, height: 64, channels: 3, background: '#888' } })
      .png()
      .toFile(img);
    const r = await convcut('predict', '-m', path.join(dir, 'evil.onnx'), img, '--format', 'json');
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/evil\.onnx.*reads tensors from other files/);
    expect(r.stdout).toBe('');
  });

  it('an export with all of its weights inside still loads (the same model without the external bias)', async () => {
    const cfg = smallConfig();
    const file = path.join(root, 'plain.onnx');
    writeFileSync(file, exportOnnx(cfg, initWeights(paramSpecs(cfg), 3)));
    const m = await loadModel(file);
    expect(m.classes).toEqual(cfg.head.classes);
    await m.dispose();
  });
});

describe('class names from a model file', () => {
  const checkpointWith = async (classes: string[], name: string) => {
    const cfg = smallConfig({ head: { classes } });
    const file = path.join(root, `${name}.safetensors`);
    await saveCheckpoint(file, cfg, initWeights(paramSpecs(cfg), 5));
    return file;
  };
  const base = ['anger', 'disgust', 'fear', 'happiness', 'neutral', 'sadness'];

  for (const [what, bad] of [
    ['a control character', 'surprise\u0007'],
    ['a right-to-left override', 'surp\u202eesir'],
    ['a huge string', 'x'.repeat(100_000)],
    ['an empty name', ''],
    ['a line break', 'sur\nprise'],
  ] as const)
    it(`${what} is refused when the checkpoint loads, in one line`, async () => {
      const file = await checkpointWith([...base, bad], `bad-${what.replace(/\W/g, '')}`);
      const msg = await loadModel(file).then(
        () => 'loaded',
        (e: Error) => e.message,
      );
      expect(msg).toMatch(/network configuration is not usable \(class 6/);
      expect(msg.split('\n')).toHaveLength(1);
      expect(msg.length).toBeLessThan(400);
    });

  it('the same rule holds for an ONNX file (its convcut metadata)', async () => {
    const cfg = smallConfig({ head: { classes: [...base, 'a'.repeat(65)] } });
    const file = path.join(root, 'long-class.onnx');
    writeFileSync(file, exportOnnx(cfg, initWeights(paramSpecs(cfg), 3)));
    await expect(loadModel(file)).rejects.toThrow(/class 6: a name must be text of 1–64 characters/);
  });

  it.skipIf(!existsSync(CHROMIUM))('HTML class names load, and eval’s report.html shows them as text in Chromium', async () => {
    const hostile = [...base, '<img src=x onerror="window.__pwned=1">'];
    const model = await checkpointWith(hostile, 'html-classes');
    // A class-folder data set named like the model's classes, so eval maps every class.
    const data = path.join(root, 'html-data');
    for (const [i, c] of hostile.entries())
      for (const split of ['train', 'test']) {
        mkdirSync(path.join(data, split, c), { recursive: true });
        await sharp({ create: { width: 48, height: 48, channels: 3, background: { r: 30 * i, g: 90, b: 200 - 20 * i } } })
          .png()
          .toFile(path.join(data, split, c, `${split}${i}.png`));
      }
    const out = path.join(root, 'html-report');
    const r = await convcut('eval', model, data, '-o', out);
    expect(r.code, r.stderr).toBe(0);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
    try {
      const page = await browser.newPage();
      await page.goto(`file://${path.join(out, 'report.html')}`);
      await page.waitForLoadState('load');
      expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
      const cells = await page.locator('td').allTextContents();
      expect(cells).toContain(hostile[6]);
      expect(await page.locator('td img').count()).toBe(0);
    } finally {
      await browser.close();
    }
    expect(readFileSync(path.join(out, 'report.json'), 'utf8')).toContain('window.__pwned');
  });
});
