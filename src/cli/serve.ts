import type { Command } from 'commander';
import { wholeNumber } from './arg-parsers.js';
import { deviceOption } from './device-option.js';
import type { DeviceChoice } from '../engine/device.js';
import { DEFAULTS } from '../defaults.js';

export function registerServe(program: Command): void {
  deviceOption(
    program
      .command('serve')
      .description('HTTP service and web page: POST /v1/predict, GET /v1/model, GET /healthz, and the browser page at /')
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
      .option('--log', 'log every request (JSON lines)'),
  )
    .addHelpText(
      'after',
      `
Examples:
  convcut serve -m runs/raf/best.safetensors --port 8080
  curl -F image=@face.jpg http://127.0.0.1:8080/v1/predict
  curl --data-binary @group.jpg -H 'content-type: image/jpeg' 'http://127.0.0.1:8080/v1/predict?faces=true'
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
        log?: boolean;
        device?: DeviceChoice;
      }) => {
        const { ConvCutModel } = await import('../infer/convcut-model.js');
        const { buildServer } = await import('../server/server.js');
        const { announceDevice } = await import('./device-option.js');
        const device = await announceDevice(o.device);
        // The one loader (files, hf:…, URLs; checkpoints and ONNX); the page gets its portable ONNX form.
        const model = await ConvCutModel.load(o.model, { device });
        const app = await buildServer(model, {
          bodyLimit: o.bodyLimit,
          maxPixels: o.maxPixels,
          requestTimeout: o.timeout,
          maxQueue: o.maxQueue,
          logger: Boolean(o.log),
        });
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
