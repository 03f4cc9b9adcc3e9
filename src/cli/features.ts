import type { Command } from 'commander';
import type { Precision } from '../engine/onnx-export.js';
import { networkOptions } from './network-options.js';
import { progressBar } from './progress.js';
import { deviceOption } from './device-option.js';
import type { DeviceChoice } from '../engine/device.js';
import { precisionArg, wholeNumber } from './arg-parsers.js';
import { DEFAULTS } from '../defaults.js';

export function registerFeatures(program: Command): void {
  deviceOption(
    networkOptions(
      program
        .command('features')
        .description('cut-point features of images (N×H×W×C float32 .npy) from ImageNet ConvNeXt weights')
        .argument('<images...>', 'image files (resized to the input size if they are not already)')
        .requiredOption(
          '--weights <source>',
          'ImageNet ConvNeXt weights: imagenet (downloaded once; see convcut weights list), keras:convnext_<size>, hf:<org>/<repo>[/<file>], a URL, or a file (Keras .h5, timm or torchvision .safetensors; detected)',
        )
        .requiredOption('-o, --output <file>', 'output .npy file'),
    ),
  )
    .option('--batch-size <n>', 'images per ONNX Runtime call', wholeNumber(1), DEFAULTS.inferenceBatch)
    .option(
      '--precision <p>',
      'fp32; int8 (int8 weights for the MatMuls; faster on CPU, cosine ≥ 0.99 to fp32); fp16 (half-precision compute, --device webgpu)',
      precisionArg,
      'fp32',
    )
    .addHelpText(
      'after',
      '\nImages are decoded to RGB 0..255, resized bilinearly, and normalised with the ImageNet mean/std inside\n' +
        'the model, as the reference Keras code does. Read the result in Python with numpy.load().\n\n' +
        'Example:\n  convcut features --backbone base --weights imagenet -o feats.npy faces/*.jpg\n',
    )
    .action(
      async (
        images: string[],
        o: {
          weights: string;
          output: string;
          backbone: string;
          cut?: string;
          inputSize: number;
          batchSize: number;
          precision: Precision;
          device?: DeviceChoice;
        },
      ) => {
        // Heavy modules (ONNX Runtime, sharp, h5wasm) load only when the command runs, so --help is instant.
        const { makeConfig } = await import('../model/config.js');
        const { describeBackbone } = await import('../engine/describe.js');
        const { loadPretrained } = await import('../weights/load-pretrained.js');
        const { BackboneRunner } = await import('../infer/features.js');
        const { pipelined } = await import('../infer/pipeline.js');
        const { encodeNpy } = await import('../util/npy.js');
        const { writeFileAtomic } = await import('../util/atomic.js');
        const { announceDevice } = await import('./device-option.js');
        const device = await announceDevice(o.device);
        const cfg = makeConfig({ backbone: o.backbone, cut: o.cut, inputSize: o.inputSize });
        const { weights, format } = await loadPretrained(o.weights, describeBackbone(cfg).specs, cfg.backbone.size);
        const runner = await BackboneRunner.create(cfg, weights, { precision: o.precision, device });
        const per = runner.featureShape.reduce((a, b) => a * b, 1);
        const out = new Float32Array(images.length * per);
        const kept: string[] = [];
        const bs = o.batchSize;
        const bar = progressBar(images.length, 'features');
        // Decoding of the next batch overlaps the backbone run of this one (see src/infer/pipeline.ts).
        const skip = (e: Error) => {
          console.error(`skipped ${e.message}`);
          bar.tick(1);
        };
        for await (const b of pipelined(images, cfg.inputSize, bs, (x) => runner.run(x), skip)) {
          out.set(b.output.data, kept.length * per);
          kept.push(...b.items);
          bar.tick(b.items.length);
        }
        bar.stop();
        await runner.dispose();
        if (!kept.length) throw new Error(`none of the ${images.length} images could be decoded`);
        await writeFileAtomic(
          o.output,
          encodeNpy({ shape: [kept.length, ...runner.featureShape], data: out.subarray(0, kept.length * per) }),
        );
        // Row i of the array is the i-th line of this list (skipped images are absent from both).
        await writeFileAtomic(`${o.output}.files.txt`, kept.join('\n') + '\n');
        const skipped = images.length - kept.length;
        console.log(
          `wrote ${o.output}: ${kept.length}×${runner.featureShape.join('×')} float32 (weights: ${format})` +
            (skipped ? `; ${skipped} image(s) skipped, row order in ${o.output}.files.txt` : ''),
        );
      },
    );
}
