/**
 * `convcut predict` on videos: rows streamed to stdout as each frame is done (CSV, or JSON Lines),
 * a per-track summary, a progress bar with frames, fps and ETA, and Ctrl-C keeping what was written.
 * Images given with videos are read as one-frame videos, so every row has the same columns.
 */
import type { ConvCutModel } from '../infer/convcut-model.js';
import type { VideoOptions } from '../infer/video/options.js';
import type { DecodedImage } from '../data/image.js';
import type { TrackSummary, VideoRow } from '../infer/video/summary.js';
import type { VideoResult } from './video-report.js';

export interface VideoCliOptions extends VideoOptions {
  format: string;
  report?: string;
  summarySmooth: number;
}

export async function predictVideos(model: ConvCutModel, files: string[], o: VideoCliOptions): Promise<number> {
  const { predictVideo } = await import('../infer/video/predict-video.js');
  (await import('../infer/video/ffmpeg.js')).findFfmpeg(); // no ffmpeg: one line saying how to get it, before any work
  const { summarise } = await import('../infer/video/summary.js');
  const classes = model.classes;
  const write = (s: string) => process.stdout.write(s);
  if (o.format === 'csv') write(csvHeader(classes) + '\n');
  let stop: (() => void) | undefined;
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
    stop?.();
  };
  process.on('SIGINT', onSigint);
  const results: VideoResult[] = [];
  let failed = 0;
  try {
    for (const file of files) {
      if (interrupted) break;
      const rows: VideoRow[] = [];
      const raw: VideoRow[] = [];
      // Each track's largest face (its thumbnail in the report).
      const best = new Map<number, { crop: DecodedImage; area: number }>();
      let problems: string[] = [];
      let bar: import('./progress.js').Progress | undefined;
      const t0 = Date.now();
      try {
        const stream = predictVideo(model, file, {
          ...o,
          onReader: (r) => {
            stop = r.stop;
            problems = r.problems;
            void r.info.then(async (i) => {
              const { progressBar } = await import('./progress.js');
              const secs = Math.max(0, (o.duration ?? i.duration ?? 0) - (o.duration ? 0 : (o.start ?? 0)));
              const rate = Math.min(o.fps ?? Infinity, i.fps ?? 25);
              bar = progressBar(
                Math.max(1, Math.round(secs * rate)),
                file.length > 30 ? '…' + file.slice(-29) : file,
                ' | {fps} fps',
              );
            });
          },
        });
        for await (const f of stream) {
          raw.push(...f.raw);
          for (const [i, r] of f.rows.entries()) {
            rows.push(r);
            write(o.format === 'csv' ? csvRow(r) + '\n' : o.format === 'json' ? JSON.stringify(r) + '\n' : '');
            const area = r.box.width * r.box.height;
            if (area > (best.get(r.track)?.area ?? -1)) best.set(r.track, { crop: f.crops[i]!, area });
          }
          bar?.tick(1, { fps: ((f.frame + 1) / ((Date.now() - t0) / 1000)).toFixed(1) });
        }
      } catch (e) {
        bar?.stop();
        console.error(`skipped ${file}: ${(e as Error).message}`);
        failed++;
        continue;
      }
      bar?.stop();
      if (!rows.length && problems.length) {
        console.error(`skipped ${file}: ${problems.at(-1)}`);
        failed++;
        continue;
      }
      if (problems.length && !interrupted)
        console.error(
          `${file}: ${rows.length ? `used the frames that decoded, up to ${rows.at(-1)!.time.toFixed(2)} s; ` : ''}ffmpeg said: ${problems.at(-1)}`,
        );
      const summary = summarise(raw, classes, o.summarySmooth);
      const thumbs = new Map([...best].map(([track, b]) => [track, b.crop]));
      results.push({ file, rows, raw, summary, problems: [...problems], thumbs });
      if (!summary.length) console.error(`${file}: no face found`);
      if (o.format === 'table') printSummary(file, summary);
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
  if (o.report) {
    const { writeVideoReport } = await import('./video-report.js');
    await writeVideoReport(o.report, results, classes, { notice: model.notice });
    console.error(`report: ${o.report}/index.html`);
  }
  if (interrupted) {
    console.error('interrupted: the rows written so far are complete');
    return 130;
  }
  return failed === files.length ? 1 : 0;
}

export function csvHeader(classes: string[]): string {
  return ['file', 'time', 'frame', 'track', 'x', 'y', 'width', 'height', 'label', 'score', ...classes.map((c) => `p_${c}`)].join(
    ',',
  );
}

export function csvRow(r: VideoRow): string {
  const b = r.box;
  return [
    JSON.stringify(r.file),
    r.time.toFixed(3),
    r.frame,
    r.track,
    ...[b.x, b.y, b.width, b.height].map((v) => v.toFixed(1)),
    r.label,
    r.score.toFixed(4),
    ...r.probs.map((p) => p.toFixed(4)),
  ].join(',');
}

function printSummary(file: string, summary: TrackSummary[]): void {
  for (const s of summary) {
    const shares = Object.entries(s.share)
      .filter(([, v]) => v >= 0.05)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${(100 * v).toFixed(0)}%`)
      .join(', ');
    const changes = s.onsets.length - 1;
    console.log(
      `${file} track ${s.track}: ${s.start.toFixed(2)}–${s.end.toFixed(2)} s, ${s.frames} frames, mostly ${s.dominant} (${shares}); ${changes} change${changes === 1 ? '' : 's'}`,
    );
  }
}
