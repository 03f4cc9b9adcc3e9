import type { Command } from 'commander';
import type { Precision } from '../engine/onnx-export.js';
import type { FaceBox } from '../infer/faces.js';
import type { DecodedImage } from '../data/image.js';
import type { Device, DeviceChoice } from '../engine/device.js';
import { choice, fraction, nonNegativeNumber, positiveNumber, precisionArg, wholeNumber } from './arg-parsers.js';
import { VIDEO_DEFAULTS } from '../infer/video/options.js';
import { deviceOption } from './device-option.js';
import { DEFAULTS } from '../defaults.js';

/** Each aligned crop as `<dir>/<image-stem>_face<k>.png` (k from 0, in the order the rows list them). */
async function saveCrops(dir: string, file: string, crops: DecodedImage[]): Promise<void> {
  const { mkdir } = await import('node:fs/promises');
  const path = await import('node:path');
  const { encodePng } = await import('../data/image.js');
  const { writeFileAtomic } = await import('../util/atomic.js');
  await mkdir(dir, { recursive: true });
  const stem = path.basename(file, path.extname(file));
  for (const [k, c] of crops.entries()) {
    const png = await encodePng(c);
    await writeFileAtomic(path.join(dir, `${stem}_face${k}.png`), png);
  }
}

export function registerPredict(program: Command): void {
  deviceOption(
    program
      .command('predict')
      .description('predict the expression of face images: top-k classes with probabilities')
      .argument('<inputs...>', 'image files, folders (searched recursively) or patterns like faces/*.jpg')
      .requiredOption(
        '-m, --model <source>',
        'convcut checkpoint (.safetensors) or exported .onnx: a file, hf:<org>/<repo>[@revision][/<file>] or a URL',
      )
      .option('-k, --top-k <n>', 'classes to show per image', wholeNumber(1), DEFAULTS.topK)
      .option('--format <f>', 'table, json or csv', choice('table', 'json', 'csv'), 'table')
      .option('--batch-size <n>', 'images per ONNX Runtime call', wholeNumber(1), DEFAULTS.inferenceBatch)
      .option(
        '--precision <p>',
        'fp32; int8 (int8 weights for the backbone MatMuls; faster on CPU); fp16 (half-precision compute, --device webgpu)',
        precisionArg,
        'fp32',
      )
      .option(
        '--faces',
        'find every face in each photo (face-api SSD detector + landmarks), align it like RAF-DB, and predict each',
      )
      .option('--min-confidence <x>', 'face detection threshold (with --faces)', fraction, DEFAULTS.faceMinConfidence)
      .option(
        '--save-crops <dir>',
        'with --faces: write each aligned face as <dir>/<image-stem>_face<k>.png (what the model saw)',
      )
      .option('--fps <n>', 'video: analyse at most n frames per second (default: every frame)', positiveNumber)
      .option('--start <s>', 'video: seconds into each video to start at', nonNegativeNumber)
      .option('--duration <s>', 'video: seconds of each video to analyse', positiveNumber)
      .option(
        '--detect-every <k>',
        'video: run the face detectors every k analysed frames; landmarks follow the faces in between ' +
          '(at 30 fps, 10 keeps faces as well as detecting every frame; use less at a low --fps or for fast motion)',
        wholeNumber(1),
        VIDEO_DEFAULTS.detectEvery,
      )
      .option(
        '--smooth <s>',
        "video: smooth each track's probabilities in the rows over s seconds (0: raw)",
        nonNegativeNumber,
        0,
      )
      .option('--report <dir>', 'video: timelines per face track (PNG/SVG), thumbnails, summary.json, rows.csv and index.html'),
  )
    .addHelpText(
      'after',
      '\nImages are expected to be face crops (like RAF-DB aligned faces); they are resized to the model input.\n' +
        'Unreadable images are reported on stderr and skipped.\n\nExamples:\n' +
        '  convcut predict -m runs/raf/best.safetensors face.jpg\n  convcut predict -m model.onnx photos/ --format csv > predictions.csv\n' +
        '  convcut predict -m model.onnx group-photo.jpg --faces --format json\n' +
        '\nVideo (any file ffmpeg reads; ffmpeg must be installed): one row per face per analysed frame,\n' +
        'file,time,frame,track,x,y,width,height,label,score,p_<class>… — CSV, or JSON Lines with --format json —\n' +
        'written as frames are done (Ctrl-C keeps them); the table format prints a summary per face track.\n' +
        'Each face keeps one track id while it stays in view; a cut in the video starts new tracks.\n' +
        '  convcut predict -m model.onnx interview.mp4 --faces --fps 10 --format csv > rows.csv\n' +
        '  convcut predict -m model.onnx clip.mp4 --faces --precision int8 --report clip-report\n',
    )
    .action(
      async (
        inputs: string[],
        o: {
          model: string;
          topK: number;
          format: string;
          batchSize: number;
          faces?: boolean;
          minConfidence: number;
          precision: Precision;
          device?: DeviceChoice;
          saveCrops?: string;
          fps?: number;
          start?: number;
          duration?: number;
          detectEvery: number;
          smooth: number;
          report?: string;
        },
      ) => {
        const { expandInputs } = await import('./inputs.js');
        const { ConvCutModel } = await import('../infer/convcut-model.js');
        const { imageStream } = await import('../infer/pipeline.js');
        if (o.saveCrops && !o.faces) throw new Error('--save-crops needs --faces (it writes the faces found in photos)');
        const { announceDevice } = await import('./device-option.js');
        const device = await announceDevice(o.device);
        if (o.faces) (await import('../infer/faces.js')).useFaceDevice(device as Device);
        const files = await expandInputs(inputs);
        const { isVideoFile } = await import('../infer/video/ffmpeg.js');
        const videos = files.some(isVideoFile);
        const model = await ConvCutModel.load(o.model, { precision: o.precision, device, spinning: !videos });
        if (model.notice) console.error(`note: ${model.notice}`);
        if (videos) {
          if (o.saveCrops)
            throw new Error('--save-crops is for photos; for videos use --report <dir> (a thumbnail per face track)');
          const { predictVideos } = await import('./predict-video.js');
          process.exitCode = await predictVideos(model, files, { ...o, faces: !!o.faces, summarySmooth: 0.5 });
          await model.dispose();
          return;
        }
        const videoOnly = (['fps', 'start', 'duration', 'report'] as const).find((k) => o[k] !== undefined);
        if (videoOnly) throw new Error(`--${videoOnly} is for videos, and none of the inputs is one`);
        const k = o.topK;
        const rows: {
          file: string;
          face?: number;
          box?: FaceBox;
          label: string;
          score: number;
          top: { label: string; score: number }[];
        }[] = [];
        const bs = o.batchSize;
        let noFace = 0;
        if (o.faces) {
          const { detectFaces } = await import('../infer/faces.js');
          for (const file of files) {
            let faces;
            try {
              faces = await detectFaces(file, model.config.inputSize, { minConfidence: o.minConfidence });
            } catch (e) {
              console.error(`skipped ${file}: ${(e as Error).message}`);
              continue;
            }
            if (!faces.length) {
              console.error(`${file}: no face found`);
              noFace++;
              continue;
            }
            const preds = await model.predict(
              faces.map((f) => f.aligned),
              { topK: k, batchSize: bs },
            );
            if (o.saveCrops)
              await saveCrops(
                o.saveCrops,
                file,
                faces.map((f) => f.aligned),
              );
            preds.forEach((p, j) => rows.push({ file, face: j, box: faces[j]!.box, label: p.label, score: p.score, top: p.top }));
          }
        }
        // Whole images: one pipelined stream (decoding overlaps inference), unreadable ones skipped.
        const stream = imageStream(o.faces ? [] : files, {
          size: model.config.inputSize,
          batchSize: bs,
          run: async (x) => model.classify((await model.run(x)).logits.data, k),
          onSkip: (e) => console.error(`skipped ${e.message}`),
        });
        for await (const { items, output } of stream)
          output.forEach((p, j) => rows.push({ file: items[j]!, label: p.label, score: p.score, top: p.top }));
        await model.dispose();
        if (o.format === 'json') console.log(JSON.stringify(rows, null, 1));
        else if (o.format === 'csv') {
          const boxCols = o.faces ? ['face', 'x', 'y', 'width', 'height'] : [];
          console.log(['file', ...boxCols, ...Array.from({ length: k }, (_, i) => `label_${i + 1},score_${i + 1}`)].join(','));
          for (const r of rows) {
            const box = r.box ? [r.face, ...[r.box.x, r.box.y, r.box.width, r.box.height].map((v) => v.toFixed(1))] : [];
            console.log([JSON.stringify(r.file), ...box, ...r.top.map((t) => `${t.label},${t.score.toFixed(4)}`)].join(','));
          }
        } else {
          const name = (r: (typeof rows)[number]) =>
            r.box
              ? `${r.file}#${r.face} [${Math.round(r.box.x)},${Math.round(r.box.y)} ${Math.round(r.box.width)}×${Math.round(r.box.height)}]`
              : r.file;
          const w = Math.min(80, Math.max(4, ...rows.map((r) => name(r).length)));
          for (const r of rows)
            console.log(`${name(r).padEnd(w)}  ${r.top.map((t) => `${t.label} ${(100 * t.score).toFixed(1)}%`).join('  ')}`);
        }
        if (!rows.length)
          throw new Error(
            noFace
              ? `no face found in ${noFace === files.length ? `any of the ${files.length}` : `${noFace} of the ${files.length}`} images${noFace < files.length ? '; the others could not be read' : ''} (--faces expects photos; for face crops leave it out)`
              : `none of the ${files.length} images could be read`,
          );
      },
    );
}
