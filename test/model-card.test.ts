/**
 * The run folder's model card (train/model-card.ts) as the Hub reads it: YAML front matter with
 * library_name, pipeline_tag and a model-index holding the test metrics the evaluation reported.
 * Checked on a real `convcut demo --quick` run, against its own report.json.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { convcut } from './helpers.js';

describe('model card', () => {
  it('a demo run writes README.md whose front matter parses and carries the reported test accuracy', async () => {
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'convcut-card-')), 'demo');
    const r = await convcut('demo', '--quick', '--out', out, '--seed', '2');
    expect(r.code, r.stderr).toBe(0);
    const card = readFileSync(path.join(out, 'run', 'README.md'), 'utf8');
    const m = /^---\n([\s\S]*?)\n---\n/.exec(card);
    expect(m, 'front matter between --- lines').not.toBeNull();
    const front = YAML.parse(m![1]!) as Record<string, unknown>;
    expect(front).toMatchObject({ library_name: 'convcut', pipeline_tag: 'image-classification' });
    // Synthetic faces are not RAF-DB, though written in its layout: the card says so, and claims no dataset.
    expect(front.tags).toContain('synthetic-data');
    expect(front.datasets).toBeUndefined();
    const report = JSON.parse(readFileSync(path.join(out, 'report', 'report.json'), 'utf8'));
    const [entry] = front['model-index'] as {
      results: { dataset: { split: string }; metrics: { type: string; value: number }[] }[];
    }[];
    const result = entry!.results[0]!;
    expect(result.dataset.split).toBe('test');
    const acc = result.metrics.find((x) => x.type === 'accuracy')!.value;
    expect(acc).toBeCloseTo(report.metrics.accuracy, 4);
    expect(r.stdout).toContain(`test accuracy ${(100 * report.metrics.accuracy).toFixed(1)} %`);
    expect(card).toMatch(/\*\*seed 2\*\*/);
    // The temperature the run fitted on validation (run.json) is stated, with its NLL before and after.
    const cal = JSON.parse(readFileSync(path.join(out, 'run', 'run.json'), 'utf8')).calibration;
    expect(card).toContain(`softmax temperature ${cal.temperature.toFixed(3)}, fitted on ${cal.n} validation images`);
    expect(card).toMatch(/synthetic faces/);
  });
});
