/**
 * Where ONNX Runtime runs: the CPU, or a GPU through WebGPU (onnxruntime-node's bundled WebGPU
 * execution provider, Dawn over Vulkan on Linux).
 *
 * `auto` takes a hardware GPU adapter when there is one and the CPU otherwise (a software adapter
 * such as Mesa's llvmpipe is slower than ONNX Runtime's own CPU kernels). `webgpu` insists: with no
 * adapter at all it fails with one line saying what is missing; it never falls back silently.
 *
 * The adapter is asked for in a child process (the `webgpu` npm package, the same Dawn and Vulkan
 * loader ONNX Runtime uses): Dawn prints its reasons for refusing a driver to the process's stderr,
 * and there they can be read and turned into that one line instead of cluttering the command's output.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import { pathToFileURL } from 'node:url';

export const DEVICES = ['cpu', 'webgpu', 'auto'] as const;
export type DeviceChoice = (typeof DEVICES)[number];
export type Device = Exclude<DeviceChoice, 'auto'>;

export interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU implementation of WebGPU (llvmpipe, SwiftShader): correct, not fast. */
  software: boolean;
  /** Whether the adapter can run half-precision shaders (`shader-f16`). */
  f16: boolean;
}

export type AdapterProbe = { adapter: AdapterInfo } | { adapter: null; missing: string };

export interface ResolvedDevice {
  device: Device;
  adapter?: AdapterInfo;
  /** One line on how the choice was made (for `auto`, and for run.json). */
  reason: string;
}

/** The device asked for: the option, else `CONVCUT_DEVICE`, else the CPU. */
export function requestedDevice(choice?: DeviceChoice): DeviceChoice {
  const env = process.env.CONVCUT_DEVICE;
  const c = choice ?? (env === undefined || env === '' ? 'cpu' : env);
  if (!(DEVICES as readonly string[]).includes(c))
    throw new Error(`CONVCUT_DEVICE: expected one of ${DEVICES.join(', ')}, got "${c}"`);
  return c as DeviceChoice;
}

let probed: Promise<AdapterProbe> | undefined;

/** The WebGPU adapter this machine offers (asked once per process). */
export function probeAdapter(): Promise<AdapterProbe> {
  return (probed ??= runProbe());
}

/** Turns a device choice into the device to use, or throws the one-line reason `webgpu` cannot be had. */
export async function resolveDevice(choice?: DeviceChoice): Promise<ResolvedDevice> {
  const want = requestedDevice(choice);
  if (want === 'cpu') return { device: 'cpu', reason: 'cpu requested' };
  const probe = await probeAdapter();
  if (want === 'webgpu') {
    if (!probe.adapter) throw new Error(`--device webgpu: no WebGPU adapter: ${probe.missing}`);
    return { device: 'webgpu', adapter: probe.adapter, reason: `webgpu requested: ${describeAdapter(probe.adapter)}` };
  }
  if (!probe.adapter) return { device: 'cpu', reason: `auto: no WebGPU adapter (${probe.missing}), so the CPU` };
  if (probe.adapter.software)
    return {
      device: 'cpu',
      adapter: probe.adapter,
      reason: `auto: only a software adapter (${describeAdapter(probe.adapter)}), so the CPU`,
    };
  return { device: 'webgpu', adapter: probe.adapter, reason: `auto: ${describeAdapter(probe.adapter)}` };
}

/** fp16 graphs need ONNX Runtime's WebGPU provider on an adapter with shader-f16 (its CPU provider lacks the kernels). */
export async function checkPrecision(precision: string | undefined, choice?: DeviceChoice): Promise<void> {
  if (precision !== 'fp16') return;
  const d = await resolveDevice(choice);
  if (d.device !== 'webgpu')
    throw new Error('--precision fp16 runs on WebGPU only: add --device webgpu (the CPU has int8 for speed)');
  if (!d.adapter?.f16) throw new Error(`--precision fp16: the adapter (${describeAdapter(d.adapter!)}) has no shader-f16`);
}

export function describeAdapter(a: AdapterInfo): string {
  const name = a.description || [a.vendor, a.architecture, a.device].filter(Boolean).join(' ');
  return `${name} (${a.software ? 'software' : 'hardware'}${a.f16 ? ', shader-f16' : ''})`;
}

/** What run.json and `convcut devices` record about a device. */
export function deviceRecord(d: ResolvedDevice): Record<string, unknown> {
  return d.device === 'cpu'
    ? { device: 'cpu', cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.availableParallelism(), reason: d.reason }
    : { device: 'webgpu', adapter: d.adapter, reason: d.reason };
}

/** The child's program: asks Dawn for an adapter and prints what it is as one JSON line. */
const PROBE = `
const { create } = await import(process.argv[1]);
const adapter = await create([]).requestAdapter({ powerPreference: 'high-performance' });
const i = adapter?.info;
console.log(JSON.stringify(i ? { vendor: i.vendor, architecture: i.architecture, device: i.device,
  description: i.description, fallback: Boolean(i.isFallbackAdapter), f16: adapter.features.has('shader-f16') } : null));
process.exit(0);
`;

async function runProbe(): Promise<AdapterProbe> {
  let entry: string;
  try {
    entry = pathToFileURL(createRequire(import.meta.url).resolve('webgpu')).href;
  } catch {
    return { adapter: null, missing: 'the webgpu package (Dawn) is not installed; run npm ci' };
  }
  const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR || os.tmpdir() };
  const { stdout, stderr, error } = await new Promise<{ stdout: string; stderr: string; error: Error | null }>((resolve) =>
    execFile(
      process.execPath,
      ['--input-type=module', '-e', PROBE, entry],
      { env, timeout: 60_000, encoding: 'utf8' },
      (err, out, errOut) => resolve({ stdout: out, stderr: errOut, error: err }),
    ),
  );
  const line = stdout.trim().split('\n').pop() ?? '';
  type Probed = Omit<AdapterInfo, 'software'> & { fallback: boolean };
  let info: Probed | null;
  try {
    info = JSON.parse(line) as Probed | null;
  } catch {
    return { adapter: null, missing: whyNoAdapter(stderr, error) };
  }
  if (!info) return { adapter: null, missing: whyNoAdapter(stderr, error) };
  const { fallback, ...rest } = info;
  const software = fallback || /software|cpu/i.test(info.architecture) || /llvmpipe|lavapipe|swiftshader/i.test(info.description);
  return { adapter: { ...rest, software } };
}

/** Dawn's and the Vulkan loader's complaints, as what the user has to install. */
export function whyNoAdapter(stderr: string, error: Error | null): string {
  if (/ArrayDynamicIndexing required/.test(stderr))
    return "the Vulkan driver is too old for Dawn (Debian 12's Mesa 22.3 is; install a GPU driver, or mesa-vulkan-drivers ≥ 25 from bookworm-backports for a software adapter)";
  if (/Found no drivers|INCOMPATIBLE_DRIVER/.test(stderr))
    return "Vulkan found no driver (install your GPU's Vulkan driver, e.g. the NVIDIA driver or mesa-vulkan-drivers; check VK_ICD_FILENAMES)";
  if (/libvulkan|Couldn't load Vulkan|vulkan.*not found/i.test(stderr))
    return 'the Vulkan loader libvulkan.so.1 is missing (apt-get install libvulkan1)';
  if (error && 'killed' in error && (error as { killed?: boolean }).killed) return 'asking Dawn for an adapter timed out';
  const first = stderr
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l && !l.startsWith('at ') && !/artificially reduced/.test(l));
  return first ? `Dawn says: ${first.replace(/^Warning: /, '')}` : 'Dawn offered none (no GPU, or no Vulkan driver for it)';
}
