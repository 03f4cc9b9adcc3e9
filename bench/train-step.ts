/**
 * Benchmark: one Conv-cut training step on ConvNeXt-Base (forward, loss, every gradient, Keras' Adam
 * with global-norm clipping), on convcut's ONNX Runtime step graph, against tuned PyTorch CPU doing
 * the same work in the same run (bench/torch_train_step.py: 2 threads, OpenBLAS, PASSIVE):
 *
 * - head        batch 16, on cached cut features (14×14×512)
 * - cut_block   batch 16, + block 23's depthwise conv and LayerNorm (input: block 22's output)
 * - two_blocks  batch 16, + block 22 whole (input: block 21's output): `--finetune 2`
 * - all         batch 8, every backbone unit from the images: `--finetune all`
 *
 *   npx tsx bench/train-step.ts [--steps 5] [--cases head,cut_block,two_blocks,all] [--no-torch]
 *
 * Each cell runs in a child process (so its peak RSS is its own); prints a table and JSON. The
 * epoch time is the step time × the steps of a 12,271-image RAF-DB epoch at that batch size.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { paramSpecs } from '../src/engine/describe.js';
import { makeConfig } from '../src/model/config.js';
import { convcutBackbone } from '../src/model/convcut.js';
import { OrtTrainer } from '../src/train/ort-trainer.js';
import { initWeights } from '../src/weights/weight-map.js';
import { numberArg, stringArg } from './lib/args.js';

const CASES = { head: [0, 16], cut_block: [1, 16], two_blocks: [2, 16], all: [-1, 8] } as const;
type Case = keyof typeof CASES;
const steps = numberArg('--steps', 5);

if (process.argv.includes('--child')) {
  const c = stringArg('--child', 'head') as Case;
  const cfg = makeConfig({ backbone: 'base' });
  const [u, batch] = CASES[c];
  const units = u < 0 ? convcutBackbone(cfg).length - 1 : u;
  const t0 = performance.now();
  const tr = await OrtTrainer.create(cfg, initWeights(paramSpecs(cfg), 0), { trainableBackboneUnits: units, seed: 1 });
  const createMs = performance.now() - t0;
  const shape = [batch, ...tr.inputShape];
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i) * (u < 0 ? 100 : 1));
  const labels = Int32Array.from({ length: batch }, (_, i) => i % 7);
  for (let i = 0; i < 2; i++) await tr.step({ data, shape }, labels);
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t = performance.now();
    await tr.step({ data, shape }, labels);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const rssMb = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({ case: c, batch, ms: times[times.length >> 1], min: times[0], createMs, rssMb }));
  await tr.dispose();
  process.exit(0);
}

const cases = stringArg('--cases', Object.keys(CASES).join(',')).split(',') as Case[];
const self = fileURLToPath(import.meta.url);
const ours = new Map<Case, { ms: number; min: number; rssMb: number; createMs: number }>();
for (const c of cases) {
  const out = execFileSync(process.execPath, ['--import', 'tsx', self, '--child', c, '--steps', String(steps)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  ours.set(c, JSON.parse(out.trim().split('\n').pop()!));
}
let torch: { ms_per_step: Record<string, number>; rss_mb?: Record<string, number>; torch: string } | undefined;
if (!process.argv.includes('--no-torch')) {
  const env = { ...process.env, OMP_NUM_THREADS: '2', OMP_WAIT_POLICY: 'PASSIVE' };
  const script = fileURLToPath(new URL('./torch_train_step.py', import.meta.url));
  const out = execFileSync('/usr/bin/python3', [script, '--reps', String(steps), '--cases', cases.join(',')], {
    encoding: 'utf8',
    env,
  });
  torch = JSON.parse(out.trim().split('\n').pop()!);
}
const epochSteps = (batch: number) => Math.ceil(12271 / batch);
console.log('| step | batch | convcut (ORT) ms | PyTorch ms | ratio | RAF-DB epoch | peak RSS |');
console.log('|---|---|---|---|---|---|---|');
for (const c of cases) {
  const o = ours.get(c)!;
  const batch = CASES[c][1];
  const t = torch?.ms_per_step[c];
  const epochMin = (o.ms * epochSteps(batch)) / 60000;
  console.log(
    `| ${c} | ${batch} | ${o.ms.toFixed(0)} (min ${o.min.toFixed(0)}) | ${t?.toFixed(0) ?? '—'} | ${t ? (o.ms / t).toFixed(2) : '—'} | ${epochMin.toFixed(1)} min | ${o.rssMb.toFixed(0)} MB |`,
  );
}
console.log(JSON.stringify({ ours: Object.fromEntries(ours), torch }));
