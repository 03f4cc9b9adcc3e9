import type { Command } from 'commander';
import { CONVNEXT_SIZES } from '../model/config.js';
import { wholeNumber } from './arg-parsers.js';
import { DEFAULTS } from '../defaults.js';

/** `--backbone`, `--cut`, `--input-size`: the network's shape, alike in every command that builds one. */
export function networkOptions(cmd: Command): Command {
  return cmd
    .option('--backbone <size>', `ConvNeXt size: ${Object.keys(CONVNEXT_SIZES).join(', ')}`, 'base')
    .option(
      '--cut <name>',
      "cut point as a Keras layer name, e.g. stage_2_block_23_layernorm (default: the paper's cut, moved for other sizes)",
    )
    .option('--input-size <n>', 'square input size in pixels', wholeNumber(32), DEFAULTS.inputSize);
}
