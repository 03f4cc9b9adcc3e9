/**
 * One engine: everything convcut runs is an ONNX Runtime graph. TensorFlow.js is a development
 * dependency only (the reference face-api's and Human's parity tests and benchmarks run), and no
 * product code — library, CLI, server or page — loads it, nor face-api's or Human's code (their
 * packages are read for their weight files).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from './helpers.js';

const root = path.join(path.dirname(FIXTURES), '..');
const sources = (dir: string): string[] =>
  readdirSync(path.join(root, dir), { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && /\.(ts|mts|js|mjs)$/.test(d.name))
    .map((d) => path.join(d.parentPath, d.name));

describe('one engine', () => {
  it('TensorFlow.js is no runtime dependency', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(pkg.dependencies).filter((d) => d.startsWith('@tensorflow/'))).toEqual([]);
  });

  it('no file of src/, web/ or bin/ imports TensorFlow.js, or face-api’s or Human’s code', () => {
    // Loading code: `from '…'`, `import('…')`, `require('…')`, `createRequire(…)('…')`. (A
    // `require.resolve('…')` only finds where a package's weight files are.)
    const imports = /(?:from\s+|import\s*\(\s*|require\s*\(\s*|\)\s*\(\s*)['"]([^'"]+)['"]/g;
    const offenders: string[] = [];
    for (const file of ['src', 'web/src', 'bin'].flatMap(sources))
      for (const [, spec] of readFileSync(file, 'utf8').matchAll(imports))
        if (/^@tensorflow\//.test(spec!) || /^@vladmandic\/(face-api|human)(\/dist|$)/.test(spec!))
          offenders.push(`${path.relative(root, file)}: ${spec}`);
    expect(offenders).toEqual([]);
  });
});
