/**
 * Benchmarks that compare tfjs thread counts run each measurement in a child process of the script,
 * because tfjs fixes its wasm thread count when it starts.
 */
import { execFileSync } from 'node:child_process';

/** Runs `script` again with `args` under tsx and returns the JSON object its last stdout line holds. */
export function runChild<T>(script: string, args: string[]): T {
  const out = execFileSync(process.execPath, ['--import', 'tsx', script, '--child', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}
