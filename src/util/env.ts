/** A thread count from an environment variable (`CONVCUT_WASM_THREADS`, …), if it holds one. */
export function threadsFromEnv(name: string): number | undefined {
  const n = Number(process.env[name]);
  return Number.isInteger(n) && n >= 1 ? n : undefined;
}
