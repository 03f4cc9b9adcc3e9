/**
 * Peak memory of `convcut predict` on one image with a ConvNeXt-Base Conv-cut checkpoint (random
 * weights, same size as a trained one), fp32 and int8, measured as the child process' maximum RSS
 * (getrusage). Baseline in the same run: `convcut --version` (Node + tsx + CLI start-up).
 *
 *   npx tsx bench/predict-memory.ts      (needs Debian's `time` package: /usr/bin/time)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { paramSpecs } from '../src/engine/describe.js';
import { makeConfig } from '../src/model/config.js';
import { saveCheckpoint } from '../src/weights/checkpoint.js';
import { initWeights } from '../src/weights/weight-map.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'convcut-mem-'));
const cfg = makeConfig({ backbone: 'base' });
const ck = path.join(dir, 'base.safetensors');
await saveCheckpoint(ck, cfg, initWeights(paramSpecs(cfg), 0));
const img = path.join(dir, 'face.jpg');
await sharp({ create: { width: 100, height: 100, channels: 3, background: '#c09070' } })
  .jpeg()
  .toFile(img);
const bin = path.join(import.meta.dirname, '..', 'bin', 'convcut.js');

function peak(args: string[]): number {
  // /usr/bin/time reports the child's maximum resident set size (KiB).
  const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, bin, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return Number(r.stderr.trim().split('\n').at(-1)) / 1024;
}

const base = peak(['--version']);
const rows = [
  ['convcut --version (baseline)', base],
  ['predict, fp32', peak(['predict', '-m', ck, img])],
  ['predict, int8', peak(['predict', '-m', ck, img, '--precision', 'int8'])],
] as const;
console.log(
  `Date ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length}× ${os.cpus()[0]?.model}, Node ${process.version}; ConvNeXt-Base Conv-cut checkpoint (${(52118535 * 4) / 1e6} MB of fp32 weights), one 100×100 JPEG.\n`,
);
console.log('| command | peak RSS (MB) | vs baseline |');
console.log('|---|---|---|');
for (const [name, mb] of rows) console.log(`| ${name} | ${mb.toFixed(0)} | ${(mb / base).toFixed(1)}× |`);
