import { chromium } from 'playwright-core';
const variants: Record<string, string[]> = {
  swiftshader: ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--enable-features=Vulkan'],
  swiftshader2: ['--enable-unsafe-webgpu', '--use-angle=swiftshader', '--enable-features=Vulkan,WebGPU', '--use-vulkan=swiftshader'],
  lavapipe: ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=native', '--ignore-gpu-blocklist'],
};
for (const [name, extra] of Object.entries(variants)) {
  const b = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', ...extra] });
  const p = await b.newPage();
  await p.goto('http://127.0.0.1:8765/');
  const r = await p.evaluate(async () => {
    if (!('gpu' in navigator)) return 'no navigator.gpu';
    const a = await (navigator as any).gpu.requestAdapter();
    if (!a) return 'no adapter';
    const i = a.info ?? {};
    return JSON.stringify({ vendor: i.vendor, arch: i.architecture, desc: i.description, dev: i.device, f16: a.features.has('shader-f16') });
  });
  console.log(name, r);
  await b.close();
}
