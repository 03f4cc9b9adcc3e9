import type { Command } from 'commander';
import { progressBar } from './progress.js';
import { choice, ferplusModeArg, wholeNumber } from './arg-parsers.js';

export function registerData(program: Command): void {
  const data = program.command('data').description('data sets: inspect formats, counts and problems; generate synthetic faces');

  data
    .command('inspect')
    .description('detect the format of a data set, count images per split and class, and list every problem found')
    .argument(
      '<dir>',
      'data set folder (RAF-DB basic, FERPlus CSVs, train/<class>/ folders, <class>/ folders) or a .csv manifest',
    )
    .option('--json', 'print a JSON report on stdout')
    .option(
      '--ferplus-mode <mode>',
      'FERPlus label rule: majority, probability, crossentropy, multi-target',
      ferplusModeArg,
      'majority',
    )
    .option('--rafdb-images <kind>', 'RAF-DB image folder: aligned or original', choice('aligned', 'original'), 'aligned')
    .option('--no-images', 'do not decode the images (faster; only the label files are checked)')
    .addHelpText(
      'after',
      '\nEvery image is decoded once (both cores) unless --no-images; unreadable ones are listed with the reason.\n' +
        'Exit status: 0 when usable images exist (problems are reported, not fatal), 1 when none are.\n\n' +
        'Examples:\n  convcut data inspect ~/data/RAF-DB/basic\n  convcut data inspect ~/data/FERPlus --ferplus-mode crossentropy --json\n',
    )
    .action(async (dir: string, o: { json?: boolean; ferplusMode: string; rafdbImages: string; images: boolean }) => {
      const { openDataset } = await import('../data/open-dataset.js');
      const { checkImages } = await import('../data/validate.js');
      const { countsBySplit, describeProblem } = await import('../data/dataset.js');
      let ds = await openDataset(dir, { ferplusMode: o.ferplusMode as never, rafdbImages: o.rafdbImages as never });
      let badImages = 0;
      if (o.images) {
        const bar = progressBar(ds.samples.length, 'checking images');
        const res = await checkImages(ds, (n) => bar.tick(n));
        bar.stop();
        ds = res.dataset;
        badImages = res.bad.length;
      }
      const report = {
        path: dir,
        format: ds.format,
        root: ds.root,
        classes: ds.classes,
        counts: countsBySplit(ds),
        total: ds.samples.length,
        imagesChecked: o.images,
        badImages,
        notes: ds.notes ?? [],
        problems: ds.problems,
      };
      if (o.json) console.log(JSON.stringify(report, null, 2));
      else {
        console.log(
          `${dir}: ${ds.format}, ${ds.classes.length} classes, ${ds.samples.length} usable images${o.images ? '' : ' (images not decoded)'}`,
        );
        for (const note of report.notes) console.log(`  note: ${note}`);
        const splits = Object.keys(report.counts);
        const w = Math.max(...ds.classes.map((c) => c.length), 5);
        console.log(`  ${'class'.padEnd(w)} ${splits.map((s) => s.padStart(7)).join(' ')}`);
        for (const c of ds.classes)
          console.log(`  ${c.padEnd(w)} ${splits.map((s) => String(report.counts[s]![c]).padStart(7)).join(' ')}`);
        if (ds.problems.length) {
          console.log(`  ${ds.problems.length} problem(s):`);
          for (const p of ds.problems.slice(0, 50)) console.log(`    ${describeProblem(p)}`);
          if (ds.problems.length > 50) console.log(`    … ${ds.problems.length - 50} more (use --json for all)`);
        }
      }
      if (!ds.samples.length) {
        console.error(`convcut: ${dir}: no usable images`);
        process.exitCode = 1;
      }
    });

  data
    .command('synth')
    .description('generate synthetic expression faces in the RAF-DB basic layout or as FERPlus CSVs')
    .argument('<dir>', 'output folder')
    .option('--format <f>', 'rafdb or ferplus', choice('rafdb', 'ferplus'), 'rafdb')
    .option('--seed <n>', 'random seed', wholeNumber(0), 1)
    .option('--train-per-class <n>', 'training images per class', wholeNumber(1), 40)
    .option('--test-per-class <n>', 'test images per class (held-out identities)', wholeNumber(1), 15)
    .addHelpText('after', '\nExample:\n  convcut data synth ./synthetic-raf --train-per-class 100\n')
    .action(async (dir: string, o: { format: string; seed: number; trainPerClass: number; testPerClass: number }) => {
      const { writeSyntheticRafdb, writeSyntheticFerplus } = await import('../data/synthetic.js');
      const opts = { seed: o.seed, trainPerClass: o.trainPerClass, testPerClass: o.testPerClass };
      if (o.format === 'ferplus') {
        const r = await writeSyntheticFerplus(dir, opts);
        console.log(`wrote ${r.rows} FERPlus rows to ${dir}/fer2013.csv and fer2013new.csv (seed ${opts.seed})`);
      } else if (o.format === 'rafdb') {
        const bar = progressBar((opts.trainPerClass + opts.testPerClass) * 7, 'synthesising');
        const r = await writeSyntheticRafdb(dir, opts, () => bar.tick());
        bar.stop();
        console.log(`wrote ${r.images} RAF-DB images under ${r.root} (seed ${opts.seed})`);
      } else throw new Error(`--format must be rafdb or ferplus, not "${o.format}"`);
    });
}
