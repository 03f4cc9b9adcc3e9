import { paramSpecs } from './src/engine/describe.js';
import { makeConfig } from './src/model/config.js';
import { OrtTrainer } from './src/train/ort-trainer.js';
import { initWeights } from './src/weights/weight-map.js';
const cfg = makeConfig({ backbone: 'base' });
const tr = await OrtTrainer.create(cfg, initWeights(paramSpecs(cfg), 0), { trainableBackboneUnits: Number(process.argv[2] ?? 0), seed: 1 });
const shape = [16, ...tr.inputShape];
const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i));
const labels = Int32Array.from({ length: 16 }, (_, i) => i % 7);
const s = (tr as any).stepSession;
const orig = s.run.bind(s);
s.run = async (f: any) => { const t = performance.now(); const r = await orig(f); console.log('  run', (performance.now() - t).toFixed(0)); return r; };
for (let i = 0; i < 8; i++) { const t = performance.now(); await tr.step({ data, shape }, labels); console.log('step', (performance.now() - t).toFixed(0)); }
