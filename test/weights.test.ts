/** Weight files: checkpoints round-trip, and malformed files fail with a message naming the file and the problem. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeBackbone, paramSpecs } from '../src/engine/describe.js';
import { makeConfig } from '../src/model/config.js';
import { loadCheckpoint, saveCheckpoint } from '../src/weights/checkpoint.js';
import { writeKerasH5 } from '../src/weights/keras-h5.js';
import { loadPretrained } from '../src/weights/load-pretrained.js';
import { decodeSafetensors, encodeSafetensors } from '../src/weights/safetensors.js';
import { initWeights } from '../src/weights/weight-map.js';
import { FIXTURES, smallConfig } from './helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'convcut-weights-'));
const tv = path.join(FIXTURES, 'torchvision', 'torchvision.safetensors');
const testSpecs = describeBackbone(makeConfig({ backbone: 'test', inputSize: 64 })).specs;

describe('safetensors', () => {
  it('round-trips tensors and metadata, and reads F16/BF16', () => {
    const w = new Map([['a.b', { shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 0, 1e-3, 7]) }]]);
    const back = decodeSafetensors(encodeSafetensors(w, { note: 'héllo' }), 'x');
    expect(Array.from(back.tensors.get('a.b')!.data)).toEqual(Array.from(w.get('a.b')!.data));
    expect(back.metadata.note).toBe('héllo');
    // 1.0 and -2.0 as F16 (0x3c00, 0xc000) and BF16 (0x3f80, 0xc000)
    const raw = (dtype: string, words: number[]) => {
      const h = new TextEncoder().encode(JSON.stringify({ t: { dtype, shape: [2], data_offsets: [0, 4] } }));
      const b = new Uint8Array(8 + h.length + 4);
      new DataView(b.buffer).setBigUint64(0, BigInt(h.length), true);
      b.set(h, 8);
      words.forEach((wd, i) => new DataView(b.buffer).setUint16(8 + h.length + 2 * i, wd, true));
      return b;
    };
    expect(Array.from(decodeSafetensors(raw('F16', [0x3c00, 0xc000]), 'f16').tensors.get('t')!.data)).toEqual([1, -2]);
    expect(Array.from(decodeSafetensors(raw('BF16', [0x3f80, 0xc000]), 'bf16').tensors.get('t')!.data)).toEqual([1, -2]);
  });
});

describe('malformed weight files fail clearly', () => {
  it('a truncated safetensors file', async () => {
    const f = path.join(dir, 'truncated.safetensors');
    const bytes = readFileSync(tv);
    writeFileSync(f, bytes.subarray(0, bytes.length - 1000));
    await expect(loadPretrained(f, testSpecs)).rejects.toThrow(
      /truncated\.safetensors: not a valid safetensors file: tensor .* ends at byte \d+ but the file has \d+ \(truncated\?\)/,
    );
    writeFileSync(f, bytes.subarray(0, 100));
    await expect(loadPretrained(f, testSpecs)).rejects.toThrow(/truncated\.safetensors: unknown weight format/);
  });

  it('weights of the wrong shape name the parameter and both shapes', async () => {
    // The `test` weights loaded as a wider model: every conv is the wrong shape.
    const specs = describeBackbone(makeConfig({ backbone: 'tiny', cut: 'stage_0', inputSize: 64 })).specs;
    await expect(loadPretrained(tv, specs)).rejects.toThrow(
      /wrong shape \(\d+\): stem\.0\.weight is \[4,4,3,8\] but the model needs \[4,4,3,96\]/,
    );
  });

  it('missing parameters are listed by name', async () => {
    const base = describeBackbone(makeConfig({ backbone: 'base' })).specs;
    await expect(loadPretrained(tv, base)).rejects.toThrow(/missing \(\d+\): .*stages\.0\.blocks\.1\./);
  });

  it('a non-ConvNeXt h5 and a safetensors file of something else', async () => {
    const h5 = path.join(dir, 'resnet.h5');
    await writeKerasH5(h5, [
      { layer: 'conv1', weights: [{ name: 'conv1/kernel:0', tensor: { shape: [3, 3, 3, 4], data: new Float32Array(108) } }] },
    ]);
    await expect(loadPretrained(h5, testSpecs)).rejects.toThrow(
      /resnet\.h5: no ConvNeXt weights found in this keras-h5 file \(first keys: conv1\/conv1\/kernel:0\)/,
    );
    const st = path.join(dir, 'bert.safetensors');
    writeFileSync(st, encodeSafetensors(new Map([['encoder.layer.0.weight', { shape: [2], data: new Float32Array(2) }]])));
    await expect(loadPretrained(st, testSpecs)).rejects.toThrow(/bert\.safetensors: no ConvNeXt weights found/);
    const notH5 = path.join(dir, 'empty.h5');
    writeFileSync(notH5, '');
    await expect(loadPretrained(notH5, testSpecs)).rejects.toThrow(/empty\.h5: unknown weight format/);
    await expect(loadPretrained(path.join(dir, 'nope.h5'), testSpecs)).rejects.toThrow(
      /nope\.h5: cannot read weights \(ENOENT\)/,
    );
  });

  it('a ConvNeXt file with extra foreign tensors reports them as unexpected', async () => {
    const { tensors } = decodeSafetensors(readFileSync(tv), tv);
    tensors.set('adapter.weight', { shape: [1], data: new Float32Array(1) });
    const f = path.join(dir, 'extra.safetensors');
    writeFileSync(f, encodeSafetensors(tensors));
    await expect(loadPretrained(f, testSpecs)).rejects.toThrow(/unexpected \(1\): adapter\.weight/);
  });
});

describe('convcut checkpoints', () => {
  it('save and load: config, provenance and every weight come back', async () => {
    const cfg = smallConfig({ head: { attention: 'batch', layerNorm: true } });
    const w = initWeights(paramSpecs(cfg), 4);
    const f = path.join(dir, 'ck.safetensors');
    await saveCheckpoint(f, cfg, w, { seed: 4, recipe: 'test' });
    const ck = await loadCheckpoint(f);
    expect(ck.meta.config).toEqual(cfg);
    expect(ck.meta.provenance).toEqual({ seed: 4, recipe: 'test' });
    expect(ck.meta.layout).toBe('channels-last');
    for (const [k, t] of w) expect(Array.from(ck.weights.get(k)!.data)).toEqual(Array.from(t.data));
  });

  it('a checkpoint missing a tensor, or a plain safetensors file, is refused with a reason', async () => {
    const cfg = smallConfig();
    const w = initWeights(paramSpecs(cfg), 4);
    const f = path.join(dir, 'ck2.safetensors');
    await saveCheckpoint(f, cfg, w);
    const { tensors, metadata } = decodeSafetensors(readFileSync(f), f);
    tensors.delete('head.classifier.bias');
    writeFileSync(f, encodeSafetensors(tensors, metadata));
    await expect(loadCheckpoint(f)).rejects.toThrow(
      /ck2\.safetensors: weights do not fit the model\n {2}missing \(1\): head\.classifier\.bias/,
    );
    await expect(loadCheckpoint(tv)).rejects.toThrow(
      /torchvision\.safetensors: a safetensors file, but not a convcut checkpoint/,
    );
    await expect(saveCheckpoint(f, cfg, tensors)).rejects.toThrow(/missing \(1\): head\.classifier\.bias/);
  });
});
