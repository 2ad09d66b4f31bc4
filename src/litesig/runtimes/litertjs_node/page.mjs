// litesig's LiteRT.js runner in a browser page (headless Chromium), served by litesig on 127.0.0.1:
// GET /hello says which accelerator; the model is /model.tflite; each GET /job is a request (wire.mjs),
// each answer is POSTed to /answer; {stop: true} ends the loop.
import {Tensor, loadAndCompile, loadLiteRt} from '@litertjs/core';
import {answer, summary} from './wire.mjs';

const post = (body) => fetch('/answer', {method: 'POST', body: JSON.stringify(body)});
const hello = await (await fetch('/hello')).json();
let model;
try {
  // The JSPI build lets WebGPU hand ops it lacks to the CPU; without it a partly supported model fails.
  await loadLiteRt('/modules/@litertjs/core/wasm/', hello.accelerator === 'webgpu' ? {jspi: true} : undefined);
  model = await loadAndCompile('/model.tflite', {accelerator: hello.accelerator});
  await post(summary(model));
} catch (e) {
  await post({error: String(e?.message ?? e)});
}
while (model) {
  const request = await (await fetch('/job')).json();
  if (request.stop) break;
  await post(await answer(model, Tensor, request));
}
model?.delete();
