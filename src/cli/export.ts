import type { Command } from 'commander';
import type { GraphPart } from '../engine/onnx-export.js';
import { choice } from './arg-parsers.js';

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('write a checkpoint as an ONNX model for onnxruntime (Node, web, Python, C++)')
    .argument('<checkpoint>', 'convcut checkpoint (.safetensors), or hf:<org>/<repo>[/<file>], or a URL')
    .requiredOption('-o, --output <file>', 'output .onnx file')
    .option(
      '--part <part>',
      'full (images → logits, embedding), backbone (images → cut features) or head (features → logits)',
      choice('full', 'backbone', 'head'),
      'full',
    )
    .option('--model-card', "also copy the run's README.md (its model card) beside the output")
    .addHelpText(
      'after',
      '\nThe full model takes float32 images (N, S, S, 3), RGB 0..255, and outputs logits (N, classes) and the\n' +
        '32-d embedding; ImageNet normalisation is inside the graph.\n\nExample:\n  convcut export runs/best.safetensors -o convcut.onnx\n',
    )
    .action(async (file: string, o: { output: string; part: GraphPart; modelCard?: boolean }) => {
      const { exportOnnx } = await import('../engine/onnx-export.js');
      const { loadCheckpoint } = await import('../weights/checkpoint.js');
      const { writeFileAtomic } = await import('../util/atomic.js');
      const { resolveModel } = await import('../weights/sources.js');
      const checkpoint = await resolveModel(file);
      const ck = await loadCheckpoint(checkpoint);
      const bytes = exportOnnx(ck.meta.config, ck.weights, { part: o.part, metadata: { provenance: ck.meta.provenance } });
      await writeFileAtomic(o.output, bytes);
      console.log(`wrote ${o.output} (${(bytes.length / 1e6).toFixed(1)} MB, ${o.part})`);
      if (o.modelCard) {
        const { copyFile } = await import('node:fs/promises');
        const path = await import('node:path');
        const card = path.join(path.dirname(checkpoint), 'README.md');
        const dest = path.join(path.dirname(o.output), 'README.md');
        await copyFile(card, dest).catch((e: NodeJS.ErrnoException) => {
          throw new Error(
            `--model-card: cannot copy ${card} (${e.code ?? e.message}); convcut train writes it in the run folder`,
            { cause: e },
          );
        });
        console.log(`wrote ${dest} (model card)`);
      }
    });
}
