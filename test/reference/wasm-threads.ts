/**
 * Starting tfjs' multi-threaded wasm binary (XNNPACK with a pthread pool) in Node.
 *
 * tfjs ships `tfjs-backend-wasm-threaded-simd.wasm` but turns threads off in Node
 * (`WASM_HAS_MULTITHREAD_SUPPORT` is false there, tfjs issue #3830), which leaves one core idle on
 * a 2-core machine. Three things stand between the binary and Node, and each is bridged here for
 * the duration of `tf.setBackend('wasm')` only:
 *
 * 1. tfjs hands Emscripten the pthread worker script as a Blob URL; Node's worker_threads only run
 *    files. The script (shipped as a string in `wasm-out/…worker.js`) is written to a file in the
 *    temp folder, and `URL.createObjectURL` answers that path while the backend starts.
 * 2. The worker then imports the main glue script, which tfjs also passes as a Blob: the worker file
 *    starts with its own `URL.createObjectURL` that answers the glue's real path.
 * 3. tfjs' `backend.cc` sizes the pool as min(requested, logical cores / 2), assuming two
 *    hyper-threads per core; on a 2-vCPU machine that is 1. Emscripten reads the core count from
 *    `os.cpus()` in Node, so that answers 2 × the requested count while the module initialises.
 *
 * Measured on the project machine (BENCHMARKS.md): a 3136×512×512 matMul 55.8 → 32.1 ms with 2
 * threads. Results are the same numbers as one thread: XNNPACK splits GEMMs by output tiles, so each
 * output keeps its summation order.
 */
import { rmSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { env } from '@tensorflow/tfjs';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { threadsFromEnv } from '../../src/util/env.js';

const require = createRequire(import.meta.url);
const WORKER_MODULE = '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js';
const GLUE = '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js';

/**
 * The worker script as a file in a fresh private folder (mkdtemp: a random name, mode 0700), never a
 * fixed name in the shared temp folder, which another user could have planted.
 */
async function workerScriptFile(): Promise<{ file: string; dir: string }> {
  const { wasmWorkerContents } = require(WORKER_MODULE) as { wasmWorkerContents: string };
  // tfjs escapes newlines before making its Blob, because the script holds "\n" inside strings that
  // the template literal it ships in has turned into real line breaks.
  const body =
    `URL.createObjectURL = () => ${JSON.stringify(require.resolve(GLUE))};\n` + wasmWorkerContents.replace(/\n/g, '\\n');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'convcut-tfjs-wasm-'));
  const file = path.join(dir, 'pthread-worker.cjs');
  await writeFile(file, body);
  return { file, dir };
}

/**
 * Prepares tfjs for a `threads`-thread wasm backend. Call before `tf.setBackend('wasm')` and call the
 * returned function once it has settled, saying whether the backend started: it undoes the temporary
 * `URL`/`os` answers, removes the worker script, and — if the backend did not start — sets tfjs back
 * to its single-thread binary.
 */
export async function prepareThreadedWasm(threads: number): Promise<(started: boolean) => void> {
  const { file: workerFile, dir } = await workerScriptFile();
  env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  setThreadsCount(threads);
  const createObjectURL = URL.createObjectURL;
  const cpus = os.cpus;
  URL.createObjectURL = () => workerFile;
  os.cpus = () => {
    const one = cpus()[0]!;
    return Array.from({ length: 2 * threads }, () => one);
  };
  return (started) => {
    URL.createObjectURL = createObjectURL;
    os.cpus = cpus;
    // Every pool worker has loaded the script by the time the backend is up.
    rmSync(dir, { recursive: true, force: true });
    if (!started) {
      env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      setThreadsCount(1);
    }
  };
}

/**
 * The thread count face detection uses: `CONVCUT_WASM_THREADS` if set, else every core this process
 * may use, up to 4.
 */
export function defaultWasmThreads(): number {
  return threadsFromEnv('CONVCUT_WASM_THREADS') ?? Math.max(1, Math.min(os.availableParallelism(), 4));
}
