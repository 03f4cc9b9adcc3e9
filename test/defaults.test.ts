/**
 * One source of defaults (src/defaults.ts): what each command's --help states, what the library
 * and the server do when given nothing, are those values.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../src/defaults.js';
import { makeConfig } from '../src/model/config.js';
import { convcut } from './helpers.js';

/** `--option` → its "(default: …)" in `convcut <command> --help`, read as a number. */
async function helpDefaults(command: string): Promise<Map<string, number>> {
  const { stdout } = await convcut(command, '--help');
  const out = new Map<string, number>();
  // An option's description may wrap; its default closes it.
  for (const m of stdout.matchAll(/^\s+(?:-\w, )?(--[\w-]+)[^\n]*(?:\n(?!\s+-)[^\n]*)*?\(default: ([\d.]+)\)/gm))
    out.set(m[1]!, Number(m[2]));
  return out;
}

describe('defaults', () => {
  it("are what the commands' --help states", async () => {
    const predict = await helpDefaults('predict');
    expect(predict.get('--top-k')).toBe(DEFAULTS.topK);
    expect(predict.get('--batch-size')).toBe(DEFAULTS.inferenceBatch);
    expect(predict.get('--min-confidence')).toBe(DEFAULTS.faceMinConfidence);
    const serve = await helpDefaults('serve');
    expect(serve.get('--port')).toBe(DEFAULTS.server.port);
    expect(serve.get('--body-limit')).toBe(DEFAULTS.server.bodyLimit);
    expect(serve.get('--max-pixels')).toBe(DEFAULTS.server.maxPixels);
    expect(serve.get('--timeout')).toBe(DEFAULTS.server.requestTimeoutMs);
    expect(serve.get('--max-queue')).toBe(DEFAULTS.server.maxQueue);
    expect((await helpDefaults('eval')).get('--batch-size')).toBe(DEFAULTS.evalBatch);
    const train = await helpDefaults('train');
    expect(train.get('--batch-size')).toBe(DEFAULTS.trainBatch);
    expect(train.get('--input-size')).toBe(DEFAULTS.inputSize);
    expect((await helpDefaults('features')).get('--batch-size')).toBe(DEFAULTS.inferenceBatch);
  }, 60_000);

  it('are what the library uses when given nothing', () => {
    expect(makeConfig({ backbone: 'test' }).inputSize).toBe(DEFAULTS.inputSize);
  });
});
