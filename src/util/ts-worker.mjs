// Entry point of convcut's worker threads: registers tsx (as bin/convcut.js does for the main
// thread, because worker threads do not inherit loader hooks), then runs the TypeScript module whose
// URL the parent passed as workerData.entry.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
