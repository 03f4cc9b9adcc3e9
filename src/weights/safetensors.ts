/**
 * safetensors: 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets}, __metadata__?: {string: string}}`, then raw little-endian
 * data. Small enough to own. Everything is returned as float32.
 */
import type { Weights } from './weight-map.js';
import { numel } from './weight-map.js';

export interface SafetensorsFile {
  tensors: Weights;
  metadata: Record<string, string>;
}

const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

export function isSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 10) return false;
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  return n > 1 && n < bytes.length && bytes[8] === 0x7b; // '{'
}

export function decodeSafetensors(bytes: Uint8Array, source: string): SafetensorsFile {
  const fail = (msg: string): never => {
    throw new Error(`${source}: not a valid safetensors file: ${msg}`);
  };
  if (bytes.length < 8) fail(`only ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = Number(view.getBigUint64(0, true));
  if (hlen > bytes.length - 8)
    fail(`header says ${hlen} bytes but the file has ${bytes.length - 8} after the length (truncated?)`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + hlen)));
  } catch (e) {
    return fail(`header is not JSON (${(e as Error).message})`);
  }
  const base = 8 + hlen;
  const tensors: Weights = new Map();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const size = BYTES[dtype];
    if (!size) fail(`tensor ${name} has dtype ${dtype}; supported: ${Object.keys(BYTES).join(', ')}`);
    const [a, b] = data_offsets ?? [];
    if (!Array.isArray(shape) || a === undefined || b === undefined) fail(`tensor ${name} has no shape or data_offsets`);
    const n = numel(shape);
    if (b! - a! !== n * size!) fail(`tensor ${name} [${shape}] ${dtype} needs ${n * size!} bytes, offsets give ${b! - a!}`);
    if (base + b! > bytes.length) fail(`tensor ${name} ends at byte ${base + b!} but the file has ${bytes.length} (truncated?)`);
    const start = bytes.byteOffset + base + a!;
    if (dtype === 'F32' && start % 4 === 0) {
      // Aligned float32 (x86 and ARM are little-endian): a view, no copy — a ConvNeXt-Base checkpoint
      // would otherwise be held twice while it is loaded.
      tensors.set(name, { shape: [...shape], data: new Float32Array(bytes.buffer, start, n) });
      continue;
    }
    const data = new Float32Array(n);
    const dv = new DataView(bytes.buffer, start, b! - a!);
    for (let i = 0; i < n; i++) {
      data[i] =
        dtype === 'F32'
          ? dv.getFloat32(4 * i, true)
          : dtype === 'F64'
            ? dv.getFloat64(8 * i, true)
            : dtype === 'F16'
              ? halfToFloat(dv.getUint16(2 * i, true))
              : new Float32Array(new Uint32Array([dv.getUint16(2 * i, true) << 16]).buffer)[0]!;
    }
    tensors.set(name, { shape: [...shape], data });
  }
  return { tensors, metadata };
}

export function encodeSafetensors(tensors: Weights, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const names = [...tensors.keys()].sort();
  for (const name of names) {
    const t = tensors.get(name)!;
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const raw = new TextEncoder().encode(JSON.stringify(header));
  // Pad the header with spaces so the data starts 8-byte aligned, as the format recommends.
  const hbytes = new Uint8Array(raw.length + ((8 - (raw.length % 8)) % 8)).fill(0x20);
  hbytes.set(raw);
  const out = new Uint8Array(8 + hbytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(hbytes.length), true);
  out.set(hbytes, 8);
  let pos = 8 + hbytes.length;
  for (const name of names) {
    const d = tensors.get(name)!.data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), pos);
    pos += d.byteLength;
  }
  return out;
}
