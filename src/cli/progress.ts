/** A progress bar on stderr when it is a terminal; silent otherwise (logs and pipes stay clean). */
import type { DownloadReporter } from '../weights/download.js';
import cliProgress from 'cli-progress';

export interface Progress {
  tick(n?: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

export function progressBar(total: number, label: string, extra = ''): Progress {
  if (!process.stderr.isTTY || process.env.CI) return { tick() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {value}/{total} {percentage}% | ETA {eta_formatted}${extra}`,
      hideCursor: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return {
    tick: (n = 1, payload) => bar.increment(n, payload),
    stop: () => bar.stop(),
  };
}

/** Download progress (weights/download.ts) as a bar with bytes, speed and ETA, on a terminal only. */
export function downloadBars(): DownloadReporter | undefined {
  if (!process.stderr.isTTY || process.env.CI) return undefined;
  let bar: cliProgress.SingleBar | undefined;
  let t0 = 0;
  let start = 0;
  const mb = (b: number) => (b / 1e6).toFixed(1);
  return {
    start(label, total, already) {
      t0 = Date.now();
      start = already;
      bar = new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: `${label} [{bar}] {got}/{all} MB | {speed} MB/s | ETA {eta_formatted}`,
          hideCursor: true,
          etaBuffer: 200,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total ?? 0, already, { got: mb(already), all: total ? mb(total) : '?', speed: '0.0' });
    },
    progress(n) {
      if (!bar) return;
      const v = bar.getProgress() * bar.getTotal() + n;
      const secs = Math.max(0.001, (Date.now() - t0) / 1000);
      bar.increment(n, { got: mb(v), speed: mb((v - start) / secs) });
    },
    done() {
      bar?.stop();
      bar = undefined;
    },
  };
}
