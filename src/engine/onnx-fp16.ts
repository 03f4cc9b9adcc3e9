/**
 * Half-precision inference graphs (`--precision fp16`, for WebGPU adapters with `shader-f16`): every
 * float32 initialiser becomes float16 and the graph computes in float16 between a Cast of each input
 * and a Cast of each output, so callers still feed and read float32. ONNX Runtime's CPU provider
 * lacks float16 kernels for most of these ops; device.ts keeps fp16 to WebGPU.
 */
import { encodeHalf } from '../util/f16.js';
import { onnx, type OnnxGraph } from './onnx-graph.js';

const { FLOAT, FLOAT16 } = onnx.TensorProto.DataType;

export function toFloat16(g: OnnxGraph): void {
  for (const t of g.initializers) {
    if (t.dataType !== FLOAT) continue;
    if (!t.rawData) throw new Error(`fp16: initialiser ${t.name} has no inline data`);
    const raw = t.rawData;
    const f32 = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    const half = encodeHalf(f32);
    t.dataType = FLOAT16;
    t.rawData = new Uint8Array(half.buffer);
  }
  const rename = (from: string, to: string, where: 'input' | 'output') => {
    for (const n of g.nodes) n[where] = n[where]!.map((x) => (x === from ? to : x));
  };
  const head = g.inputs
    .filter((i) => i.type?.tensorType?.elemType === FLOAT)
    .map((i) => {
      rename(i.name!, `${i.name}:f16`, 'input');
      return { opType: 'Cast', input: [i.name!], output: [`${i.name}:f16`], name: `cast_${i.name}`, attribute: [to(FLOAT16)] };
    });
  for (const o of g.outputs.filter((x) => x.type?.tensorType?.elemType === FLOAT)) {
    rename(o.name!, `${o.name}:f16`, 'output');
    rename(o.name!, `${o.name}:f16`, 'input');
    g.nodes.push({ opType: 'Cast', input: [`${o.name}:f16`], output: [o.name!], name: `cast_${o.name}`, attribute: [to(FLOAT)] });
  }
  g.nodes.unshift(...head);
}

function to(type: number) {
  return { name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: type };
}
