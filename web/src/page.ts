/**
 * The convcut page: an image (file, drop or webcam) → expressions, computed in the browser with
 * onnxruntime-web on the model the server exports (/v1/model.onnx), or by the server's
 * /v1/predict (which can also find faces). Every asset comes from the convcut server.
 */
import { ort } from './main.js';
import { classifyLogits, type Prediction } from '../../src/infer/classify.js';
import { checkProcessor, preprocess, type ImageProcessor } from '../../src/infer/processor.js';
import { Timeline } from './timeline.js';

interface ModelInfo {
  id: string;
  classes: string[];
  inputSize: number;
  attention: string;
  temperature: number;
  /** Said beside every prediction when set (a model trained on synthetic faces). */
  notice?: string;
  /** How an image becomes the model's input: the server's, carried out here as Node does it. */
  processor: ImageProcessor;
}
interface Face {
  box: { x: number; y: number; width: number; height: number };
  label: string;
  score: number;
  top: { label: string; score: number }[];
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const canvas = $<HTMLCanvasElement>('canvas');
const ctx = canvas.getContext('2d')!;
const status = $('status');
const results = $('results');
let info: ModelInfo;
/** The server's processor, or why this page cannot carry it out (then only the server can run the model). */
let processor: ImageProcessor | Error;
let session: Promise<ort.InferenceSession> | undefined;
let current: ImageBitmap | HTMLVideoElement | undefined;

// The wasm binary is bundled by Vite next to the page. Threads need SharedArrayBuffer, which the
// browser gives only to a cross-origin-isolated page (the convcut server sends COOP/COEP headers);
// `?threads=N` sets the count by hand (bench/browser-threads.ts compares 1 with the default).
const threadsParam = Number(new URLSearchParams(location.search).get('threads'));
ort.env.wasm.numThreads =
  threadsParam > 0 ? threadsParam : self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;

/** The server's API key, when it asks for one (`convcut serve --api-key`): kept for this tab only. */
const KEY_STORE = 'convcut-api-key';

/** fetch() to the API, with the key as a Bearer token; a 401 asks for the key and tries again. */
async function api(url: string, init: RequestInit = {}): Promise<Response> {
  for (;;) {
    const key = sessionStorage.getItem(KEY_STORE);
    const headers = new Headers(init.headers);
    if (key) headers.set('authorization', `Bearer ${key}`);
    const r = await fetch(url, { ...init, headers });
    if (r.status !== 401) return r;
    await r.body?.cancel();
    sessionStorage.setItem(KEY_STORE, await askForKey(key ? 'the server refused that key' : ''));
  }
}

let keyAsked: Promise<string> | undefined;
/** Shows the key form and resolves with what is entered (one form for all requests waiting). */
function askForKey(problem: string): Promise<string> {
  return (keyAsked ??= new Promise<string>((resolve) => {
    const form = $<HTMLFormElement>('api-key');
    $('api-key-problem').textContent = problem;
    form.hidden = false;
    form.addEventListener(
      'submit',
      (e) => {
        e.preventDefault();
        form.hidden = true;
        keyAsked = undefined;
        resolve($<HTMLInputElement>('api-key-input').value.trim());
      },
      { once: true },
    );
  }));
}

function engine(): 'browser' | 'server' {
  return (document.querySelector('input[name=engine]:checked') as HTMLInputElement).value as 'browser' | 'server';
}

/**
 * WebGPU when the browser offers an adapter (a GPU, or a software one such as SwiftShader), else
 * wasm; the provider in use is shown in the status line and in `body[data-provider]`.
 */
let provider: 'webgpu' | 'wasm' = 'wasm';
function getSession(): Promise<ort.InferenceSession> {
  session ??= (async () => {
    const bytes = new Uint8Array(await (await api('/v1/model.onnx')).arrayBuffer());
    const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
    const adapter = await gpu?.requestAdapter().catch(() => null);
    if (adapter) {
      try {
        const s = await ort.InferenceSession.create(bytes, { executionProviders: ['webgpu'] });
        document.body.dataset.provider = provider = 'webgpu';
        return s;
      } catch (e) {
        console.warn(`WebGPU adapter found, but onnxruntime-web could not use it (${(e as Error).message}): using wasm`);
      }
    }
    const s = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
    document.body.dataset.provider = provider = 'wasm';
    return s;
  })();
  return session;
}

/**
 * The whole image → the model input, by the server's processor: the browser decodes (and orients),
 * the resize is libvips' own arithmetic (src/infer/resize.ts), so the pixels are those Node feeds
 * the model (a canvas's drawImage resize is not: test/browser.test.ts measures both).
 */
function toInput(src: CanvasImageSource, w: number, h: number): Float32Array {
  if (processor instanceof Error) throw processor;
  const c = new OffscreenCanvas(w, h);
  const g = c.getContext('2d')!;
  g.drawImage(src, 0, 0, w, h);
  return preprocess(processor, { data: g.getImageData(0, 0, w, h).data, width: w, height: h, channels: 4 });
}

async function predictInBrowser(src: CanvasImageSource, w: number, h: number): Promise<Face[]> {
  const s = await getSession();
  const n = info.inputSize;
  const run = async (data: Float32Array, count: number) => {
    const out = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', data, [count, n, n, 3]) });
    return classifyLogits(out.logits!.data as Float32Array, info.classes, info.classes.length, info.temperature);
  };
  if ($<HTMLInputElement>('faces').checked) {
    // Faces found here, in the browser, the way the server finds them; one prediction per face.
    const { findFaces } = await import('./faces.js');
    const faces = await findFaces(src, w, h, n, api);
    if (!faces.length) return [];
    const batch = new Float32Array(faces.length * n * n * 3);
    faces.forEach((f, i) => batch.set(f.aligned.data, i * n * n * 3));
    const preds = await run(batch, faces.length);
    return faces.map((f, i) => ({ box: f.box, label: preds[i]!.label, score: preds[i]!.score, top: preds[i]!.top }));
  }
  const [{ label, score, top }] = (await run(toInput(src, w, h), 1)) as [Prediction];
  return [{ box: { x: 0, y: 0, width: w, height: h }, label, score, top }];
}

async function predictOnServer(blob: Blob): Promise<Face[]> {
  const faces = $<HTMLInputElement>('faces').checked;
  const form = new FormData();
  form.append('image', blob, 'image');
  const r = await api(`/v1/predict?top_k=${info.classes.length}&faces=${faces}`, { method: 'POST', body: form });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error?.message ?? `HTTP ${r.status}`);
  return body.faces as Face[];
}

function draw(src: CanvasImageSource, w: number, h: number, faces: Face[]): void {
  const scale = Math.min(640 / w, 480 / h, Math.max(1, 320 / Math.max(w, h))); // small crops drawn larger
  canvas.width = Math.round(w * scale);
  canvas.height = Math.round(h * scale);
  ctx.drawImage(src, 0, 0, canvas.width, canvas.height);
  ctx.lineWidth = 3;
  ctx.font = '16px system-ui, sans-serif';
  faces.forEach((f, i) => {
    const [x, y, bw, bh] = [f.box.x * scale, f.box.y * scale, f.box.width * scale, f.box.height * scale];
    ctx.strokeStyle = '#2f6fdf';
    if (faces.length > 1 || f.box.width < w) ctx.strokeRect(x, y, bw, bh);
    const text = `${faces.length > 1 ? `#${i + 1} ` : ''}${f.label} ${(100 * f.score).toFixed(0)}%`;
    const tw = ctx.measureText(text).width;
    ctx.fillStyle = 'rgba(47,111,223,0.9)';
    ctx.fillRect(x, Math.max(0, y - 22), tw + 10, 22);
    ctx.fillStyle = '#fff';
    ctx.fillText(text, x + 5, Math.max(16, y - 6));
  });
  results.replaceChildren(...faces.map((f, i) => faceCard(f, i, faces.length)));
}

/**
 * One face's labels and bars. Labels come from the model (anyone can publish a checkpoint whose
 * class names are HTML), so they reach the page as text only: no innerHTML anywhere on this page.
 */
function faceCard(f: Face, i: number, count: number): HTMLElement {
  const div = el('div', 'face');
  div.dataset.label = f.label;
  const h3 = el('h3', undefined, count > 1 ? `Face ${i + 1}: ` : '');
  h3.append(el('span', 'label', f.label));
  div.append(h3);
  for (const t of f.top) {
    const fill = el('span', 'fill');
    fill.style.width = `${(100 * t.score).toFixed(1)}%`; // CSSOM, not a style attribute: allowed under the page's CSP
    const track = el('span', 'track');
    track.append(fill);
    const row = el('div', 'bar');
    row.append(el('span', undefined, t.label), track, el('span', undefined, `${(100 * t.score).toFixed(1)}%`));
    div.append(row);
  }
  return div;
}

function el(tag: string, className?: string, text?: string): HTMLElement {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text) e.textContent = text;
  return e;
}

async function analyse(src: ImageBitmap | HTMLVideoElement, blob?: Blob): Promise<void> {
  const w = src instanceof HTMLVideoElement ? src.videoWidth : src.width;
  const h = src instanceof HTMLVideoElement ? src.videoHeight : src.height;
  const t0 = performance.now();
  document.body.dataset.state = 'working';
  try {
    let faces: Face[];
    if (engine() === 'server') {
      let b = blob;
      if (!b) {
        const c = new OffscreenCanvas(w, h);
        c.getContext('2d')!.drawImage(src, 0, 0);
        b = await c.convertToBlob({ type: 'image/jpeg', quality: 0.92 });
      }
      faces = await predictOnServer(b);
    } else faces = await predictInBrowser(src, w, h);
    draw(src, w, h, faces);
    if (src instanceof HTMLVideoElement && faces[0]) timeline?.push(performance.now() / 1000, probabilities(faces[0]));
    const where = engine() === 'browser' ? `browser (${provider})` : 'server';
    status.textContent = faces.length ? `${where}: ${(performance.now() - t0).toFixed(0)} ms` : 'no face found';
    document.body.dataset.state = 'done';
  } catch (e) {
    status.textContent = `error: ${(e as Error).message}`;
    document.body.dataset.state = 'error';
  }
}

async function openFile(file: File): Promise<void> {
  stopWebcam();
  document.body.dataset.state = 'working';
  status.textContent = 'working…';
  current = await createImageBitmap(file, { imageOrientation: 'from-image' });
  await analyse(current, file);
}

let timeline: Timeline | undefined;
/** A face's probability of every class, in the model's class order (its `top` holds them all). */
function probabilities(f: Face): number[] {
  return info.classes.map((c) => f.top.find((t) => t.label === c)?.score ?? 0);
}

let stream: MediaStream | undefined;
let timer: number | undefined;
function stopWebcam(): void {
  stream?.getTracks().forEach((t) => t.stop());
  stream = undefined;
  if (timer) clearInterval(timer);
  $('webcam').textContent = 'Start webcam';
  $('timeline').hidden = true;
}

$('webcam').addEventListener('click', async () => {
  if (stream) return stopWebcam();
  const video = $<HTMLVideoElement>('video');
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
  } catch (e) {
    status.textContent = `webcam unavailable: ${(e as Error).message}`;
    return;
  }
  video.srcObject = stream;
  await video.play();
  current = video;
  $('webcam').textContent = 'Stop webcam';
  timeline ??= new Timeline($<HTMLCanvasElement>('timeline'), info.classes);
  timeline.clear();
  $('timeline').hidden = false;
  let busy = false;
  timer = window.setInterval(async () => {
    if (busy) return;
    busy = true;
    await analyse(video);
    busy = false;
  }, 300);
});

$<HTMLInputElement>('file').addEventListener('change', (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  if (f) void openFile(f);
});
const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const f = e.dataTransfer?.files[0];
  if (f) void openFile(f);
});
// The face networks load when faces are first wanted, not when the first photo arrives.
$<HTMLInputElement>('faces').addEventListener('change', (e) => {
  if ((e.target as HTMLInputElement).checked) void import('./faces.js').then((m) => m.preloadFaces(api));
});
for (const r of document.querySelectorAll('input[name=engine]'))
  r.addEventListener('change', () => current instanceof ImageBitmap && void analyse(current));

(async () => {
  info = await (await api('/v1/model')).json();
  try {
    processor = checkProcessor(info.processor);
  } catch (e) {
    processor = e as Error;
    status.textContent = `in-browser inference unavailable: ${processor.message}`;
  }
  $('model-info').textContent =
    `${info.classes.length} expressions (${info.classes.join(', ')}), ${info.inputSize}×${info.inputSize} input, ${info.attention} attention`;
  const notice = $('model-notice');
  notice.textContent = info.notice ? `Note: ${info.notice}.` : '';
  notice.hidden = !info.notice;
  document.body.dataset.ready = 'true';
})();
