/**
 * Face detection on real photos no one here made: Debian's scikit-image (`python3-skimage`: the
 * astronaut, the cameraman, chelsea the cat, photos without faces), matplotlib's Grace Hopper
 * (`python-matplotlib-data`), and face-api's six group photos (22 faces). `.ci/run` installs both
 * Debian packages.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
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

  it('finds the faces of portraits and tight crops (a face filling the picture), enlarged as phones save them', async () => {
    // Each face of face-api's sample4 and sample5 cut at 1.2 and 1.5× its box, enlarged to 500 px.
    // SSD misses most of them; with a border round the picture it finds them (bench/face-quality.ts).
    const found = { border: 0, without: 0, crops: 0 };
    for (const photo of ['sample4.jpg', 'sample5.jpg']) {
      const file = path.join(FACE_API, photo);
      const { width, height } = await sharp(file).metadata();
      for (const { box: b } of await detectFaces(file, 112))
        for (const k of [1.2, 1.5]) {
          const side = Math.max(b.width, b.height) * k;
          const left = Math.max(0, Math.round(b.x + b.width / 2 - side / 2));
          const top = Math.max(0, Math.round(b.y + b.height / 2 - side / 2));
          const crop = await sharp(file)
            .extract({
              left,
              top,
              width: Math.min(width! - left, Math.round(side)),
              height: Math.min(height! - top, Math.round(side)),
            })
            .resize(500, 500, { fit: 'inside' })
            .png()
            .toBuffer();
          const faces = await detectFaces(crop, 112);
          expect(faces.length).toBeLessThanOrEqual(1); // never a second, false face
          found.border += faces.length;
          found.without += (await detectFaces(crop, 112, { retryWithBorder: false })).length;
          found.crops++;
        }
    }
    console.log(`tight crops: ${found.border}/${found.crops} faces found (${found.without} without the border)`);
    expect(found.crops).toBe(2 * (4 + 5));
    expect(found.border).toBeGreaterThanOrEqual(16);
    expect(found.without).toBeLessThanOrEqual(found.border - 5); // measured: 17 with the border, 10 without
  });

  it('reads a BMP as plain predict does (sharp has no BMP loader): the same face as the JPEG', async () => {
    const { data, info } = await sharp(HOPPER).raw().toBuffer({ resolveWithObject: true });
    const [jpeg] = await detectFaces(HOPPER, 112);
    const [bmp] = await detectFaces(encodeBmp24(data, info.width, info.height), 112);
    expect(bmp!.box).toEqual(jpeg!.box);
  });

  it('iou', () => {
    expect(iou({ x: 0, y: 0, width: 2, height: 2 }, { x: 1, y: 1, width: 2, height: 2 })).toBeCloseTo(1 / 7, 10);
    expect(iou({ x: 0, y: 0, width: 1, height: 1 }, { x: 2, y: 2, width: 1, height: 1 })).toBe(0);
  });
});

/** A 24-bit BMP as the format lays it out: BITMAPINFOHEADER, rows bottom-up in BGR, each padded to 4 bytes. */
function encodeBmp24(rgb: Uint8Array, w: number, h: number): Uint8Array {
  const stride = Math.ceil((w * 3) / 4) * 4;
  const out = Buffer.alloc(54 + stride * h);
  out.write('BM', 0, 'latin1');
  out.writeUInt32LE(out.length, 2);
  out.writeUInt32LE(54, 10);
  out.writeUInt32LE(40, 14);
  out.writeInt32LE(w, 18);
  out.writeInt32LE(h, 22);
  out.writeUInt16LE(1, 26);
  out.writeUInt16LE(24, 28);
  out.writeUInt32LE(stride * h, 34);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const [o, i] = [54 + (h - 1 - y) * stride + 3 * x, 3 * (y * w + x)];
      [out[o], out[o + 1], out[o + 2]] = [rgb[i + 2]!, rgb[i + 1]!, rgb[i]!];
    }
  return out;
}
