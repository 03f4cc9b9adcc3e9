import { promises as fs } from 'node:fs';

/** The first `n` bytes of `file` (fewer if it is shorter) and its size, without reading the rest. */
export async function readFileHead(file: string, n: number): Promise<{ head: Uint8Array; size: number }> {
  const fh = await fs.open(file, 'r');
  try {
    const head = new Uint8Array(n);
    const { bytesRead } = await fh.read(head, 0, n, 0);
    return { head: head.subarray(0, bytesRead), size: (await fh.stat()).size };
  } finally {
    await fh.close();
  }
}
