import type { Command } from 'commander';

export function registerDevices(program: Command): void {
  program
    .command('devices')
    .description('where convcut can run: the CPU, and the WebGPU adapter (GPU) if there is one, checked by running a graph on it')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `
Every command that runs the network takes --device cpu|webgpu|auto (or CONVCUT_DEVICE).
auto takes a hardware GPU when one is found; a software adapter (Mesa's llvmpipe) is correct but
slower than the CPU path, so auto leaves it alone and only --device webgpu uses it.

On Linux, WebGPU needs a Vulkan driver: the GPU vendor's (NVIDIA, AMD/Intel through Mesa), or for a
software adapter Mesa ≥ 25 (Debian 12: mesa-vulkan-drivers from bookworm-backports).
`,
    )
    .action(async (o: { json?: boolean }) => {
      const { deviceRecord, describeAdapter, probeAdapter, resolveDevice } = await import('../engine/device.js');
      const { checkWebGpu, ort } = await import('../engine/ort-session.js');
      const probe = await probeAdapter();
      const auto = await resolveDevice('auto');
      const check = probe.adapter ? await checkWebGpu() : undefined;
      const info = {
        cpu: deviceRecord({ device: 'cpu', reason: 'always available' }),
        webgpu: probe.adapter ? { adapter: probe.adapter, onnxruntime: check } : { adapter: null, missing: probe.missing },
        auto: { device: auto.device, reason: auto.reason },
        onnxruntimeBackends: ort
          .listSupportedBackends()
          .filter((b) => b.bundled)
          .map((b) => b.name),
      };
      if (o.json) return console.log(JSON.stringify(info, null, 1));
      console.log(`cpu     ${info.cpu.cpu as string}, ${info.cpu.cores as number} cores`);
      console.log(
        probe.adapter
          ? `webgpu  ${describeAdapter(probe.adapter)}; ONNX Runtime on it: ${check}`
          : `webgpu  none: ${probe.missing}`,
      );
      console.log(`auto    → ${auto.device} (${auto.reason})`);
    });
}
