/**
 * `predict --report <dir>` for videos: per track a timeline of expression probabilities (PNG and
 * SVG), a thumbnail (the largest aligned face of the track), summary.json, rows.csv, and an HTML
 * page tying them together. Every file is written atomically.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { encodePng, type DecodedImage } from '../data/image.js';
import { renderSpec, timelineSpec } from '../eval/plots.js';
import { Smoother, type TrackSummary, type VideoRow } from '../infer/video/summary.js';
import { writeFileAtomic } from '../util/atomic.js';
import { escapeHtml } from '../util/html.js';
import { csvHeader, csvRow } from './predict-video.js';

export interface VideoResult {
  file: string;
  /** The rows as written (smoothed if --smooth asked for it). */
  rows: VideoRow[];
  /** The rows unsmoothed: the timelines smooth these. */
  raw: VideoRow[];
  summary: TrackSummary[];
  problems: string[];
  /** Each track's thumbnail (its largest aligned face). */
  thumbs: Map<number, DecodedImage>;
}

export async function writeVideoReport(
  dir: string,
  results: VideoResult[],
  classes: string[],
  o: { smooth?: number; notice?: string } = {},
): Promise<void> {
  const smooth = o.smooth ?? 0.5;
  await mkdir(dir, { recursive: true });
  const sections: string[] = [];
  for (const [n, r] of results.entries()) {
    const stem = `${n}_${path.basename(r.file, path.extname(r.file)).replace(/[^\w.-]+/g, '_')}`;
    const tracks: string[] = [];
    for (const s of r.summary) {
      const name = `${stem}_track${s.track}`;
      const smoother = new Smoother(smooth);
      const points = r.raw
        .filter((x) => x.track === s.track)
        .map((x) => ({ time: x.time, probs: smoother.apply(s.track, x.time, x.probs) }));
      const { svg, png } = await renderSpec(timelineSpec(points, classes, `${path.basename(r.file)} — track ${s.track}`));
      await writeFileAtomic(path.join(dir, `${name}_timeline.svg`), svg);
      await writeFileAtomic(path.join(dir, `${name}_timeline.png`), png);
      const crop = r.thumbs.get(s.track);
      if (crop) await writeFileAtomic(path.join(dir, `${name}.png`), await encodePng(crop));
      tracks.push(trackHtml(name, s, !!crop));
    }
    const note = r.problems.length ? `<p class="warn">ffmpeg: ${escapeHtml(r.problems.at(-1)!)}</p>` : '';
    sections.push(`<h2>${escapeHtml(r.file)}</h2>${note}${tracks.join('\n') || '<p>No face found.</p>'}`);
  }
  const summary = results.map((r) => ({ file: r.file, tracks: r.summary, problems: r.problems }));
  const notice = o.notice ? { notice: o.notice } : {};
  await writeFileAtomic(path.join(dir, 'summary.json'), JSON.stringify({ classes, smooth, ...notice, videos: summary }, null, 1));
  await writeFileAtomic(
    path.join(dir, 'rows.csv'),
    [csvHeader(classes), ...results.flatMap((r) => r.rows.map(csvRow))].join('\n') + '\n',
  );
  const warning = o.notice ? `<p class="warn">Note: ${escapeHtml(o.notice)}.</p>\n` : '';
  await writeFileAtomic(path.join(dir, 'index.html'), page(warning + sections.join('\n')));
}

function trackHtml(name: string, s: TrackSummary, thumb: boolean): string {
  const shares = Object.entries(s.share)
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${escapeHtml(k)} ${(100 * v).toFixed(0)} %`)
    .join(', ');
  const onsets = s.onsets.map((o) => `${o.time.toFixed(2)} s ${escapeHtml(o.label)}`).join(' → ');
  return `<div class="track">${thumb ? `<img class="thumb" src="${name}.png" alt="track ${s.track}">` : ''}
<div><h3>Track ${s.track}: mostly ${escapeHtml(s.dominant)}</h3>
<p>${s.start.toFixed(2)}–${s.end.toFixed(2)} s, ${s.frames} frames. Time per expression: ${shares}.</p>
<p>Changes: ${onsets}</p>
<img src="${name}_timeline.svg" alt="expression probabilities over time, track ${s.track}"></div></div>`;
}

const page = (body: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>convcut — expressions over time</title>
<style>body{font:15px system-ui,sans-serif;margin:2em;max-width:1000px}.track{display:flex;gap:1em;margin:1em 0}
.thumb{width:112px;height:112px;image-rendering:pixelated}.warn{color:#a40}</style></head>
<body><h1>Expressions over time</h1><p>Probabilities smoothed per track; rows.csv has the raw rows, summary.json the summaries.</p>
${body}</body></html>
`;
