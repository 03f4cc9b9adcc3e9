/**
 * Shows a training run: a bar while features are cached, then a bar per epoch with step, loss,
 * accuracy and ETA (on a terminal), and one line per epoch (always, so logs and CI show progress).
 */
import cliProgress from 'cli-progress';
import type { TrainEvent } from '../train/train.js';

export function trainProgress(log: (line: string) => void = (l) => console.error(l)): (e: TrainEvent) => void {
  const tty = Boolean(process.stderr.isTTY) && !process.env.CI;
  let bar: cliProgress.SingleBar | undefined;
  const start = (total: number, format: string) => {
    if (!tty) return;
    bar = new cliProgress.SingleBar(
      { stream: process.stderr, format, hideCursor: true, etaBuffer: 30 },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { loss: '-', acc: '-' });
  };
  const stop = () => {
    bar?.stop();
    bar = undefined;
  };
  return (e) => {
    switch (e.kind) {
      case 'info':
        log(e.message);
        break;
      case 'cache-start':
        log(`backbone features: ${e.total} images (cached on disk; later runs reuse them)`);
        start(e.total, 'caching features [{bar}] {value}/{total} | ETA {eta_formatted}');
        break;
      case 'cache-progress':
        bar?.increment(e.n);
        break;
      case 'cache-done':
        stop();
        log(`backbone features: ${e.computed} computed, ${e.hits} reused from the cache`);
        break;
      case 'epoch-start':
        start(
          e.steps,
          `${e.phase} epoch ${e.epoch} [{bar}] step {value}/{total} | loss {loss} | acc {acc} | ETA {eta_formatted}`,
        );
        bar?.update(e.startStep);
        break;
      case 'step':
        bar?.update(e.step + 1, { loss: e.loss.toFixed(3), acc: e.accuracy.toFixed(3) });
        break;
      case 'epoch-end': {
        stop();
        const r = e.record;
        log(
          `${r.phase} epoch ${String(r.epoch).padStart(3)}  loss ${r.loss.toFixed(4)}  acc ${(100 * r.accuracy).toFixed(1)}%  ` +
            `val acc ${(100 * r.val_accuracy).toFixed(1)}%  lr ${r.lr.toExponential(1)}  ${r.seconds.toFixed(1)}s${r.improved ? '  ✓ best, checkpoint saved' : ''}`,
        );
        break;
      }
    }
  };
}
