import { defineConfig } from 'vite';

// The page is served by `convcut serve` (same origin as the API); onnxruntime-web's wasm files are
// served by it under /ort/, so nothing is fetched from a CDN.
export default defineConfig({
  root: 'web',
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 2000,
    // The polyfill runs DOM code at the top of the entry chunk, which onnxruntime-web's thread
    // workers also load (see src/main.ts); every browser with WebAssembly threads has modulepreload.
    modulePreload: { polyfill: false },
  },
});
