/**
 * Benchmarks that compare tfjs thread counts run each measurement in a child process of the script,
 * because tfjs fixes its wasm thread count when it starts.
 */
import { execFileSync } from 'node:child_process';

/**
 * Runs `script --child --threads <threads> …args` under tsx and returns the JSON object its last
 * stdout line holds; fails unless the child reports that tfjs runs the threads it asked for.
 */
export function runChild<T extends { threads: number }>(script: string, threads: number, args: string[]): T {
  const out = execFileSync(process.execPath, ['--import', 'tsx', script, '--child', '--threads', `${threads}`, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const res = JSON.parse(out.trim().split('\n').pop()!) as T;
  if (res.threads !== threads) throw new Error(`asked for ${threads} wasm threads, tfjs runs ${res.threads}`);
  return res;
}
