import type { Command } from 'commander';
import { DEVICES, requestedDevice, resolveDevice, type DeviceChoice } from '../engine/device.js';
import { choice } from './arg-parsers.js';

/** `--device`: where ONNX Runtime runs, alike in every command that runs the network. */
export function deviceOption(cmd: Command): Command {
  return cmd.option(
    '--device <d>',
    'cpu, webgpu (a GPU through WebGPU; fails if there is none) or auto (a hardware GPU if present) (default: CONVCUT_DEVICE, else cpu; see convcut devices)',
    choice(...DEVICES),
  );
}

/**
 * Resolves the device before any work (a missing GPU stops the command with its one line) and says
 * on stderr which one runs when it is not the plain CPU default.
 */
export async function announceDevice(choice: DeviceChoice | undefined): Promise<DeviceChoice> {
  const d = await resolveDevice(choice);
  if (d.device !== 'cpu' || requestedDevice(choice) === 'auto') console.error(`device: ${d.reason}`);
  return d.device;
}
