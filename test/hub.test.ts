/**
 * Weights and models by name (weights/sources.ts, hub.ts, download.ts) against a stand-in Hub on
 * 127.0.0.1 (hub-server.ts): the Hub cache layout Python's huggingface_hub uses, no request on
 * second use, offline use, resumed and corrupted downloads, concurrent fetches, one-line errors,
 * and `predict -m hf:…` equal to `predict -m <file>`. No test touches the real network.
 */
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { describeBackbone, paramSpecs } from '../src/engine/describe.js';
import { makeConfig } from '../src/model/config.js';
import { saveCheckpoint } from '../src/weights/checkpoint.js';
import { loadPretrained } from '../src/weights/load-pretrained.js';
import { resolveModel, resolveWeights } from '../src/weights/sources.js';
import { initWeights } from '../src/weights/weight-map.js';
import { FakeHub, sha256 } from './hub-server.js';
import { convcut, FIXTURES, smallConfig } from './helpers.js';

const hub = new FakeHub();
const timm = readFileSync(path.join(FIXTURES, 'torchvision', 'timm.safetensors'));
const tv = readFileSync(path.join(FIXTURES, 'torchvision', 'torchvision.safetensors'));
const COMMIT = 'a'.repeat(40);
const specs = describeBackbone(makeConfig({ backbone: 'test', cut: 'stage_2', inputSize: 64 })).specs;
let home = '';

beforeAll(async () => {
  hub.add('timm/convnext_test', {
    commit: COMMIT,
    files: { 'model.safetensors': timm, 'README.md': Buffer.from('# card\n') },
    lfs: (f) => f !== 'README.md',
  });
  hub.add('tv/convnext', {
    commit: 'b'.repeat(40),
    revisions: ['v1'],
    files: { 'weights/torchvision.safetensors': tv, 'other.bin': Buffer.alloc(3) },
  });
  hub.add('org/gated', { commit: 'c'.repeat(40), files: { 'model.safetensors': timm }, token: 'secret' });
  process.env.HF_ENDPOINT = await hub.start();
});
afterAll(() => hub.stop());
beforeEach(() => {
  home = mkdtempSync(path.join(tmpdir(), 'convcut-hub-'));
  process.env.HF_HOME = home;
  process.env.CONVCUT_CACHE = path.join(home, 'convcut');
  delete process.env.HF_HUB_OFFLINE;
  delete process.env.HF_TOKEN;
  hub.log.length = 0;
  hub.faults.clear();
});

/** An address where nothing listens (a port just freed). */
async function deadEndpoint(): Promise<string> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return `http://127.0.0.1:${port}`;
}

const repoCache = (repo: string) => path.join(home, 'hub', `models--${repo.replace('/', '--')}`);

describe('hf: weights through the Hub cache', () => {
  it('first use fills the cache layout; second use makes no request; offline works with the Hub down', async () => {
    const first = await loadPretrained('hf:timm/convnext_test', specs, 'test');
    expect(first.format).toBe('timm');
    const local = await loadPretrained(path.join(FIXTURES, 'torchvision', 'timm.safetensors'), specs, 'test');
    for (const [k, w] of local.weights) expect(first.weights.get(k)!.data).toEqual(w.data);

    const dir = repoCache('timm/convnext_test');
    expect(readFileSync(path.join(dir, 'refs', 'main'), 'utf8')).toBe(COMMIT);
    const snap = path.join(dir, 'snapshots', COMMIT, 'model.safetensors');
    expect(lstatSync(snap).isSymbolicLink()).toBe(true);
    expect(readlinkSync(snap)).toBe(path.join('..', '..', 'blobs', sha256(timm)));
    expect(readFileSync(path.join(dir, 'blobs', sha256(timm)))).toEqual(timm);
    expect(hub.log.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /api/models/timm/convnext_test', // which file: model.safetensors
      'HEAD /timm/convnext_test/resolve/main/model.safetensors',
      `GET /blobs/${sha256(timm)}`,
    ]);

    hub.log.length = 0;
    expect(await resolveWeights('hf:timm/convnext_test/model.safetensors', 'test')).toBe(snap);
    expect(hub.log).toEqual([]);

    process.env.HF_HUB_OFFLINE = '1';
    const saved = process.env.HF_ENDPOINT;
    process.env.HF_ENDPOINT = await deadEndpoint(); // nothing listens there
    try {
      expect(await resolveWeights('hf:timm/convnext_test', 'test')).toBe(snap);
      await expect(resolveWeights('hf:tv/convnext/weights/torchvision.safetensors', 'test')).rejects.toThrow(
        new RegExp(
          `^hf:tv/convnext/weights/torchvision\\.safetensors: not in the Hub cache \\(${home}/hub/models--tv--convnext\\) and HF_HUB_OFFLINE=1 forbids downloading it$`,
        ),
      );
    } finally {
      process.env.HF_ENDPOINT = saved;
    }
  });

  it('a revision and a file in a folder (torchvision names); small non-LFS files too', async () => {
    const f = await resolveWeights('hf:tv/convnext@v1/weights/torchvision.safetensors', 'test');
    expect(f).toBe(path.join(repoCache('tv/convnext'), 'snapshots', 'b'.repeat(40), 'weights', 'torchvision.safetensors'));
    expect(readFileSync(path.join(repoCache('tv/convnext'), 'refs', 'v1'), 'utf8')).toBe('b'.repeat(40));
    expect((await loadPretrained(f, specs, 'test')).format).toBe('torchvision');
    const card = await resolveModel('hf:timm/convnext_test/README.md');
    expect(readFileSync(card, 'utf8')).toBe('# card\n');
    expect(readdirSync(path.join(repoCache('timm/convnext_test'), 'blobs'))).toHaveLength(1); // the card's blob, named by its ETag
  });

  it('an interrupted download resumes with Range, in the same process and after a killed one', async () => {
    hub.faults.set(sha256(timm), { cutAfter: 100_000 });
    await resolveWeights('hf:timm/convnext_test/model.safetensors', 'test');
    const gets = hub.log.filter((r) => r.url.startsWith('/blobs/'));
    expect(gets.map((r) => r.range)).toEqual([undefined, 'bytes=100000-']);

    // A partial file left by a process that died mid-download (its lock names a dead pid).
    home = mkdtempSync(path.join(tmpdir(), 'convcut-hub-'));
    process.env.HF_HOME = home;
    hub.log.length = 0;
    const blob = path.join(repoCache('timm/convnext_test'), 'blobs', sha256(timm));
    mkdirSync(path.dirname(blob), { recursive: true });
    writeFileSync(`${blob}.incomplete`, timm.subarray(0, 12345));
    writeFileSync(`${blob}.lock`, '999999999');
    await resolveWeights('hf:timm/convnext_test/model.safetensors', 'test');
    expect(hub.log.filter((r) => r.url.startsWith('/blobs/')).map((r) => r.range)).toEqual(['bytes=12345-']);
    expect(readFileSync(blob)).toEqual(timm);
    expect(existsSync(`${blob}.lock`) || existsSync(`${blob}.incomplete`)).toBe(false);
  });

  it('a corrupted body is rejected and deleted; two fetches of one file at once download it once', async () => {
    hub.faults.set(sha256(timm), { corrupt: true });
    await expect(resolveWeights('hf:timm/convnext_test/model.safetensors', 'test')).rejects.toThrow(
      /^hf:timm\/convnext_test\/model\.safetensors: sha256 mismatch \(expected [0-9a-f]{64}, got [0-9a-f]{64}\); the download was deleted$/,
    );
    const blobs = path.join(repoCache('timm/convnext_test'), 'blobs');
    expect(readdirSync(blobs)).toEqual([]);
    hub.faults.clear();
    hub.log.length = 0;
    const [a, b] = await Promise.all([0, 1].map(() => resolveWeights('hf:timm/convnext_test/model.safetensors', 'test')));
    expect(a).toBe(b);
    expect(hub.log.filter((r) => r.url.startsWith('/blobs/'))).toHaveLength(1);
  });

  it('each error is one line that says what to do', async () => {
    const one = async (spec: string, re: RegExp) => {
      const e = (await resolveWeights(spec, 'test').catch((x: Error) => x)) as Error;
      expect(e).toBeInstanceOf(Error);
      expect(e.message).toMatch(re);
      expect(e.message).not.toContain('\n');
    };
    await one(
      'hf:nobody/nothing',
      /^hf:nobody\/nothing: repository nobody\/nothing not found \(if it is private, set HF_TOKEN\)$/,
    );
    await one(
      'hf:tv/convnext/nope.safetensors',
      /has no file "nope\.safetensors"; it has: weights\/torchvision\.safetensors, other\.bin$/,
    );
    await one('hf:tv/convnext@v9/other.bin', /tv\/convnext has no revision "v9"$/);
    expect(await resolveWeights('hf:tv/convnext', 'test')).toMatch(/weights\/torchvision\.safetensors$/); // its only weight file
    hub.add('two/files', { commit: 'f'.repeat(40), files: { 'a.safetensors': timm, 'b.h5': timm } });
    await one('hf:two/files', /^hf:two\/files: name the file \(hf:two\/files\/<file>\); it has: a\.safetensors, b\.h5$/);
    await one('hf:org/gated/model.safetensors', /org\/gated is gated: accept its terms on the Hub, then set HF_TOKEN/);
    process.env.HF_TOKEN = 'secret';
    expect(await resolveWeights('hf:org/gated/model.safetensors', 'test')).toMatch(/models--org--gated/);
    expect(hub.log.filter((r) => r.method === 'HEAD' && r.url.startsWith('/org/gated')).at(-1)?.auth).toBe('Bearer secret');
    delete process.env.HF_TOKEN;
    const saved = process.env.HF_ENDPOINT;
    process.env.HF_ENDPOINT = await deadEndpoint();
    try {
      await one(
        'hf:tv/convnext/other.bin',
        /^hf:tv\/convnext\/other\.bin: cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\), and the file is not in the Hub cache/,
      );
    } finally {
      process.env.HF_ENDPOINT = saved;
    }
    await one(
      'keras:convnext_huge',
      /^keras:convnext_huge: Keras has convnext_tiny, convnext_small, convnext_base, convnext_large, convnext_xlarge$/,
    );
    await one('imagenet', /^--weights imagenet: no ImageNet weights for the test backbone/);
  });

  it("URLs are downloaded once into convcut's cache; keras: checks Keras' pinned sha256", async () => {
    const url = `${process.env.HF_ENDPOINT}/blobs/${sha256(timm)}`;
    const f = await resolveWeights(url, 'test');
    expect(f.startsWith(path.join(home, 'convcut', 'urls'))).toBe(true);
    expect(readFileSync(f)).toEqual(timm);
    hub.log.length = 0;
    expect(await resolveWeights(url, 'test')).toBe(f);
    expect(hub.log).toEqual([]);
    // A mirror (CONVCUT_KERAS_URL) serving some other file as convnext_base_notop.h5: Keras' pinned
    // sha256 rejects it, and nothing is left in the cache.
    process.env.CONVCUT_KERAS_URL = `${process.env.HF_ENDPOINT}/keras/`;
    hub.statics.set('/keras/convnext_base_notop.h5', timm);
    await expect(resolveWeights('keras:convnext_base', 'base')).rejects.toThrow(
      /^keras:convnext_base: sha256 mismatch \(expected 40a20c5548a5e9202f69735ecc06c990e6b7c9d2de39f0361e27baeb24cb7c45, got [0-9a-f]{64}\); the download was deleted$/,
    );
    expect(readdirSync(path.join(home, 'convcut', 'keras'))).toEqual([]);
    delete process.env.CONVCUT_KERAS_URL;
  });
});

describe('hf: models', () => {
  it('predict -m hf:<repo> equals predict -m <the same local checkpoint>', async () => {
    const cfg = smallConfig();
    const dir = mkdtempSync(path.join(tmpdir(), 'convcut-hubmodel-'));
    const ck = path.join(dir, 'best.safetensors');
    await saveCheckpoint(ck, cfg, initWeights(paramSpecs(cfg), 4), { seed: 4 });
    hub.add('someone/convcut-test', {
      commit: 'e'.repeat(40),
      files: { 'best.safetensors': readFileSync(ck), 'README.md': Buffer.from('card') },
    });
    const img = path.join(dir, 'face.png');
    const raw = Buffer.alloc(112 * 112 * 3).map((_, i) => (i * 7) % 256);
    await sharp(raw, { raw: { width: 112, height: 112, channels: 3 } })
      .png()
      .toFile(img);
    const env = { ...process.env };
    const fromHub = await convcut({ env }, 'predict', '-m', 'hf:someone/convcut-test', img, '--format', 'json', '-k', '7');
    const local = await convcut('predict', '-m', ck, img, '--format', 'json', '-k', '7');
    expect(fromHub.code, fromHub.stderr).toBe(0);
    expect(JSON.parse(fromHub.stdout)[0].top).toEqual(JSON.parse(local.stdout)[0].top);
    expect(existsSync(path.join(repoCache('someone/convcut-test'), 'snapshots', 'e'.repeat(40), 'best.safetensors'))).toBe(true);
  });
});
