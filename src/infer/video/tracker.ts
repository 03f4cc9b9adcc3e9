/**
 * Face tracks: each detection is linked to the track whose last box it overlaps most (greedy, best
 * IoU first, at least `minIou`), or else starts a new track. A track no face has joined for
 * `maxAge` seconds ends; its id is never reused. A cut in the video (a frame unlike the one before)
 * ends every track, so faces on either side of an edit never share an id.
 */
import { iou, type Box } from '../face-align.js';

export interface TrackerOptions {
  minIou?: number;
  /** Seconds a track may go unseen before it ends. */
  maxAge?: number;
}

interface Track {
  id: number;
  box: Box;
  lastSeen: number;
}

export class Tracker {
  private tracks: Track[] = [];
  private nextId = 0;
  private readonly minIou: number;
  private readonly maxAge: number;

  constructor(o: TrackerOptions = {}) {
    this.minIou = o.minIou ?? 0.3;
    this.maxAge = o.maxAge ?? 1;
  }

  /** The track id of each box seen at `time`, in the order given. */
  assign(boxes: Box[], time: number): number[] {
    this.tracks = this.tracks.filter((t) => time - t.lastSeen <= this.maxAge);
    const pairs = boxes
      .flatMap((b, i) => this.tracks.map((t, j) => ({ i, j, o: iou(b, t.box) })))
      .filter((p) => p.o >= this.minIou)
      .sort((a, b) => b.o - a.o);
    const ids = new Array<number>(boxes.length).fill(-1);
    const taken = new Set<number>();
    for (const p of pairs) {
      if (ids[p.i]! >= 0 || taken.has(p.j)) continue;
      ids[p.i] = this.tracks[p.j]!.id;
      taken.add(p.j);
    }
    boxes.forEach((b, i) => {
      if (ids[i]! < 0) {
        ids[i] = this.nextId++;
        this.tracks.push({ id: ids[i]!, box: b, lastSeen: time });
      } else {
        const t = this.tracks.find((x) => x.id === ids[i])!;
        t.box = b;
        t.lastSeen = time;
      }
    });
    return ids;
  }

  /** A cut: every track ends. */
  cut(): void {
    this.tracks = [];
  }
}

/**
 * How unlike two frames are: the mean absolute difference (0..255) of 16×16 grey thumbnails.
 * Cheap enough for every frame; a camera pan changes it a little, an edit a lot.
 */
export function thumbnail(frame: { data: Uint8Array; width: number; height: number }, n = 16): Float32Array {
  const out = new Float32Array(n * n);
  for (let j = 0; j < n; j++)
    for (let i = 0; i < n; i++) {
      const x = Math.min(frame.width - 1, Math.floor(((i + 0.5) * frame.width) / n));
      const y = Math.min(frame.height - 1, Math.floor(((j + 0.5) * frame.height) / n));
      const k = (y * frame.width + x) * 3;
      out[j * n + i] = 0.299 * frame.data[k]! + 0.587 * frame.data[k + 1]! + 0.114 * frame.data[k + 2]!;
    }
  return out;
}

export function frameDifference(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}
