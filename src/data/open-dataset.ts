/**
 * Open a data set in whatever supported format it is, detected from its files:
 * RAF-DB basic (EmoLabel/list_patition_label.txt), FERPlus (fer2013.csv + fer2013new.csv),
 * a CSV manifest (a .csv file), split folders (train/<class>, test/<class>), or class folders.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Dataset } from './dataset.js';
import { readFerplus, type FerplusMode } from './ferplus.js';
import { readFolders, readManifest } from './folders.js';
import { findRafdbRoot, readRafdb } from './rafdb.js';

export interface OpenOptions {
  ferplusMode?: FerplusMode;
  rafdbImages?: 'aligned' | 'original';
}

export async function openDataset(where: string, opts: OpenOptions = {}): Promise<Dataset> {
  if (!existsSync(where)) throw new Error(`${where}: no such file or folder`);
  if (statSync(where).isFile()) {
    if (where.toLowerCase().endsWith('.csv')) return readManifest(where);
    throw new Error(`${where}: a data set is a folder, or a .csv manifest (path,label[,split])`);
  }
  if (findRafdbRoot(where)) return readRafdb(where, { images: opts.rafdbImages });
  if (existsSync(path.join(where, 'fer2013.csv')) || existsSync(path.join(where, 'fer2013new.csv'))) {
    return readFerplus(where, { mode: opts.ferplusMode });
  }
  return readFolders(where);
}
