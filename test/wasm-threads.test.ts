/**
 * tfjs' multi-threaded wasm binary in Node (engine/wasm-threads.ts): it runs the threads it was
 * asked for, training on it gives bit-identical parameters to the stock single-thread binary, and
 * its pool does not keep the process alive.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'wasm-threads-child.ts');

async function trainWith(threads: number): Promise<{ threads: number; hash: string }> {
  // The 60 s timeout fails the test if the pool's workers hold the process open after its work.
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', CHILD, '--threads', `${threads}`], {
    timeout: 60_000,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!) as { threads: number; hash: string };
}

describe('multi-threaded tfjs wasm', () => {
  it('runs 2 threads and trains to the same bits as 1 thread', async () => {
    const one = await trainWith(1);
    const two = await trainWith(2);
    expect(one.threads).toBe(1);
    expect(two.threads).toBe(2);
    expect(two.hash).toBe(one.hash);
  });
});
