/**
 * A small BMP reader (sharp's bundled libvips has no BMP loader): uncompressed 8-bit paletted,
 * 24-bit and 32-bit (BI_RGB, or BI_BITFIELDS with the usual masks), bottom-up or top-down.
 * Returns raw RGB for sharp to take from there.
 */
export const isBmp = (b: Uint8Array): boolean => b.length > 26 && b[0] === 0x42 && b[1] === 0x4d;

export function decodeBmp(b: Uint8Array): { width: number; height: number; data: Uint8Array } {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const fail = (m: string): never => {
    throw new Error(`unsupported or corrupt BMP: ${m}`);
  };
  if (b.length < 54) fail('file shorter than its headers');
  const offset = dv.getUint32(10, true);
  const headerSize = dv.getUint32(14, true);
  if (headerSize < 40) fail(`header size ${headerSize} (OS/2 BMPs are not supported)`);
  const width = dv.getInt32(18, true);
  const rawHeight = dv.getInt32(22, true);
  const bpp = dv.getUint16(28, true);
  const compression = dv.getUint32(30, true);
  const height = Math.abs(rawHeight);
  if (width <= 0 || height === 0) fail(`size ${width}×${rawHeight}`);
  if (![8, 24, 32].includes(bpp)) fail(`${bpp} bits per pixel`);
  if (!(compression === 0 || (compression === 3 && bpp === 32))) fail(`compression ${compression}`);
  const stride = Math.ceil((width * bpp) / 32) * 4;
  if (offset + stride * height > b.length) fail('pixel data is truncated');
  const palette = bpp === 8 ? 14 + headerSize : 0;
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const row = offset + (rawHeight > 0 ? height - 1 - y : y) * stride;
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      let p = row + x * (bpp / 8);
      if (bpp === 8) p = palette + b[row + x]! * 4;
      out[o] = b[p + 2]!;
      out[o + 1] = b[p + 1]!;
      out[o + 2] = b[p]!;
    }
  }
  return { width, height, data: out };
}
