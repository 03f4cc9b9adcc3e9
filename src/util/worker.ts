import { Worker } from 'node:worker_threads';

/** A worker thread running a TypeScript module (`entry`: its URL, e.g. new URL('./x.ts', import.meta.url)). */
export function tsWorker(entry: URL): Worker {
  return new Worker(new URL('./ts-worker.mjs', import.meta.url), { workerData: { entry: entry.href } });
}
