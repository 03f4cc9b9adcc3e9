import type { Command } from 'commander';
import { decodeImage, stackImages } from '../data/image.js';
import { describeBackbone } from '../engine/describe.js';
import { BackboneRunner } from '../infer/features.js';
import { makeConfig } from '../model/config.js';
import { writeFileAtomic } from '../util/atomic.js';
import { encodeNpy } from '../util/npy.js';
import { loadPretrained } from '../weights/load-pretrained.js';
import { progressBar } from './progress.js';

export function registerFeatures(program: Command): void {
  program
    .command('features')
    .description('cut-point features of images (N×H×W×C float32 .npy) from ImageNet ConvNeXt weights')
    .argument('<images...>', 'image files (resized to the input size if they are not already)')
    .requiredOption('--weights <file>', 'ConvNeXt weights: Keras convnext_<size>_notop.h5, timm or torchvision .safetensors (detected)')
    .requiredOption('-o, --output <file>', 'output .npy file')
    .option('--backbone <size>', 'ConvNeXt size: test, tiny, small, base, large, xlarge', 'base')
    .option('--cut <name>', 'cut point as a Keras layer name (default: the paper\'s, stage_2_block_23_layernorm for base)')
    .option('--input-size <n>', 'square input size', '224')
    .option('--batch-size <n>', 'images per ONNX Runtime call', '8')
    .addHelpText(
      'after',
      '\nImages are decoded to RGB 0..255, resized bilinearly, and normalised with the ImageNet mean/std inside\n' +
        'the model, as the reference Keras code does. Read the result in Python with numpy.load().\n\n' +
        'Example:\n  convcut features --backbone base --weights convnext_base_notop.h5 -o feats.npy faces/*.jpg\n',
    )
    .action(async (images: string[], o: { weights: string; output: string; backbone: string; cut?: string; inputSize: string; batchSize: string }) => {
      const cfg = makeConfig({ backbone: o.backbone, cut: o.cut, inputSize: Number(o.inputSize) });
      const { weights, format } = await loadPretrained(o.weights, describeBackbone(cfg).specs);
      const runner = await BackboneRunner.create(cfg, weights);
      const per = runner.featureShape.reduce((a, b) => a * b, 1);
      const out = new Float32Array(images.length * per);
      const bs = Math.max(1, Number(o.batchSize));
      const bar = progressBar(images.length, 'features');
      for (let i = 0; i < images.length; i += bs) {
        const batch = await Promise.all(images.slice(i, i + bs).map((f) => decodeImage(f, cfg.inputSize)));
        const f = await runner.run(stackImages(batch));
        out.set(f.data, i * per);
        bar.tick(batch.length);
      }
      bar.stop();
      await runner.dispose();
      await writeFileAtomic(o.output, encodeNpy({ shape: [images.length, ...runner.featureShape], data: out }));
      console.log(`wrote ${o.output}: ${images.length}×${runner.featureShape.join('×')} float32 (weights: ${format})`);
    });
}
