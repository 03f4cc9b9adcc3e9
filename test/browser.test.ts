/**
 * The web page in Debian's Chromium (playwright-core), served by `convcut serve` code: upload an
 * image, see the labels; the in-browser path (onnxruntime-web) gives the server's top-1.
 * Needs `npm run build:web` (npm test does it) and /usr/bin/chromium (.ci/run installs it).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { paramSpecs } from '../src/engine/describe.js';
import { decodeImage } from '../src/data/image.js';
import { ConvCutModel } from '../src/infer/convcut-model.js';
import { checkProcessor, preprocess } from '../src/infer/processor.js';
import { makeConfig } from '../src/model/config.js';
import { buildServer, DEFAULT_WEB_DIR } from '../src/server/server.js';
import { initWeights } from '../src/weights/weight-map.js';
import { FIXTURES, smallConfig } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';

/**
 * Headless Chromium's WebGPU: its bundled SwiftShader gives a software adapter (correct, slow), so
 * the page's WebGPU path runs here; without these flags (and with --disable-gpu) the page has none
 * and uses wasm.
 */
const WEBGPU_FLAGS = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--enable-features=Vulkan'];

/** Debian's Chromium, headless, with a synthetic camera so the webcam path runs too. */
const launch = (gpu: string[] = ['--disable-gpu']) =>
  chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      ...gpu,
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
      '--disable-quic',
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
    ],
  });
/** The page at `url`, ready, with what it reports kept: uncaught errors, requests off the server, console errors. */
async function openPage(browser: Browser, url: string) {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const offsite: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(url) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) offsite.push(r.url());
  });
  const failed: string[] = [];
  // Chromium reports a failed favicon fetch only as a console error, not as a response event.
  page.on('console', (m) => {
    if (m.type() === 'error') failed.push(`${m.text()} ${m.location().url}`);
  });
  await page.goto(url);
  await page.waitForSelector('body[data-ready=true]');
  return { page, errors, offsite, failed };
}

const FACE_API_DEMO = path.join(path.dirname(FIXTURES), '..', 'node_modules', '@vladmandic', 'face-api', 'demo');
const ARTIFACTS = path.join(path.dirname(FIXTURES), '..', 'test-artifacts');

describe.skipIf(!existsSync(CHROMIUM))('web page in Chromium', () => {
  let app: FastifyInstance;
  let model: ConvCutModel;
  let url = '';

  beforeAll(async () => {
    if (!existsSync(path.join(DEFAULT_WEB_DIR, 'index.html')))
      throw new Error(`${DEFAULT_WEB_DIR} is not built: run npm run build:web`);
    const cfg = smallConfig();
    const weights = initWeights(paramSpecs(cfg), 21);
    model = await ConvCutModel.fromWeights(cfg, weights, { id: 'browser-test' });
    app = await buildServer(model);
    url = await app.listen({ port: 0, host: '127.0.0.1' });
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  afterAll(async () => {
    await app?.close();
    await model?.dispose();
  });

  for (const provider of ['wasm', 'webgpu'] as const)
    it(`upload → labels on the page (server), and the in-browser model (${provider}) gives the same top-1`, async () => {
      const browser = await launch(provider === 'webgpu' ? WEBGPU_FLAGS : undefined);
      try {
        await uploadAndCompare(browser, provider);
      } finally {
        await browser.close();
      }
    });

  async function uploadAndCompare(browser: Browser, provider: 'wasm' | 'webgpu') {
    const { page, errors, offsite, failed } = await openPage(browser, url);
    expect(await page.textContent('#model-info')).toMatch(/7 expressions/);
    // The server's COOP/COEP headers isolate the page, so onnxruntime-web below runs on threads.
    expect(await page.evaluate(() => self.crossOriginIsolated)).toBe(true);

    // an image larger than the model's input: the page resizes it by the server's processor, so
    // both paths see identical pixels (the probabilities are compared below)
    const img = path.join(ARTIFACTS, `upload-${provider}.png`);
    const [w, h] = [151, 131];
    const raw = Buffer.alloc(w * h * 3);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 37 + (i >> 7) * 11) % 256;
    await sharp(raw, { raw: { width: w, height: h, channels: 3 } })
      .png()
      .toFile(img);

    await page.check('input[name=engine][value=server]');
    await page.setInputFiles('#file', img);
    await page.waitForSelector('body[data-state=done]');
    const serverLabel = await page.textContent('.face .label');
    const serverBars = await bars(page);
    expect(cfgClasses()).toContain(serverLabel);
    expect(await page.locator('.bar').count()).toBe(7);
    await page.screenshot({ path: path.join(ARTIFACTS, 'page-server.png'), fullPage: true });

    await page.check('input[name=engine][value=browser]');
    await page.waitForSelector('body[data-state=done]', { timeout: 60_000 });
    await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('browser'), undefined, {
      timeout: 60_000,
    });
    const browserLabel = await page.textContent('.face .label');
    await page.screenshot({ path: path.join(ARTIFACTS, `page-browser-${provider}.png`), fullPage: true });
    expect(await page.getAttribute('body', 'data-provider')).toBe(provider);
    expect(await page.textContent('#status')).toMatch(new RegExp(`^browser \\(${provider}\\): \\d+ ms$`));
    expect(browserLabel).toBe(serverLabel);
    const browserBars = await bars(page);
    for (const [label, p] of serverBars) expect(Math.abs(browserBars.get(label)! - p), label).toBeLessThanOrEqual(0.15);
    const [lib] = await model.predict([img]);
    expect(serverLabel).toBe(lib!.label);
    expect(errors).toEqual([]);
    expect(offsite).toEqual([]); // every asset from the convcut server
    expect(failed).toEqual([]); // no console errors, e.g. no 404 for /favicon.ico (the page declares none)
  }
});

describe.skipIf(!existsSync(CHROMIUM))('web page faces', () => {
  it('finds the faces of a group photo in the browser, as many as the server finds, one result per face', async () => {
    const cfg = smallConfig();
    const model = await ConvCutModel.fromWeights(cfg, initWeights(paramSpecs(cfg), 23));
    const app = await buildServer(model);
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const browser = await launch();
    try {
      const { page, errors, offsite, failed } = await openPage(browser, url);
      await page.check('#faces');
      const photo = path.join(path.dirname(FIXTURES), '..', 'node_modules', '@vladmandic', 'face-api', 'demo', 'sample1.jpg');
      await page.check('input[name=engine][value=server]');
      await page.setInputFiles('#file', photo);
      await page.waitForSelector('body[data-state=done]');
      const serverFaces = await page.locator('.face').count();
      expect(serverFaces).toBe(3); // the photo shows three people
      await page.check('input[name=engine][value=browser]');
      await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('browser'), undefined, {
        timeout: 120_000,
      });
      expect(await page.locator('.face').count()).toBe(serverFaces);
      for (const label of await page.locator('.face .label').allTextContents()) expect(cfg.head.classes).toContain(label);
      await page.screenshot({ path: path.join(ARTIFACTS, 'page-browser-faces.png'), fullPage: true });
      // Information only: the page's time for the faces and their labels, first with the face graphs'
      // download and set-up, then again on the same picture.
      const first = await page.textContent('#status');
      await page.check('input[name=engine][value=server]');
      await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('server'));
      await page.check('input[name=engine][value=browser]');
      await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('browser'));
      expect(await page.locator('.face').count()).toBe(serverFaces);
      console.log(`faces of sample1.jpg in the browser: ${first}; again: ${await page.textContent('#status')}`);
      expect(errors).toEqual([]);
      expect(offsite).toEqual([]); // the face graphs come from the convcut server too
      expect(failed).toEqual([]); // nothing refused by the page's Content-Security-Policy (onnxruntime-web, workers)
    } finally {
      await browser.close();
      await app.close();
      await model.dispose();
    }
  }, 180_000);
});

describe.skipIf(!existsSync(CHROMIUM))('web page webcam', () => {
  it('labels frames from a (fake) camera in the browser until stopped', async () => {
    const cfg = smallConfig();
    const weights = initWeights(paramSpecs(cfg), 22);
    const model = await ConvCutModel.fromWeights(cfg, weights);
    const app = await buildServer(model);
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const browser = await launch();
    try {
      const { page, errors, failed } = await openPage(browser, url);
      await page.click('#webcam');
      await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('browser'), undefined, {
        timeout: 60_000,
      });
      expect(cfg.head.classes).toContain(await page.textContent('.face .label'));
      expect(await page.textContent('#webcam')).toBe('Stop webcam');
      // The live timeline gathers a point per labelled frame.
      await page.waitForSelector('#timeline:not([hidden])[data-points="3"]', { timeout: 60_000 });
      await page.screenshot({ path: path.join(ARTIFACTS, 'page-webcam.png') });
      await page.click('#webcam');
      expect(await page.textContent('#webcam')).toBe('Start webcam');
      expect(await page.isHidden('#timeline')).toBe(true);
      expect(errors).toEqual([]);
      expect(failed).toEqual([]); // the camera and its timeline work under the page's Content-Security-Policy
    } finally {
      await browser.close();
      await app.close();
      await model.dispose();
    }
  });
});

describe.skipIf(!existsSync(CHROMIUM))('web page with a hostile model, behind an API key', () => {
  it('asks for the key, runs under its CSP, and shows HTML class names as text (server and browser)', async () => {
    const hostile = '<img src=x onerror="window.__pwned=1">';
    const cfg = smallConfig({ head: { classes: [...cfgClasses().slice(0, 6), hostile] } });
    const model = await ConvCutModel.fromWeights(cfg, initWeights(paramSpecs(cfg), 25));
    const key = 'k3y-for-the-browser-test-0123';
    const app = await buildServer(model, { apiKey: key });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const browser = await launch();
    try {
      const res = await fetch(url);
      expect(res.headers.get('content-security-policy')).toMatch(/script-src 'self'[^;]*;.*frame-ancestors 'none'/);
      expect(res.headers.get('content-security-policy')).not.toMatch(/unsafe-inline/);
      expect((await fetch(`${url}/v1/model`)).status).toBe(401);

      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text())); // a CSP violation is one
      await page.goto(url);
      await page.waitForSelector('#api-key:not([hidden])');
      await page.fill('#api-key-input', 'not-the-key-000000000');
      await page.click('#api-key button');
      await page.waitForSelector('#api-key-problem:text("refused")');
      await page.fill('#api-key-input', key);
      await page.click('#api-key button');
      await page.waitForSelector('body[data-ready=true]');
      expect(await page.textContent('#model-info')).toContain(hostile);

      const img = path.join(ARTIFACTS, 'upload-hostile.png');
      mkdirSync(ARTIFACTS, { recursive: true });
      await sharp({ create: { width: 90, height: 70, channels: 3, background: '#7a6' } })
        .png()
        .toFile(img);
      for (const engine of ['server', 'browser']) {
        await page.check(`input[name=engine][value=${engine}]`);
        if (engine === 'server') await page.setInputFiles('#file', img);
        await page.waitForFunction((e) => document.getElementById('status')?.textContent?.startsWith(e), engine, {
          timeout: 60_000,
        });
        expect([...(await bars(page)).keys()]).toContain(hostile);
        expect(await page.locator('#results img').count()).toBe(0);
      }
      expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
      // The 401s before the key was given are the only errors Chromium logs.
      expect(errors.filter((e) => !/401/.test(e))).toEqual([]);
    } finally {
      await browser.close();
      await app.close();
      await model.dispose();
    }
  }, 120_000);
});

function cfgClasses(): string[] {
  return smallConfig().head.classes;
}

/** The page's probability bars: class → percent shown. */
async function bars(page: Page): Promise<Map<string, number>> {
  const rows = await page
    .locator('.bar')
    .evaluateAll((els) => els.map((e) => [e.children[0]!.textContent!, e.children[2]!.textContent!]));
  return new Map(rows.map(([label, pct]) => [label!, Number.parseFloat(pct!)]));
}

/** Mean and max |a − b| over two equally long pixel arrays. */
function pixelDiff(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; mean: number } {
  expect(a.length).toBe(b.length);
  let [max, sum] = [0, 0];
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.length };
}

/** sharp's resize of the fully decoded file: a pipeline colourspace turns its JPEG shrink-on-load off. */

describe.skipIf(!existsSync(CHROMIUM))('web page model input', () => {
  it("is Node's input on a real photo (the processor's resize), where a canvas drawImage resize is not", async () => {
    const cfg = makeConfig({ backbone: 'test' }); // 224 px, as every real model
    const model = await ConvCutModel.fromWeights(cfg, initWeights(paramSpecs(cfg), 24));
    const app = await buildServer(model);
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const browser = await launch();
    try {
      const { page } = await openPage(browser, url);
      const info = await page.evaluate(async () => (await fetch('/v1/model')).json());
      const processor = checkProcessor(info.processor);
      for (const file of ['/usr/lib/python3/dist-packages/skimage/data/astronaut.png', path.join(FACE_API_DEMO, 'sample1.jpg')]) {
        // Decoded by Chromium as the page decodes; resized there by canvas (what the page did), and here by the processor.
        const got = await page.evaluate(
          async ([b64, n]) => {
            const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
            const bmp = await createImageBitmap(new Blob([bytes]), { imageOrientation: 'from-image' });
            const full = new OffscreenCanvas(bmp.width, bmp.height).getContext('2d')!;
            full.drawImage(bmp, 0, 0);
            const small = new OffscreenCanvas(n, n).getContext('2d')!;
            small.imageSmoothingEnabled = true;
            small.imageSmoothingQuality = 'medium';
            small.drawImage(bmp, 0, 0, bmp.width, bmp.height, 0, 0, n, n);
            const b = (px: Uint8ClampedArray) => Array.from(px, (v) => String.fromCharCode(v)).join('');
            return {
              w: bmp.width,
              h: bmp.height,
              full: btoa(b(full.getImageData(0, 0, bmp.width, bmp.height).data)),
              canvas: btoa(b(small.getImageData(0, 0, n, n).data)),
            };
          },
          [readFileSync(file).toString('base64'), processor.size] as const,
        );
        const rgba = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
        const node = (await decodeImage(file, processor.size)).data;
        const oursInput = preprocess(processor, { data: rgba(got.full), width: got.w, height: got.h, channels: 4 });
        const ours = pixelDiff(oursInput, node);
        const canvasRgba = rgba(got.canvas);
        const canvas = pixelDiff(
          Float32Array.from({ length: node.length }, (_, i) => canvasRgba[Math.floor(i / 3) * 4 + (i % 3)]!),
          node,
        );
        console.log(
          `${path.basename(file)}: page's input vs Node's: processor max ${ours.max} mean ${ours.mean.toFixed(3)}; canvas max ${canvas.max} mean ${canvas.mean.toFixed(3)}`,
        );
        // The same pixels, PNG and JPEG (decodeImage does not shrink JPEGs on load, as no browser can).
        expect(ours).toEqual({ max: 0, mean: 0 });
        expect(ours.mean).toBeLessThan(canvas.mean / 2);
      }
    } finally {
      await browser.close();
      await app.close();
      await model.dispose();
    }
  }, 120_000);
});
