/** Decoding: formats, colour spaces, EXIF orientation, 16-bit, alpha, and errors that name the file. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImage, decodeMany } from '../src/data/image.js';

const dir = mkdtempSync(path.join(tmpdir(), 'convcut-img-'));
const pixel = (d: Float32Array, s: number, x: number, y: number) =>
  Array.from(d.slice((y * s + x) * 3, (y * s + x) * 3 + 3)).map(Math.round);

/** 24-bit bottom-up BMP with the given RGB rows (top row first). */
function bmp(width: number, rows: number[][][]): Uint8Array {
  const h = rows.length;
  const stride = Math.ceil((width * 3) / 4) * 4;
  const b = new Uint8Array(54 + stride * h);
  const dv = new DataView(b.buffer);
  b.set([0x42, 0x4d]);
  dv.setUint32(2, b.length, true);
  dv.setUint32(10, 54, true);
  dv.setUint32(14, 40, true);
  dv.setInt32(18, width, true);
  dv.setInt32(22, h, true);
  dv.setUint16(26, 1, true);
  dv.setUint16(28, 24, true);
  rows.forEach((row, y) =>
    row.forEach(([r, g, bl], x) => {
      const o = 54 + (h - 1 - y) * stride + x * 3;
      b.set([bl!, g!, r!], o);
    }),
  );
  return b;
}

describe('image decoding', () => {
  it('JPEG, PNG, WebP, TIFF, GIF and BMP all decode to RGB at the model size', async () => {
    const src = sharp({ create: { width: 10, height: 10, channels: 3, background: { r: 200, g: 100, b: 50 } } });
    const files: Record<string, Buffer | Uint8Array> = {
      'a.jpg': await src.clone().jpeg({ quality: 100 }).toBuffer(),
      'a.png': await src.clone().png().toBuffer(),
      'a.webp': await src.clone().webp({ lossless: true }).toBuffer(),
      'a.tiff': await src.clone().tiff().toBuffer(),
      'a.gif': await src.clone().gif().toBuffer(),
      'a.bmp': bmp(2, [
        [
          [200, 100, 50],
          [200, 100, 50],
        ],
        [
          [200, 100, 50],
          [200, 100, 50],
        ],
      ]),
    };
    for (const [name, bytes] of Object.entries(files)) {
      const f = path.join(dir, name);
      writeFileSync(f, bytes);
      const im = await decodeImage(f, 8);
      expect([im.width, im.height, im.data.length]).toEqual([8, 8, 192]);
      const [r, g, b] = pixel(im.data, 8, 4, 4);
      expect(Math.abs(r! - 200) + Math.abs(g! - 100) + Math.abs(b! - 50)).toBeLessThan(12);
    }
  });

  it('greyscale, CMYK, 16-bit and alpha become 8-bit RGB', async () => {
    const grey = await sharp(Buffer.alloc(16, 96), { raw: { width: 4, height: 4, channels: 1 } })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    expect((await sharp(grey).metadata()).channels).toBe(1);
    expect(pixel((await decodeImage(grey, 4)).data, 4, 1, 1)).toEqual([96, 96, 96]);
    const cmyk = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#ff0000' } })
      .toColourspace('cmyk')
      .jpeg()
      .toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const [r, g, b] = pixel((await decodeImage(cmyk, 4)).data, 4, 1, 1);
    expect(r).toBeGreaterThan(200);
    expect(g! + b!).toBeLessThan(80);
    const deep = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#336699' } })
      .toColourspace('rgb16')
      .png()
      .toBuffer();
    expect((await sharp(deep).metadata()).depth).toBe('ushort');
    expect(pixel((await decodeImage(deep, 4)).data, 4, 0, 0)).toEqual([0x33, 0x66, 0x99]);
    const alpha = await sharp({ create: { width: 4, height: 4, channels: 4, background: { r: 10, g: 20, b: 30, alpha: 0.5 } } })
      .png()
      .toBuffer();
    expect((await decodeImage(alpha, 4)).data.length).toBe(48);
  });

  it('applies EXIF orientation', async () => {
    // 20×10: left half red, right half blue; orientation 6 means "rotate 90° clockwise to display".
    const raw = Buffer.alloc(20 * 10 * 3);
    for (let y = 0; y < 10; y++) for (let x = 0; x < 20; x++) raw.set(x < 10 ? [255, 0, 0] : [0, 0, 255], (y * 20 + x) * 3);
    const jpg = await sharp(raw, { raw: { width: 20, height: 10, channels: 3 } })
      .jpeg({ quality: 100 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const im = await decodeImage(jpg, 20);
    expect(pixel(im.data, 20, 10, 2)[0]).toBeGreaterThan(200); // top: red
    expect(pixel(im.data, 20, 10, 17)[2]).toBeGreaterThan(200); // bottom: blue
  });

  it('corrupt inputs fail with the file name and the reason; decodeMany reports them without stopping', async () => {
    const good = path.join(dir, 'good.png');
    await sharp({ create: { width: 4, height: 4, channels: 3, background: 'white' } })
      .png()
      .toFile(good);
    const jpg = await sharp({ create: { width: 64, height: 64, channels: 3, background: 'red' } })
      .jpeg()
      .toBuffer();
    const trunc = path.join(dir, 'trunc.jpg');
    writeFileSync(trunc, jpg.subarray(0, jpg.length - 200));
    const empty = path.join(dir, 'empty.jpg');
    writeFileSync(empty, '');
    const text = path.join(dir, 'text.jpg');
    writeFileSync(text, 'hello');
    const badBmp = path.join(dir, 'bad.bmp');
    writeFileSync(
      badBmp,
      bmp(2, [
        [
          [1, 2, 3],
          [4, 5, 6],
        ],
      ]).subarray(0, 56),
    );
    for (const f of [trunc, empty, text, badBmp, path.join(dir, 'missing.png')]) {
      await expect(decodeImage(f, 8)).rejects.toThrow(new RegExp(`^${f.replace(/[.]/g, '\\.')}: cannot decode image \\(.+\\)`));
    }
    const res = await decodeMany([trunc, good, empty, good], 8);
    expect(res.map((r) => r.ok)).toEqual([false, true, false, true]);
  });

  it('refuses decompression bombs by pixel count before decoding', async () => {
    // A 20,000 × 20,000 PNG header: 400 M pixels > the 100 M limit.
    const small = await sharp({ create: { width: 1, height: 1, channels: 3, background: 'black' } })
      .png()
      .toBuffer();
    const bomb = Buffer.from(small);
    bomb.writeUInt32BE(20000, 16);
    bomb.writeUInt32BE(20000, 20);
    await expect(decodeImage(bomb, 8)).rejects.toThrow(/cannot decode image \(.*(pixel limit|exceeds)/i);
  });
});
