/**
 * safetensors: 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets}, __metadata__?: {string: string}}`, then raw little-endian
 * data. Small enough to own. Everything is returned as float32.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
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

/** Whether `bytes` — a whole file, or the first bytes of a file of `fileLength` — look like safetensors. */
export function isSafetensors(bytes: Uint8Array, fileLength = bytes.length): boolean {
  if (bytes.length < 10) return false;
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  return n > 1 && n < fileLength && bytes[8] === 0x7b; // '{'
}

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  /** Byte range of the data, from the start of the file. */
  start: number;
  end: number;
}

/** The header of a safetensors file of `fileLength` bytes, whose first bytes are `head` (at least the header). */
function parseHeader(
  head: Uint8Array,
  fileLength: number,
  source: string,
): { entries: Entry[]; metadata: Record<string, string> } {
  const fail = (msg: string): never => {
    throw new Error(`${source}: not a valid safetensors file: ${msg}`);
  };
  if (fileLength < 8 || head.length < 8) fail(`only ${fileLength} bytes`);
  const hlen = Number(new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true));
  if (hlen > fileLength - 8) fail(`header says ${hlen} bytes but the file has ${fileLength - 8} after the length (truncated?)`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(new TextDecoder().decode(head.subarray(8, 8 + hlen)));
  } catch (e) {
    return fail(`header is not JSON (${(e as Error).message})`);
  }
  const base = 8 + hlen;
  const entries: Entry[] = [];
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
    if (base + b! > fileLength) fail(`tensor ${name} ends at byte ${base + b!} but the file has ${fileLength} (truncated?)`);
    entries.push({ name, dtype, shape: [...shape], start: base + a!, end: base + b! });
  }
  return { entries, metadata };
}

/** Little-endian `dtype` bytes → float32 (a view when they are aligned float32 already). */
function toFloat32(bytes: Uint8Array, dtype: string, n: number): Float32Array {
  // Aligned float32 (x86 and ARM are little-endian): a view, no copy — a ConvNeXt-Base checkpoint
  // would otherwise be held twice while it is loaded.
  if (dtype === 'F32' && bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, n);
  const data = new Float32Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
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
  return data;
}

/** A safetensors file already in memory: tensors are views on `bytes` where possible. */
export function decodeSafetensors(bytes: Uint8Array, source: string): SafetensorsFile {
  const { entries, metadata } = parseHeader(bytes, bytes.length, source);
  const tensors: Weights = new Map();
  for (const e of entries)
    tensors.set(e.name, { shape: e.shape, data: toFloat32(bytes.subarray(e.start, e.end), e.dtype, numel(e.shape)) });
  return { tensors, metadata };
}

/**
 * A safetensors file on disk, read lazily: only the header now, each tensor's data when first used.
 * float32 tensors carry their place in the file (`source`), so an ONNX graph can reference them as
 * external data and ONNX Runtime reads them itself — they never pass through JS (`convcut predict`
 * then holds a ConvNeXt-Base checkpoint once, in ONNX Runtime, instead of three times).
 */
export function openSafetensors(file: string): SafetensorsFile {
  const fd = openSync(file, 'r');
  let head: Uint8Array;
  let length: number;
  try {
    length = fstatSync(fd).size;
    const first = new Uint8Array(8);
    readSync(fd, first, 0, 8, 0);
    const hlen = Number(new DataView(first.buffer).getBigUint64(0, true));
    head = new Uint8Array(8 + Math.min(hlen, Math.max(length - 8, 0)));
    readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  const { entries, metadata } = parseHeader(head, length, file);
  const tensors: Weights = new Map();
  for (const e of entries) {
    let data: Float32Array | undefined;
    tensors.set(e.name, {
      shape: e.shape,
      get data(): Float32Array {
        if (!data) {
          const bytes = new Uint8Array(e.end - e.start);
          const fd = openSync(file, 'r');
          try {
            readSync(fd, bytes, 0, bytes.length, e.start);
          } finally {
            closeSync(fd);
          }
          data = toFloat32(bytes, e.dtype, numel(e.shape));
        }
        return data;
      },
      source: e.dtype === 'F32' ? { file, offset: e.start } : undefined,
    });
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
