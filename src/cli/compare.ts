import type { Command } from 'commander';
import { wholeNumber } from './arg-parsers.js';

export function registerCompare(program: Command): void {
  program
    .command('compare')
    .description('models side by side: a table of their evaluations and a paired bootstrap test of each against the first')
    .argument(
      '<evaluations...>',
      'report folders written by convcut eval -o (or run folders holding report/), the baseline first',
    )
    .option('-o, --out <dir>', 'also write compare.json, compare.md and comparison.png/.svg here')
    .option('--seed <n>', 'bootstrap seed (recorded in compare.json)', wholeNumber(0), 0)
    .addHelpText(
      'after',
      `
Every evaluation must be of the same images (the test split of one data set, say): differences are
computed on the images they share. The paired bootstrap resamples those images 1,000 times.

Example:
  convcut eval runs/a/best.safetensors ~/data/RAF-DB/basic -o runs/a/report
  convcut eval runs/b/best.safetensors ~/data/RAF-DB/basic -o runs/b/report
  convcut compare runs/a runs/b -o comparison/
`,
    )
    .action(async (args: string[], o: { out?: string; seed: number }) => {
      const { readEvaluation, pairedBootstrap } = await import('../eval/compare.js');
      const evals = await Promise.all(args.map(readEvaluation));
      const base = evals[0]!;
      const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
      const rows = evals.map((e, i) => {
        const m = e.report.metrics;
        const paired = i === 0 ? undefined : pairedBootstrap(base, e, o.seed);
        return {
          name: e.name,
          dir: e.dir,
          n: m.n,
          accuracy: m.accuracy,
          uar: m.uar,
          macroF1: m.macroF1,
          ece: e.report.ece,
          ci95: e.report.ci95?.accuracy,
          paired,
        };
      });
      const lines = [
        '| model | images | accuracy (95 % CI) | UAR | macro-F1 | ECE | Δ accuracy vs first (95 % CI, p) |',
        '|---|---|---|---|---|---|---|',
        ...rows.map(
          (r) =>
            `| ${r.name} | ${r.n} | ${pct(r.accuracy)}${r.ci95 ? ` (${pct(r.ci95.low)}–${pct(r.ci95.high)})` : ''} | ${pct(r.uar)} | ${pct(r.macroF1)} | ${r.ece === undefined ? '—' : pct(r.ece)} | ${
              r.paired
                ? `${r.paired.difference >= 0 ? '+' : ''}${(100 * r.paired.difference).toFixed(2)} points (${(100 * r.paired.ci95.low).toFixed(2)} to ${(100 * r.paired.ci95.high).toFixed(2)}, p = ${r.paired.pValue.toFixed(3)}, ${r.paired.common} images)`
                : 'baseline'
            } |`,
        ),
      ];
      console.log(lines.join('\n'));
      if (o.out) {
        const { writeFileAtomic } = await import('../util/atomic.js');
        const { renderSpec, comparisonSpec } = await import('../eval/plots.js');
        const path = await import('node:path');
        const { mkdir } = await import('node:fs/promises');
        await mkdir(o.out, { recursive: true });
        await writeFileAtomic(
          path.join(o.out, 'compare.json'),
          JSON.stringify({ seed: o.seed, resamples: 1000, models: rows }, null, 1),
        );
        await writeFileAtomic(
          path.join(o.out, 'compare.md'),
          `# convcut compare\n\n${lines.join('\n')}\n\n![comparison](comparison.png)\n`,
        );
        const pic = await renderSpec(
          comparisonSpec(
            rows.map((r) => ({
              name: r.name,
              accuracy: r.accuracy,
              low: r.ci95?.low ?? r.accuracy,
              high: r.ci95?.high ?? r.accuracy,
            })),
          ),
        );
        await writeFileAtomic(path.join(o.out, 'comparison.svg'), pic.svg);
        await writeFileAtomic(path.join(o.out, 'comparison.png'), pic.png);
        console.log(`wrote ${o.out}/compare.json, compare.md, comparison.png`);
      }
    });
}
