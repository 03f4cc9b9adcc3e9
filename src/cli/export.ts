import type { Command } from 'commander';
import type { GraphPart } from '../engine/onnx-export.js';
import { choice } from './arg-parsers.js';

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('write a checkpoint as an ONNX model for onnxruntime (Node, web, Python, C++)')
    .argument('<checkpoint>', 'convcut checkpoint (.safetensors)')
    .requiredOption('-o, --output <file>', 'output .onnx file')
    .option(
      '--part <part>',
      'full (images → logits, embedding), backbone (images → cut features) or head (features → logits)',
      choice('full', 'backbone', 'head'),
      'full',
    )
    .addHelpText(
      'after',
      '\nThe full model takes float32 images (N, S, S, 3), RGB 0..255, and outputs logits (N, classes) and the\n' +
        '32-d embedding; ImageNet normalisation is inside the graph.\n\nExample:\n  convcut export runs/best.safetensors -o convcut.onnx\n',
    )
    .action(async (file: string, o: { output: string; part: GraphPart }) => {
      const { exportOnnx } = await import('../engine/onnx-export.js');
      const { loadCheckpoint } = await import('../weights/checkpoint.js');
      const { writeFileAtomic } = await import('../util/atomic.js');
      const ck = await loadCheckpoint(file);
      const bytes = exportOnnx(ck.meta.config, ck.weights, { part: o.part, metadata: { provenance: ck.meta.provenance } });
      await writeFileAtomic(o.output, bytes);
      console.log(`wrote ${o.output} (${(bytes.length / 1e6).toFixed(1)} MB, ${o.part})`);
    });
}
