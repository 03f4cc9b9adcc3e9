/** `convcut data` as users run it. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { convcut } from './helpers.js';

describe('convcut data', () => {
  it('synth + inspect --json: format, per-split class counts by name, problems with file and line', async () => {
    const d = mkdtempSync(path.join(tmpdir(), 'convcut-clidata-'));
    const synth = await convcut('data', 'synth', d, '--train-per-class', '2', '--test-per-class', '1', '--seed', '3');
    expect(synth.code).toBe(0);
    const labels = path.join(d, 'basic', 'EmoLabel', 'list_patition_label.txt');
    writeFileSync(labels, 'train_00001.jpg 1\ntrain_00002.jpg 0\ntest_00099.jpg 4\n', { flag: 'a' });
    writeFileSync(path.join(d, 'basic', 'Image', 'aligned', 'train_00003_aligned.jpg'), 'not a jpeg');
    const r = await convcut('data', 'inspect', d, '--json');
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.format).toBe('rafdb-basic (aligned)');
    expect(rep.counts.test).toEqual({ anger: 1, disgust: 1, fear: 1, happiness: 1, neutral: 1, sadness: 1, surprise: 1 });
    // 14 + 1 re-listed train images, minus the corrupt one
    expect(Object.values(rep.counts.train as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(14);
    expect(rep.badImages).toBe(1);
    expect(rep.problems).toEqual([
      { file: labels, line: 23, message: 'label "0" is not 1..7' },
      {
        file: labels,
        line: 24,
        message: `lists test_00099_aligned.jpg, which is not in ${path.join(d, 'basic', 'Image', 'aligned')}`,
      },
      { file: path.join(d, 'basic', 'Image', 'aligned', 'train_00003_aligned.jpg'), message: expect.stringMatching(/.+/) },
    ]);
    const human = await convcut('data', 'inspect', d, '--no-images');
    expect(human.stdout).toMatch(/rafdb-basic \(aligned\), 7 classes, 22 usable images \(images not decoded\)/);
    expect(human.stdout).toMatch(/list_patition_label\.txt:23: label "0" is not 1\.\.7/);
  });

  it('exits non-zero when nothing is usable, and names the folder', async () => {
    const d = mkdtempSync(path.join(tmpdir(), 'convcut-clidata-'));
    mkdirSync(path.join(d, 'happy'));
    writeFileSync(path.join(d, 'happy', 'x.jpg'), '');
    const r = await convcut('data', 'inspect', d);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`convcut: ${d}: no usable images`));
    const missing = await convcut('data', 'inspect', path.join(d, 'nope'));
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe(`convcut: ${path.join(d, 'nope')}: no such file or folder`);
  });
});

describe('numeric options', () => {
  it('a bad number or choice stops the command before it starts, naming the option and what it expects', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['predict', '-m', 'm.onnx', 'a.jpg', '--batch-size', 'abc'],
        /'--batch-size <n>' argument 'abc' is invalid\. expected a whole number ≥ 1/,
      ],
      [['eval', 'm.onnx', 'data', '--batch-size', '0'], /'--batch-size <n>' argument '0' is invalid/],
      [
        ['train', 'data', '-o', 'out', '--finetune', 'two'],
        /'--finetune <n>' argument 'two' is invalid\. expected a whole number ≥ 0 or "all"/,
      ],
      [['train', 'data', '-o', 'out', '--epochs', '100,x'], /'--epochs <n>' argument '100,x' is invalid/],
      [['train', 'data', '-o', 'out', '--valid-fraction', '1'], /'--valid-fraction <x>' argument '1' is invalid/],
      [['train', 'data', '-o', 'out', '--lr', '-1e-3'], /'--lr <x>' argument '-1e-3' is invalid\. expected a number > 0/],
      [['serve', '-m', 'm.onnx', '--port', '80.5'], /'--port <n>' argument '80\.5' is invalid/],
      [
        ['predict', '-m', 'm.onnx', 'a.jpg', '--precision', 'int4'],
        /'--precision <p>' argument 'int4' is invalid\. expected one of fp32, int8, fp16, got "int4"/,
      ],
      // Choices: a typo used to run something else silently (the default recipe, no attention).
      [
        ['train', 'data', '-o', 'out', '--recipe', 'refrence'],
        /'--recipe <name>' argument 'refrence' is invalid\. expected one of default, reference, got "refrence" \(did you mean reference\?\)/,
      ],
      [
        ['train', 'data', '-o', 'out', '--attention', 'foo'],
        /'--attention <mode>' argument 'foo' is invalid\. expected one of token, batch, none/,
      ],
      [['eval', 'm.onnx', 'data', '--split', 'tets'], /'--split <split>'.*did you mean test\?/],
      [
        ['predict', '-m', 'm.onnx', 'a.jpg', '--format', 'xml'],
        /'--format <f>' argument 'xml' is invalid\. expected one of table, json, csv/,
      ],
      [['data', 'inspect', 'd', '--ferplus-mode', 'majorty'], /did you mean majority\?/],
    ];
    for (const [args, message] of cases) {
      const r = await convcut(...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(message);
    }
  });
});
