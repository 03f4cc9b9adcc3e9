/**
 * Human's expression model translated from its TensorFlow.js graph to ONNX (src/model/tfjs-graph.ts,
 * human-emotion.ts) against Human's own: the model on TensorFlow.js as `convcut eval --baseline
 * human` runs it (src/eval/baselines.ts, Human's gear/emotion.ts preprocessing), on faces cut from
 * face-api's sample1.jpg and matplotlib's Grace Hopper (`python-matplotlib-data`).
 */
import { existsSync, promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { HUMAN_CLASSES } from '../src/eval/baselines.js';
import { humanOnTfjs, type HumanReference } from './reference/human-tfjs.js';
import { HUMAN_EMOTION_CLASSES, HumanEmotion, type RgbCrop } from '../src/infer/human-emotion.js';
import { translateTfjsGraph, type TfjsGraphModel } from '../src/model/tfjs-graph.js';
import { readTfjsGroups } from '../src/weights/tfjs-weights.js';
import { maxAbsDiff } from './helpers.js';

const HOPPER = '/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg';
const require = createRequire(import.meta.url);
const SAMPLE1 = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'demo', 'sample1.jpg');
const MODELS = path.join(path.dirname(require.resolve('@vladmandic/human')), '..', 'models');

/** Hand-picked face boxes (left, top, width, height), and two crops not shaped like the model's input. */
const FACES: { file: string; box: [number, number, number, number]; resize?: [number, number] }[] = [
  { file: SAMPLE1, box: [400, 340, 260, 260] },
  { file: SAMPLE1, box: [820, 400, 220, 260] },
  { file: SAMPLE1, box: [1460, 200, 240, 260] },
  { file: HOPPER, box: [160, 140, 210, 210] },
  { file: HOPPER, box: [130, 100, 270, 330] }, // taller than wide, with hat and shoulders
  { file: SAMPLE1, box: [1460, 200, 240, 260], resize: [45, 50] }, // smaller than 64²: enlarged
];

async function cut(f: (typeof FACES)[number]): Promise<RgbCrop> {
  if (!existsSync(f.file)) throw new Error(`${f.file} is missing: apt-get install python-matplotlib-data`);
  const [left, top, width, height] = f.box;
  let img = sharp(f.file).removeAlpha().extract({ left, top, width, height });
  if (f.resize) img = sharp(await img.toBuffer()).resize(f.resize[0], f.resize[1], { fit: 'fill' });
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height };
}

async function msPer(n: number, f: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await f();
  return (performance.now() - t) / n;
}

describe('Human’s expression model on ONNX Runtime', () => {
  let ours: HumanEmotion;
  let human: HumanReference;
  let crops: RgbCrop[];
  beforeAll(async () => {
    [ours, human, crops] = await Promise.all([HumanEmotion.load(), humanOnTfjs(), Promise.all(FACES.map(cut))]);
  });
  afterAll(async () => {
    await ours?.dispose();
  });

  it('gives Human’s probabilities on TensorFlow.js within 1e-4, in Human’s class order', async () => {
    expect([...HUMAN_EMOTION_CLASSES]).toEqual(HUMAN_CLASSES.map(([h]) => h));
    const got = await ours.predict(crops);
    const one = await ours.predict([crops[2]!]); // the batch of one gives what the batch of six does
    expect(maxAbsDiff(one[0]!, got[2]!)).toBeLessThan(1e-6);
    const tops = new Set<string>();
    for (const [i, c] of crops.entries()) {
      const want = await human(c);
      const p = got[i]!;
      expect(p.length).toBe(7);
      expect(
        maxAbsDiff(p, want),
        `crop ${i}: ours ${[...p].map((v) => v.toFixed(4))} Human ${[...want].map((v) => v.toFixed(4))}`,
      ).toBeLessThan(1e-4);
      expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      tops.add(HUMAN_EMOTION_CLASSES[p.indexOf(Math.max(...p))]!);
    }
    expect(tops.size, 'the faces are not all read as one expression').toBeGreaterThan(1);
    expect(await ours.predict([])).toEqual([]);

    // Information only: one crop at a time, after the runs above warmed both up.
    const oursMs = await msPer(crops.length, async () => {
      for (const c of crops) await ours.predict([c]);
    });
    const humanMs = await msPer(crops.length, async () => {
      for (const c of crops) await human(c);
    });
    console.log(
      `Human's emotion model, ms per crop: ONNX Runtime (convcut) ${oursMs.toFixed(2)}, TensorFlow.js wasm (Human) ${humanMs.toFixed(2)}`,
    );
  });

  it('refuses a crop whose bytes do not match its size', async () => {
    await expect(ours.predict([{ data: new Uint8Array(10), width: 4, height: 4 }])).rejects.toThrow(
      'a face crop of 4×4 RGB needs 48 bytes, got 10',
    );
  });
});

describe('TensorFlow.js graph translation', () => {
  let model: TfjsGraphModel;
  let raw: string;
  beforeAll(async () => {
    raw = await fs.readFile(path.join(MODELS, 'emotion.json'), 'utf8');
    model = JSON.parse(raw) as TfjsGraphModel;
  });

  /** The emotion graph with one node changed by `edit`, translated. */
  async function translateEdited(node: string, edit: (n: TfjsGraphModel['modelTopology']['node'][number]) => void) {
    const m = JSON.parse(raw) as TfjsGraphModel;
    edit(m.modelTopology.node.find((n) => n.name.endsWith(node))!);
    return translateTfjsGraph(m, await readTfjsGroups(m.weightsManifest, MODELS, 'emotion.json'), 'emotion.json');
  }
  const b64 = (s: string) => Buffer.from(s).toString('base64');

  it('reads the graph: one 64×64 grey input, one output, the convolutions’ weights renamed for Ops', async () => {
    const net = translateTfjsGraph(model, await readTfjsGroups(model.weightsManifest, MODELS, 'emotion.json'), 'emotion.json');
    expect(net.input).toEqual({ name: 'input_1', shape: [-1, 64, 64, 1] });
    expect(net.outputs).toEqual(['Identity']);
    expect(net.weights.get('StatefulPartitionedCall/model_1/conv2d_5/BiasAdd.weight')?.shape).toEqual([3, 3, 256, 7]);
    expect(net.weights.size).toBe(4 * 1 + 9 * 2); // 4 depthwise kernels, 9 convolutions with biases
  });

  it('refuses, naming it, an op, a fused op, a padding, a data format or an attribute it does not translate', async () => {
    await expect(translateEdited('max_pooling2d_1/MaxPool', (n) => (n.op = 'FractionalMaxPool'))).rejects.toThrow(
      /node StatefulPartitionedCall\/model_1\/max_pooling2d_1\/MaxPool is a FractionalMaxPool, which convcut does not translate/,
    );
    await expect(
      translateEdited('block1_conv1_act/Relu', (n) => (n.attr!.fused_ops!.list!.s = [b64('BiasAdd'), b64('Relu6')])),
    ).rejects.toThrow(/fuses BiasAdd \+ Relu6: convcut translates BiasAdd, optionally followed by Relu/);
    await expect(translateEdited('block1_conv1_act/Relu', (n) => (n.attr!.padding!.s = b64('EXPLICIT')))).rejects.toThrow(
      /has padding 'EXPLICIT'/,
    );
    await expect(translateEdited('max_pooling2d_2/MaxPool', (n) => (n.attr!.data_format!.s = b64('NCHW')))).rejects.toThrow(
      /has data format NCHW: convcut translates NHWC/,
    );
    await expect(
      translateEdited(
        'separable_conv2d_3/separable_conv2d/depthwise',
        (n) => (n.attr!.dilations!.list!.i = ['1', '2', '2', '1']),
      ),
    ).rejects.toThrow(/is dilated/);
    await expect(translateEdited('predictions/Softmax', (n) => (n.attr!.beta = { f: 2 }))).rejects.toThrow(
      /\(Softmax\) has attribute beta, which convcut does not translate/,
    );
    await expect(translateEdited('global_average_pooling2d_1/Mean', (n) => (n.input![1] = 'unknown_44'))).rejects.toThrow(
      /averages over axes/,
    );
  });
});
