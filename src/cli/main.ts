/**
 * The `convcut` command line. Each command lives in its own file and registers itself here.
 * Errors are printed as one line naming the file and what is wrong (set CONVCUT_DEBUG=1 for stacks).
 */
import { Command } from 'commander';
import { registerExport } from './export.js';
import { registerFeatures } from './features.js';
import { registerModelInfo } from './model-info.js';
import { registerData } from './data.js';
import { registerDemo } from './demo.js';
import { registerDevices } from './devices.js';
import { registerCompare } from './compare.js';
import { registerEval } from './eval.js';
import { registerPredict } from './predict.js';
import { registerServe } from './serve.js';
import { registerTrain } from './train.js';
import { registerWeights } from './weights.js';
import { downloadBars } from './progress.js';
import { setDownloadReporter } from '../weights/download.js';

const program = new Command();
program
  .name('convcut')
  .description('Facial expression recognition with Conv-cut (truncated ConvNeXt + Detail Extraction Block + attention)')
  .version('0.1.0')
  // One line of hint, not the whole help: after a typo the error must stay in view.
  .showHelpAfterError("(add --help for the command's options and examples)");

registerDemo(program);
registerTrain(program);
registerEval(program);
registerCompare(program);
registerPredict(program);
registerServe(program);
registerModelInfo(program);
registerFeatures(program);
registerExport(program);
registerData(program);
registerDevices(program);
registerWeights(program);
setDownloadReporter(downloadBars());

try {
  await program.parseAsync(process.argv);
} catch (e) {
  const err = e as Error;
  console.error(`convcut: ${process.env.CONVCUT_DEBUG ? err.stack : err.message}`);
  process.exit(err.name === 'TrainingHalted' ? 130 : 1); // 130: stopped by Ctrl-C, as shells report it
}
