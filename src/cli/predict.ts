import type { Command } from 'commander';

export function registerPredict(program: Command): void {
  program
    .command('predict')
    .description('predict the expression of face images: top-k classes with probabilities')
    .argument('<inputs...>', 'image files, folders (searched recursively) or patterns like faces/*.jpg')
    .requiredOption('-m, --model <file>', 'convcut checkpoint (.safetensors) or exported .onnx')
    .option('-k, --top-k <n>', 'classes to show per image', '3')
    .option('--format <f>', 'table, json or csv', 'table')
    .option('--batch-size <n>', 'images per ONNX Runtime call', '8')
    .addHelpText(
      'after',
      '\nImages are expected to be face crops (like RAF-DB aligned faces); they are resized to the model input.\n' +
        'Unreadable images are reported on stderr and skipped.\n\nExamples:\n' +
        '  convcut predict -m runs/raf/best.safetensors face.jpg\n  convcut predict -m model.onnx photos/ --format csv > predictions.csv\n',
    )
    .action(async (inputs: string[], o: { model: string; topK: string; format: string; batchSize: string }) => {
      if (!['table', 'json', 'csv'].includes(o.format)) throw new Error(`--format must be table, json or csv, not "${o.format}"`);
      const { expandInputs } = await import('./inputs.js');
      const { ConvCutModel } = await import('../infer/convcut-model.js');
      const { decodeMany } = await import('../data/image.js');
      const files = await expandInputs(inputs);
      const model = await ConvCutModel.load(o.model);
      const k = Number(o.topK);
      const rows: { file: string; label: string; score: number; top: { label: string; score: number }[] }[] = [];
      const bs = Math.max(1, Number(o.batchSize));
      for (let i = 0; i < files.length; i += bs) {
        const part = files.slice(i, i + bs);
        const decoded = await decodeMany(part, model.config.inputSize);
        const good = decoded.flatMap((d, j) => (d.ok ? [{ file: part[j]!, img: d.image }] : []));
        for (const d of decoded) if (!d.ok) console.error(`skipped ${d.error.message}`);
        if (!good.length) continue;
        const preds = await model.predict(
          good.map((g) => g.img),
          { topK: k, batchSize: bs },
        );
        preds.forEach((p, j) => rows.push({ file: good[j]!.file, label: p.label, score: p.score, top: p.top }));
      }
      await model.dispose();
      if (o.format === 'json') console.log(JSON.stringify(rows, null, 1));
      else if (o.format === 'csv') {
        console.log(['file', ...Array.from({ length: k }, (_, i) => `label_${i + 1},score_${i + 1}`)].join(','));
        for (const r of rows)
          console.log([JSON.stringify(r.file), ...r.top.map((t) => `${t.label},${t.score.toFixed(4)}`)].join(','));
      } else {
        const w = Math.min(60, Math.max(4, ...rows.map((r) => r.file.length)));
        for (const r of rows)
          console.log(`${r.file.padEnd(w)}  ${r.top.map((t) => `${t.label} ${(100 * t.score).toFixed(1)}%`).join('  ')}`);
      }
      if (!rows.length) throw new Error(`none of the ${files.length} images could be read`);
    });
}
