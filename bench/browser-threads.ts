/**
 * Benchmark: the web page's in-browser inference (onnxruntime-web, wasm) with one thread — what it
 * ran before the server made the page cross-origin isolated — against the default (one per core, up
 * to 4), in Debian's headless Chromium. A ConvNeXt-Base Conv-cut with random weights, 224×224, served
 * by `convcut serve` code on loopback; the page's own timing (status line: pixels → model → labels).
 * Each thread setting gets a fresh page (`?threads=1` and no parameter), alternating in rounds.
 *
 *   npx tsx bench/browser-threads.ts [--reps 5] [--rounds 2]   (needs /usr/bin/chromium and npm run build:web)
 */
import os from 'node:os';
import path from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { paramSpecs } from '../src/engine/describe.js';
import { ConvCutModel } from '../src/infer/convcut-model.js';
import { makeConfig } from '../src/model/config.js';
import { buildServer } from '../src/server/server.js';
import { initWeights } from '../src/weights/weight-map.js';
import { numberArg } from './lib/args.js';

const reps = numberArg('--reps', 5);
const rounds = numberArg('--rounds', 2);
const photo = path.join(import.meta.dirname, '..', 'node_modules', '@vladmandic', 'face-api', 'demo', 'sample1.jpg');

const cfg = makeConfig({ backbone: 'base' });
const weights = initWeights(paramSpecs(cfg), 1);
const model = await ConvCutModel.fromWeights(cfg, weights, { id: 'bench' });
const app = await buildServer(model);
const url = await app.listen({ port: 0, host: '127.0.0.1' });
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu'],
});

/** The page's status line after the next in-browser analysis, in ms. */
async function browserRun(page: Page): Promise<number> {
  await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('browser:'), undefined, {
    timeout: 300_000,
  });
  return Number(/browser: (\d+) ms/.exec((await page.textContent('#status')) ?? '')![1]);
}

async function measure(query: string): Promise<{ threads: number; ms: number[] }> {
  const page = await browser.newPage();
  await page.goto(`${url}/${query}`);
  await page.waitForSelector('body[data-ready=true]');
  const threads = await page.evaluate(() => (self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1));
  await page.check('input[name=engine][value=browser]');
  await page.setInputFiles('#file', photo);
  await browserRun(page); // warm-up: fetches the model and creates the session
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    // Switching the engine re-runs the analysis on the same image: server, then browser again.
    await page.check('input[name=engine][value=server]');
    await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('server:'));
    await page.check('input[name=engine][value=browser]');
    ms.push(await browserRun(page));
  }
  await page.close();
  return { threads: query ? 1 : threads, ms };
}

const runs = new Map<string, number[]>();
let manyThreads = 1;
for (let r = 0; r < rounds; r++)
  for (const q of ['?threads=1', '']) {
    const res = await measure(q);
    if (q === '') manyThreads = res.threads;
    runs.set(q, [...(runs.get(q) ?? []), ...res.ms]);
  }
await browser.close();
await app.close();
await model.dispose();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const one = median(runs.get('?threads=1')!);
const many = median(runs.get('')!);
console.log(
  `Date ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length}× ${os.cpus()[0]?.model}, Chromium headless (wasm); ConvNeXt-Base Conv-cut, ${reps} runs per page, ${rounds} rounds, median.\n`,
);
console.log('| onnxruntime-web wasm threads | ms per image (page timing) | vs 1 thread |');
console.log('|---|---|---|');
console.log(`| 1 (before: page not cross-origin isolated) | ${one} | 1.00× |`);
console.log(`| ${manyThreads} (default now) | ${many} | ${(one / many).toFixed(2)}× |`);
