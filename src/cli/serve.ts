import type { Command } from 'commander';
import { wholeNumber } from './arg-parsers.js';
import { deviceOption } from './device-option.js';
import type { Device, DeviceChoice } from '../engine/device.js';
import { DEFAULTS } from '../defaults.js';
import { isLoopback, MIN_API_KEY_LENGTH } from '../server/security.js';

/** The warning `serve` prints when it listens beyond this machine without an API key (undefined: none needed). */
export function exposureWarning(host: string, apiKey: string | undefined): string | undefined {
  if (apiKey !== undefined || isLoopback(host)) return undefined;
  return (
    `convcut serve: warning: listening on ${host} without an API key: anyone who can reach this port can use the API ` +
    '(set --api-key or CONVCUT_API_KEY, and put a TLS reverse proxy in front)'
  );
}

/** The key from --api-key or CONVCUT_API_KEY; an error (one line, never the key) if it is too short to be a key. */
export function apiKeyFrom(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const key = option ?? (env.CONVCUT_API_KEY || undefined);
  if (key !== undefined && key.length < MIN_API_KEY_LENGTH)
    throw new Error(
      `the API key (--api-key or CONVCUT_API_KEY) must be at least ${MIN_API_KEY_LENGTH} characters; e.g. openssl rand -hex 24`,
    );
  return key;
}

const hostList = (value: string): string[] =>
  value
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);

export function registerServe(program: Command): void {
  deviceOption(
    program
      .command('serve')
      .description(
        'HTTP service and web page: POST /v1/predict, POST /v1/predict-video, GET /v1/model, GET /healthz, GET /readyz, and the browser page at /',
      )
      .requiredOption(
        '-m, --model <source>',
        'convcut checkpoint (.safetensors) or exported .onnx: a file, hf:<org>/<repo>[@revision][/<file>] or a URL',
      )
      .option('--port <n>', 'port', wholeNumber(0), DEFAULTS.server.port)
      .option('--host <h>', 'address to listen on (0.0.0.0 for every interface)', '127.0.0.1')
      .option('--body-limit <bytes>', 'largest request body', wholeNumber(1), DEFAULTS.server.bodyLimit)
      .option(
        '--max-pixels <n>',
        'largest image, in pixels, read from its header before decoding',
        wholeNumber(1),
        DEFAULTS.server.maxPixels,
      )
      .option('--timeout <ms>', 'per-request time limit', wholeNumber(1), DEFAULTS.server.requestTimeoutMs)
      .option(
        '--max-queue <n>',
        'requests waiting for inference before new ones get 503',
        wholeNumber(1),
        DEFAULTS.server.maxQueue,
      )
      .option(
        '--upload-timeout <ms>',
        'a video upload must be complete within this, else 408',
        wholeNumber(1),
        DEFAULTS.server.uploadDeadlineMs,
      )
      .option('--video-max-frames <n>', 'most frames analysed per video', wholeNumber(1), DEFAULTS.server.videoMaxFrames)
      .option(
        '--allowed-hosts <list>',
        'Host header names answered besides the listening address (comma-separated; * any; .example.com a domain)',
        hostList,
      )
      .option('--api-key <key>', 'require "Authorization: Bearer <key>" on /v1/* (≥ 16 characters; or env CONVCUT_API_KEY)')
      .option('--log', 'log every request (JSON lines)'),
  )
    .addHelpText(
      'after',
      `
Examples:
  convcut serve -m runs/raf/best.safetensors --port 8080
  curl -F image=@face.jpg http://127.0.0.1:8080/v1/predict
  curl --data-binary @group.jpg -H 'content-type: image/jpeg' 'http://127.0.0.1:8080/v1/predict?faces=true'
  CONVCUT_API_KEY=$(openssl rand -hex 24) convcut serve -m best.safetensors --host 0.0.0.0 --allowed-hosts fer.example.com
`,
    )
    .action(
      async (o: {
        model: string;
        port: number;
        host: string;
        bodyLimit: number;
        maxPixels: number;
        timeout: number;
        maxQueue: number;
        uploadTimeout: number;
        videoMaxFrames: number;
        allowedHosts?: string[];
        apiKey?: string;
        log?: boolean;
        device?: DeviceChoice;
      }) => {
        const apiKey = apiKeyFrom(o.apiKey);
        const { ConvCutModel } = await import('../infer/convcut-model.js');
        const { buildServer } = await import('../server/server.js');
        const { announceDevice } = await import('./device-option.js');
        const device = await announceDevice(o.device);
        (await import('../infer/faces.js')).useFaceDevice(device as Device); // ?faces=true runs where the model runs
        // The one loader (files, hf:…, URLs; checkpoints and ONNX); the page gets its portable ONNX form.
        const model = await ConvCutModel.load(o.model, { device });
        const app = await buildServer(model, {
          bodyLimit: o.bodyLimit,
          maxPixels: o.maxPixels,
          requestTimeout: o.timeout,
          maxQueue: o.maxQueue,
          logger: Boolean(o.log),
          video: { uploadDeadlineMs: o.uploadTimeout, maxFrames: o.videoMaxFrames },
          // The addresses listened on (the real port, for --port 0) are added by the server itself.
          allowedHosts: o.allowedHosts ?? [],
          apiKey,
        });
        const warning = exposureWarning(o.host, apiKey);
        if (warning) console.error(warning);
        const address = await app.listen({ port: o.port, host: o.host });
        console.log(`convcut serving ${o.model} at ${address} (page: ${address}/, API: ${address}/v1/predict)`);
        const stop = async (signal: string) => {
          console.log(`${signal}: finishing in-flight requests, then stopping`);
          await app.close();
          await model.dispose();
          process.exit(0);
        };
        process.once('SIGINT', () => void stop('SIGINT'));
        process.once('SIGTERM', () => void stop('SIGTERM'));
      },
    );
}
