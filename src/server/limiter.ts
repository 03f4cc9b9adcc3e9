/**
 * At most `max` holders at once and `maxWaiting` in line; past that `acquire` fails at once with
 * a QueueFullError (a 503), so a burst of costly requests (face detection on large photos) costs
 * bounded memory, not memory proportional to the burst.
 */
import { QueueFullError } from './batcher.js';

export class Limiter {
  private active = 0;
  private waiting: { grant: () => void }[] = [];

  constructor(
    readonly max: number,
    readonly maxWaiting: number,
    private readonly what = 'requests',
  ) {}

  get running(): number {
    return this.active;
  }

  /** A release function once a place is free; rejects if the line is full or `signal` aborts while waiting. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    if (this.active < this.max) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    if (this.waiting.length >= this.maxWaiting)
      return Promise.reject(
        new QueueFullError(`too many ${this.what} at once (${this.max} running, ${this.maxWaiting} waiting)`),
      );
    return new Promise((resolve, reject) => {
      const entry = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          this.active++;
          resolve(this.releaser());
        },
      };
      const onAbort = () => {
        this.waiting = this.waiting.filter((w) => w !== entry);
        reject(signal!.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.active--;
      this.waiting.shift()?.grant();
    };
  }
}
