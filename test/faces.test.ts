/**
 * Face detection on real photos no one here made: Debian's scikit-image (`python3-skimage`: the
 * astronaut, the cameraman, chelsea the cat, photos without faces), matplotlib's Grace Hopper
 * (`python-matplotlib-data`), and face-api's six group photos (22 faces). `.ci/run` installs both
 * Debian packages.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectFaces } from '../src/infer/faces.js';
import { iou } from '../src/infer/face-align.js';
import { FIXTURES } from './helpers.js';

const SKIMAGE = '/usr/lib/python3/dist-packages/skimage/data';
const HOPPER = '/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg';
const FACE_API = path.join(path.dirname(FIXTURES), '..', 'node_modules', '@vladmandic', 'face-api', 'demo');
const need = (file: string) => {
  if (!existsSync(file)) throw new Error(`${file} is missing: apt-get install python3-skimage python-matplotlib-data`);
  return file;
};

describe('faces on real photos', () => {
  it('finds the one face of the astronaut, the cameraman and Grace Hopper, and all 22 of face-api’s group photos', async () => {
    for (const f of [path.join(SKIMAGE, 'astronaut.png'), path.join(SKIMAGE, 'camera.png'), HOPPER])
      expect((await detectFaces(need(f), 112)).length, f).toBe(1);
    let n = 0;
    for (let i = 1; i <= 6; i++) n += (await detectFaces(path.join(FACE_API, `sample${i}.jpg`), 112)).length;
    expect(n).toBe(22);
  });

  it('finds no face on the cat (SSD alone: one at 0.93) nor on photos without people', async () => {
    const cat = need(path.join(SKIMAGE, 'chelsea.png'));
    expect((await detectFaces(cat, 112, { confirm: false })).map((f) => f.box.score)).toEqual([expect.closeTo(0.93, 2)]);
    expect(await detectFaces(cat, 112)).toEqual([]);
    for (const f of ['coffee.png', 'rocket.jpg', 'horse.png', 'coins.png', 'brick.png', 'hubble_deep_field.jpg', 'moon.png'])
      expect(await detectFaces(path.join(SKIMAGE, f), 112), f).toEqual([]);
  });

  it('iou', () => {
    expect(iou({ x: 0, y: 0, width: 2, height: 2 }, { x: 1, y: 1, width: 2, height: 2 })).toBeCloseTo(1 / 7, 10);
    expect(iou({ x: 0, y: 0, width: 1, height: 1 }, { x: 2, y: 2, width: 1, height: 1 })).toBe(0);
  });
});
