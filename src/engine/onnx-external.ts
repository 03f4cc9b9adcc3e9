/**
 * External data in an ONNX model: tensors whose bytes live in another file, named by a path inside
 * the model. ONNX Runtime resolves that path against the process's working folder, so a model from
 * a stranger could name `secret.txt` or `.ssh/id_rsa` there and return the bytes as its outputs.
 * convcut's own sessions point external data at the checkpoint it chose (ort-session.ts); a model
 * file given by a user must hold all of its tensors.
 */
import type pkg from 'onnx-proto';

type IModelProto = pkg.onnx.IModelProto;
type ITensorProto = pkg.onnx.ITensorProto;

const EXTERNAL = 1; // onnx.TensorProto.DataLocation.EXTERNAL

/**
 * Every external-data location a decoded model names: in graph initializers, sparse initializers,
 * node attributes (Constant values), subgraphs (If/Loop/Scan bodies), functions and training info.
 * The decoded message is walked generically, so no place a tensor can sit is missed.
 */
export function externalDataRefs(model: IModelProto): string[] {
  const found: string[] = [];
  const stack: unknown[] = [model];
  while (stack.length) {
    const m = stack.pop();
    if (!m || typeof m !== 'object' || ArrayBuffer.isView(m)) continue;
    const t = m as ITensorProto;
    if (t.dataLocation === EXTERNAL || (Array.isArray(t.externalData) && t.externalData.length)) {
      const location = t.externalData?.find((e) => e.key === 'location')?.value;
      found.push(`${t.name || 'a tensor'} → ${JSON.stringify(location ?? '?')}`);
    }
    for (const v of Object.values(m)) if (v && typeof v === 'object') stack.push(v);
  }
  return found;
}
