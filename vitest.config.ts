import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // The wasm backend and ONNX Runtime both use the 2 cores; running files in parallel only thrashes.
    fileParallelism: false,
    pool: 'forks',
  },
});
