/**
 * Loopback load test of `convcut serve`: autocannon against POST /v1/predict (a 100×100 JPEG face,
 * raw body) for a fixed duration and connection count, on the model `convcut demo` trains (or a
 * random `test`-size model). Reports requests/s, latency p50/p99, errors, and the server's RSS
 * before / after, against GET /healthz in the same run as the baseline. Then a flood of bad images
 * (5 kB of noise sent as image/jpeg, every answer a 422) and the RSS after it: it must stay flat.
 * Then POST /v1/predict?faces=true with face-api's demo/sample2.jpg (three faces, 1.5 MP): the face
 * networks under load (the server runs two detections at once and queues four: past that, 503).
 *
 *   npx tsx bench/server-load.ts [--model convcut-demo/run/best.safetensors] [--seconds 20] [--connections 8]
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { paramSpecs } from '../src/engine/describe.js';
import { ConvCutModel } from '../src/infer/convcut-model.js';
import { makeConfig } from '../src/model/config.js';
import { buildServer } from '../src/server/server.js';
import { loadCheckpoint } from '../src/weights/checkpoint.js';
import { initWeights } from '../src/weights/weight-map.js';

const arg = (k: string, d: string) => (process.argv.includes(k) ? process.argv[process.argv.indexOf(k) + 1]! : d);
const seconds = Number(arg('--seconds', '20'));
const connections = Number(arg('--connections', '8'));
const modelFile = arg('--model', '');

let model: ConvCutModel;
let label: string;
if (modelFile) {
  const ck = await loadCheckpoint(modelFile);
  model = await ConvCutModel.fromWeights(ck.meta.config, ck.weights, { id: modelFile });
  label = `${modelFile} (${ck.meta.config.backbone.size}, ${ck.meta.config.inputSize}px)`;
} else {
  const cfg = makeConfig({ backbone: 'test', cut: 'stage_1', inputSize: 112, head: { detailFilters: 64 } });
  model = await ConvCutModel.fromWeights(cfg, initWeights(paramSpecs(cfg), 1), { id: 'random-test' });
  label = 'random `test` ConvNeXt cut at stage 1, 112 px (the demo configuration)';
}
const app = await buildServer(model, { maxQueue: 256 });
const url = await app.listen({ port: 0, host: '127.0.0.1' });
const face = await sharp({ create: { width: 100, height: 100, channels: 3, background: '#b08070' } })
  .composite([{ input: Buffer.from('<svg width="100" height="100"><circle cx="50" cy="50" r="35" fill="#e0b090"/></svg>') }])
  .jpeg()
  .toBuffer();

const group = await readFile(
  path.join(path.dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')), 'demo', 'sample2.jpg'),
);

const run = (path: string, method: 'GET' | 'POST', body?: Buffer, duration = seconds) =>
  autocannon({ url: url + path, method, body, headers: body ? { 'content-type': 'image/jpeg' } : {}, connections, duration });

await run('/v1/predict', 'POST', face, 3); // warm-up: sessions, allocator, JIT
const rss0 = process.memoryUsage().rss;
const health = await run('/healthz', 'GET');
const predict = await run('/v1/predict', 'POST', face);
const rss1 = process.memoryUsage().rss;
const junk = Array.from({ length: 64 }, (_, i) =>
  Buffer.from(new Uint8Array(5000).map((_, j) => (i * 131 + j * 7919 + ((j * j) >> 3)) & 255)),
);
let next = 0;
const bad = await autocannon({
  url: url + '/v1/predict',
  method: 'POST',
  headers: { 'content-type': 'image/jpeg' },
  connections: 16,
  duration: seconds,
  setupClient: (c) => c.setBody(junk[next++ % junk.length]!),
});
const rss2 = process.memoryUsage().rss;
await run('/v1/predict?faces=true', 'POST', group, 3); // warm-up: the face networks load
const rss3 = process.memoryUsage().rss;
const faces = await run('/v1/predict?faces=true', 'POST', group);
const rss4 = process.memoryUsage().rss;
await app.close();
await model.dispose();

console.log(
  `Date ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length}× ${os.cpus()[0]?.model}, Node ${process.version}; model: ${label}.`,
);
console.log(`autocannon in-process on loopback, ${connections} connections, ${seconds} s each.\n`);
console.log('| endpoint | requests/s | p50 ms | p99 ms | non-2xx | errors |');
console.log('|---|---|---|---|---|---|');
for (const [name, r] of [
  ['GET /healthz (baseline)', health],
  ['POST /v1/predict (JPEG body)', predict],
  ['POST /v1/predict (5 kB of noise: 422), 16 connections', bad],
  ['POST /v1/predict?faces=true (sample2.jpg, 3 faces)', faces],
] as const) {
  console.log(
    `| ${name} | ${r.requests.average.toFixed(0)} | ${r.latency.p50} | ${r.latency.p99} | ${r.non2xx} | ${r.errors + r.timeouts} |`,
  );
}
console.log(
  `\npredict throughput is ${((100 * predict.requests.average) / health.requests.average).toFixed(1)} % of the health-check baseline; server process RSS after warm-up ${(rss0 / 1e6).toFixed(0)} MB, after both runs ${(rss1 / 1e6).toFixed(0)} MB, after ${bad.requests.total} rejected requests ${(rss2 / 1e6).toFixed(0)} MB.`,
);
console.log(
  `faces: ${faces.requests.total} answered (${faces['2xx']} with faces, ${faces.non2xx} turned away: 503 past the detection queue); RSS before the faces run ${(rss3 / 1e6).toFixed(0)} MB, after ${(rss4 / 1e6).toFixed(0)} MB.`,
);
