/**
 * Expand command-line image and video arguments: files, folders (recursively) and simple globs
 * (`dir/*.jpg`), as absolute paths: a file named `concat:a.ts|a.ts`, `http:x` or `-i` is then only
 * a file, to ffmpeg and everything else.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { IMAGE_EXTENSIONS } from '../data/dataset.js';
import { VIDEO_EXTENSIONS } from '../infer/video/ffmpeg.js';

function globToRegExp(pattern: string): RegExp {
  return new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '[^/]')}$`,
  );
}

const isMedia = (name: string) => {
  const ext = path.extname(name).toLowerCase();
  return IMAGE_EXTENSIONS.has(ext) || VIDEO_EXTENSIONS.has(ext);
};

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (isMedia(e.name)) out.push(p);
  }
  return out;
}

export async function expandInputs(args: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const a of args) {
    if (/[*?]/.test(path.basename(a))) {
      const dir = path.dirname(a);
      const re = globToRegExp(path.basename(a));
      const names = await fs.readdir(dir).catch(() => {
        throw new Error(`${dir}: no such folder (in pattern ${a})`);
      });
      const hits = names.filter((n) => re.test(n)).sort();
      if (!hits.length) throw new Error(`${a}: no file matches`);
      out.push(...hits.map((n) => path.resolve(dir, n)));
      continue;
    }
    const st = await fs.stat(a).catch(() => undefined);
    if (!st) throw new Error(`${a}: no such file or folder`);
    out.push(...(st.isDirectory() ? await walk(path.resolve(a)) : [path.resolve(a)]));
  }
  return out;
}
