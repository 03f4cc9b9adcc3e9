/**
 * Child process of wasm-threads.test.ts (tfjs' thread count is fixed when it starts): three training
 * steps of the small Conv-cut with its last two backbone units trainable, on `--threads` wasm
 * threads. Prints the thread count tfjs runs and a hash of every parameter afterwards.
 */
import { createHash } from 'node:crypto';
import { paramSpecs } from '../src/engine/describe.js';
import { initTf, tf, tfThreads } from '../src/engine/tfjs-backend.js';
import { TfjsOps, TfjsParams } from '../src/engine/tfjs-ops.js';
import { convcutBackbone } from '../src/model/convcut.js';
import { runUnits } from '../src/model/convnext.js';
import { TfjsTrainer } from '../src/train/tfjs-trainer.js';
import { initWeights } from '../src/weights/weight-map.js';
import { fakeImages, smallConfig } from './helpers.js';

const threads = Number(process.argv[process.argv.indexOf('--threads') + 1]);
await initTf('wasm', { threads });
const cfg = smallConfig();
const weights = initWeights(paramSpecs(cfg), 3);
const images = tf.tensor4d(fakeImages(8, 112, 5), [8, 112, 112, 3]);
const units = convcutBackbone(cfg);
const frozen = new TfjsParams(weights);
const input = runUnits(new TfjsOps(frozen, false), images, units.slice(0, units.length - 2));
const trainer = new TfjsTrainer(cfg, weights, { trainableBackboneUnits: 2, seed: 4 });
const labels = Int32Array.from({ length: 8 }, (_, i) => i % 7);
for (let i = 0; i < 3; i++) trainer.step(input, labels);
const hash = createHash('sha256');
for (const [name, w] of await trainer.params.toWeights()) hash.update(name).update(new Uint8Array(w.data.buffer));
console.log(JSON.stringify({ threads: tfThreads(), hash: hash.digest('hex') }));
// No process.exit: the test also checks that the pool's worker threads let the process end.
