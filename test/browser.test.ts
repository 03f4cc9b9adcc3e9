/**
 * The web page in Debian's Chromium (playwright-core), served by `convcut serve` code: upload an
 * image, see the labels; the in-browser path (onnxruntime-web) gives the server's top-1.
 * Needs `npm run build:web` (npm test does it) and /usr/bin/chromium (.ci/run installs it).
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { paramSpecs } from '../src/engine/describe.js';
import { ConvCutModel } from '../src/infer/convcut-model.js';
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

    // an image at the model's input size, so both paths see identical pixels
    const img = path.join(ARTIFACTS, `upload-${provider}.png`);
    const raw = Buffer.alloc(112 * 112 * 3);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 37 + (i >> 7) * 11) % 256;
    await sharp(raw, { raw: { width: 112, height: 112, channels: 3 } })
      .png()
      .toFile(img);

    await page.check('input[name=engine][value=server]');
    await page.setInputFiles('#file', img);
    await page.waitForSelector('body[data-state=done]');
    const serverLabel = await page.textContent('.face .label');
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
      const { page, errors, offsite } = await openPage(browser, url);
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
      expect(errors).toEqual([]);
      expect(offsite).toEqual([]); // face-api's models come from the convcut server too
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
      const page = await browser.newPage();
      await page.goto(url);
      await page.waitForSelector('body[data-ready=true]');
      await page.click('#webcam');
      await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('browser'), undefined, {
        timeout: 60_000,
      });
      expect(cfg.head.classes).toContain(await page.textContent('.face .label'));
      expect(await page.textContent('#webcam')).toBe('Stop webcam');
      await page.screenshot({ path: path.join(ARTIFACTS, 'page-webcam.png') });
      await page.click('#webcam');
      expect(await page.textContent('#webcam')).toBe('Start webcam');
    } finally {
      await browser.close();
      await app.close();
      await model.dispose();
    }
  });
});

function cfgClasses(): string[] {
  return smallConfig().head.classes;
}
