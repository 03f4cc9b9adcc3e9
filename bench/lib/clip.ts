import { execFileSync } from 'node:child_process';

/**
 * A 30 fps H.264 clip of `seconds` made with ffmpeg from one still photo, moved by the filter `vf`
 * (its `t` is the time in seconds): how the video benchmarks make clips of photos no one here took.
 */
export function stillClip(photo: string, seconds: number, vf: string, out: string): string {
  execFileSync('ffmpeg', [
    ...['-hide_banner', '-loglevel', 'error', '-y', '-loop', '1', '-framerate', '30', '-i', photo, '-t', String(seconds)],
    ...['-vf', `${vf},setsar=1,format=yuv420p`, '-c:v', 'libx264', '-preset', 'veryfast', out],
  ]);
  return out;
}
