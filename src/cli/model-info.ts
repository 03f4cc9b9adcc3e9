import type { Command } from 'commander';
import { networkOptions } from './network-options.js';
import { describeConvCut } from '../engine/describe.js';
import { cutName, makeConfig, type AttentionMode } from '../model/config.js';
import { attentionArg, wholeNumber } from './arg-parsers.js';

export function registerModelInfo(program: Command): void {
  networkOptions(
    program
      .command('model-info')
      .description(
        'parameter count, compute and output shape of the cut backbone and of the whole Conv-cut model (no weights needed)',
      ),
  )
    .option('--attention <mode>', 'token (default, per image), batch (the reference), none', attentionArg, 'token')
    .option('--classes <n>', 'number of classes (7 RAF-DB, 8 FERPlus)', wholeNumber(2), 7)
    .option('--json', 'print JSON')
    .option(
      '--weights <source>',
      'also check that ImageNet weights fit this cut backbone (imagenet, keras:convnext_<size>, hf:…, a URL or a file)',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  convcut model-info --backbone base --cut stage_2_block_23_layernorm\n  convcut model-info --backbone base --weights imagenet\n',
    )
    .action(
      async (o: {
        backbone: string;
        cut?: string;
        inputSize: number;
        attention: AttentionMode;
        classes: number;
        json?: boolean;
        weights?: string;
      }) => {
        const cfg = makeConfig({
          backbone: o.backbone,
          cut: o.cut,
          inputSize: o.inputSize,
          head: { attention: o.attention, classes: Array.from({ length: o.classes }, (_, i) => `class_${i}`) },
        });
        const d = describeConvCut(cfg);
        const info = {
          backbone: o.backbone,
          cut: cutName(cfg.cut),
          kerasCut: `convnext_${o.backbone}_${cutName(cfg.cut)}`,
          inputShape: [cfg.inputSize, cfg.inputSize, 3],
          attention: cfg.head.attention,
          cutBackbone: { params: d.backbone.params, macs: d.backbone.macs, outputShape: d.backbone.outputShape },
          head: { params: d.head.params, macs: d.head.macs, outputShape: d.head.outputShape },
          model: { params: d.full.params, macs: d.full.macs, outputShape: d.full.outputShape },
        };
        let weights: { source: string; file: string; format: string; loaded: number; dropped: number } | undefined;
        if (o.weights) {
          const { loadPretrained } = await import('../weights/load-pretrained.js');
          const { describeBackbone } = await import('../engine/describe.js');
          const pre = await loadPretrained(o.weights, describeBackbone(cfg).specs, cfg.backbone.size); // throws what does not fit
          weights = { source: o.weights, file: pre.file, format: pre.format, loaded: pre.weights.size, dropped: pre.dropped };
        }
        if (o.json) {
          console.log(JSON.stringify({ ...info, weights }, null, 2));
          return;
        }
        const g = (n: number) => `${(n / 1e9).toFixed(2)} GMAC`;
        console.log(`Conv-cut on ConvNeXt-${o.backbone}, cut at ${info.kerasCut}, input ${cfg.inputSize}×${cfg.inputSize}×3`);
        console.log(
          `  cut backbone  ${d.backbone.params.toLocaleString('en-US').padStart(12)} params  ${g(d.backbone.macs).padStart(11)}  → ${d.backbone.outputShape.join('×')}`,
        );
        console.log(
          `  head          ${d.head.params.toLocaleString('en-US').padStart(12)} params  ${g(d.head.macs).padStart(11)}  (${cfg.head.attention} attention)`,
        );
        console.log(
          `  whole model   ${d.full.params.toLocaleString('en-US').padStart(12)} params  ${g(d.full.macs).padStart(11)}  → ${d.full.outputShape.join('×')} logits`,
        );
        if (weights)
          console.log(
            `  weights       ${weights.source} (${weights.format}, ${weights.file}): fit; ${weights.loaded} tensors used, ${weights.dropped} after the cut ignored`,
          );
      },
    );
}
