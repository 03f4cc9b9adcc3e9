import type { Command } from 'commander';

export function registerWeights(program: Command): void {
  const cmd = program
    .command('weights')
    .description('ImageNet ConvNeXt weights by name: list them (cached or not), or fetch them before going offline');
  cmd
    .command('list')
    .description('the named weights: source, size, licence, and whether they are cached')
    .option('--json', 'print as JSON')
    .action(async (o: { json?: boolean }) => {
      const { CATALOG, cachedCopy, cacheLocations } = await import('../weights/sources.js');
      const rows = await Promise.all(CATALOG.map(async (e) => ({ ...e, cached: (await cachedCopy(e)) ?? null })));
      if (o.json) return console.log(JSON.stringify({ caches: cacheLocations(), weights: rows }, null, 1));
      for (const r of rows) {
        console.log(
          `${r.name.padEnd(26)} ≈${(r.approxBytes / 1e6).toFixed(0).padStart(5)} MB  ${r.cached ? 'cached' : '      '}  ${r.what}`,
        );
        console.log(`${''.padEnd(26)} ${r.source}\n${''.padEnd(26)} licence: ${r.licence}`);
      }
      const c = cacheLocations();
      console.log(`\nHub cache (shared with Python's huggingface_hub): ${c.hub}\nconvcut cache (URLs, keras:): ${c.convcut}`);
    });
  cmd
    .command('fetch')
    .description('download weights or a model into the cache now (then HF_HUB_OFFLINE=1 works)')
    .argument('<names...>', 'imagenet, keras:convnext_<size>, hf:<org>/<repo>[@revision][/<file>] or a URL')
    .option('--backbone <size>', 'for imagenet: which ConvNeXt', 'base')
    .addHelpText(
      'after',
      '\nExamples:\n  convcut weights fetch imagenet --backbone base\n  convcut weights fetch keras:convnext_base\n  convcut weights fetch hf:someone/convcut-rafdb\n',
    )
    .action(async (names: string[], o: { backbone: string }) => {
      const { resolveWeights } = await import('../weights/sources.js');
      for (const n of names) console.log(`${n}: ${await resolveWeights(n, o.backbone)}`);
    });
}
