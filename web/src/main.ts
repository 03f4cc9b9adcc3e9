/**
 * Entry of the convcut page. onnxruntime-web starts its wasm threads as module workers of the
 * script that holds its code (`new Worker(import.meta.url)`), which after bundling is this entry
 * chunk. So this module holds onnxruntime-web and nothing that touches the DOM; the page itself is
 * a separate chunk, loaded only where there is a document (not in those workers).
 */
import * as ort from 'onnxruntime-web';

export { ort };

if (typeof document !== 'undefined') void import('./page.js');
