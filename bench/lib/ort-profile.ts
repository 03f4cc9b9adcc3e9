/** Reading ONNX Runtime's profiler output (a JSON array of trace events). */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface ProfileEvent {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string };
}

/** The events of the profile ORT wrote in `dir` as `<prefix>_<timestamp>.json`. */
export function readProfile(dir: string, prefix: string): ProfileEvent[] {
  const file = readdirSync(dir).find((f) => f.startsWith(`${prefix}_`) && f.endsWith('.json'));
  if (!file) throw new Error(`no ONNX Runtime profile ${prefix}_*.json in ${dir}`);
  return JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as ProfileEvent[];
}

/** One kernel's time, with its node (`<name>_kernel_time` events of category Node). */
export function kernelTimes(events: ProfileEvent[]): { op: string; node: string; us: number }[] {
  return events
    .filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.args?.op_name)
    .map((e) => ({ op: e.args!.op_name!, node: e.name.replace(/_kernel_time$/, ''), us: e.dur }));
}
