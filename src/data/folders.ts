/**
 * Folder layouts and CSV manifests:
 * - split folders (the reference code's layout): `train/<class>/*.jpg`, `test/<class>/*.jpg`,
 *   optionally `valid/<class>/`;
 * - a plain folder per class: `<class>/*.jpg` (all samples are `train`);
 * - a CSV manifest `path,label[,split]` (header required; paths relative to the CSV).
 * Class names are the folder names (or labels) in alphabetical order, as Keras'
 * `image_dataset_from_directory` orders them.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { IMAGE_EXTENSIONS, type Dataset, type Problem, type Sample, type Split } from './dataset.js';

const SPLIT_DIRS: Record<string, Split> = { train: 'train', test: 'test', valid: 'valid', val: 'valid', validation: 'valid' };

async function subdirs(dir: string): Promise<string[]> {
  return (await fs.readdir(dir, { withFileTypes: true }))
    .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
    .map((d) => d.name)
    .sort();
}

async function images(dir: string): Promise<string[]> {
  return (await fs.readdir(dir, { withFileTypes: true }))
    .filter((d) => d.isFile() && IMAGE_EXTENSIONS.has(path.extname(d.name).toLowerCase()))
    .map((d) => d.name)
    .sort();
}

export async function hasSplitFolders(dir: string): Promise<boolean> {
  const dirs: string[] = await subdirs(dir).catch(() => []);
  return dirs.includes('train') && dirs.some((d) => SPLIT_DIRS[d] === 'test' || SPLIT_DIRS[d] === 'valid');
}

export async function readFolders(dir: string): Promise<Dataset> {
  const split = await hasSplitFolders(dir);
  const groups: { split: Split; dir: string }[] = split
    ? (await subdirs(dir)).filter((d) => SPLIT_DIRS[d]).map((d) => ({ split: SPLIT_DIRS[d]!, dir: path.join(dir, d) }))
    : [{ split: 'train', dir }];
  const classSet = new Set<string>();
  for (const g of groups) for (const c of await subdirs(g.dir)) classSet.add(c);
  const classes = [...classSet].sort();
  if (!classes.length) throw new Error(`${dir}: no class folders found (expected <class>/*.jpg or train/<class>/*.jpg)`);
  const samples: Sample[] = [];
  const problems: Problem[] = [];
  for (const g of groups) {
    for (const c of await subdirs(g.dir)) {
      const files = await images(path.join(g.dir, c));
      if (!files.length) problems.push({ file: path.join(g.dir, c), message: 'class folder has no images' });
      for (const f of files) {
        const p = path.join(g.dir, c, f);
        samples.push({ id: path.relative(dir, p), source: { kind: 'file', path: p }, label: classes.indexOf(c), split: g.split });
      }
    }
  }
  return { format: split ? 'split-folders' : 'class-folders', root: dir, classes, samples, problems };
}

/** Minimal CSV (RFC 4180 quoting) → rows of fields. */
export function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

export async function readManifest(file: string): Promise<Dataset> {
  const text = await fs.readFile(file, 'utf8');
  const lines = text.split(/\r?\n/);
  const header = parseCsvLine(lines[0] ?? '').map((h) => h.trim().toLowerCase());
  const pi = header.indexOf('path');
  const li = header.indexOf('label');
  const si = header.indexOf('split');
  if (pi < 0 || li < 0)
    throw new Error(`${file}:1: a manifest needs a header with columns path,label[,split]; got "${lines[0]}"`);
  const rows: { line: number; path: string; label: string; split: string }[] = [];
  const problems: Problem[] = [];
  const base = path.dirname(file);
  lines.slice(1).forEach((l, i) => {
    if (!l.trim()) return;
    const f = parseCsvLine(l);
    if (f.length < header.length) {
      problems.push({ file, line: i + 2, message: `expected ${header.length} columns, got ${f.length}` });
      return;
    }
    const split = si >= 0 ? (SPLIT_DIRS[f[si]!.trim().toLowerCase()] ?? '') : 'train';
    if (!split) {
      problems.push({ file, line: i + 2, message: `split "${f[si]}" is not train, valid or test` });
      return;
    }
    rows.push({ line: i + 2, path: f[pi]!.trim(), label: f[li]!.trim(), split });
  });
  const classes = [...new Set(rows.map((r) => r.label))].sort();
  const samples: Sample[] = [];
  for (const r of rows) {
    const p = path.resolve(base, r.path);
    try {
      await fs.access(p);
    } catch {
      problems.push({ file, line: r.line, message: `image ${r.path} does not exist` });
      continue;
    }
    samples.push({ id: r.path, source: { kind: 'file', path: p }, label: classes.indexOf(r.label), split: r.split as Split });
  }
  return { format: 'csv-manifest', root: base, classes, samples, problems };
}
