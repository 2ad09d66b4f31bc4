// litesig's LiteRT.js runner: one model, its signatures run on request, in Node.
//
// Started by litesig/runtimes/litertjs.py as `node runner.mjs MODULES_DIR MODEL_PATH ACCELERATOR`.
// Protocol: one JSON object per line on stdin, one answer per line on stdout; LiteRT's own log goes
// to stderr. The first line out describes the model ({"signatures": {...}}) or says why it cannot
// load ({"error": ...}); then each {"signature", "inputs": {name: {dtype, shape, data (base64)}}}
// gets {"outputs": {...}} or {"error": ...}. Tensors cross by name, never by position.
//
// node_shim.mjs lets LiteRT.js's wasm glue load in Node.
import './node_shim.mjs';
import {readFileSync} from 'node:fs';
import {join} from 'node:path';
import {createInterface} from 'node:readline';
import {pathToFileURL} from 'node:url';

const [modulesDir, modelPath, accelerator] = process.argv.slice(2);

const ARRAYS = {float32: Float32Array, int32: Int32Array, uint8: Uint8Array, int8: Int8Array, int16: Int16Array,
                float64: Float64Array, uint16: Uint16Array, uint32: Uint32Array};

function say(answer) {
  process.stdout.write(JSON.stringify(answer) + '\n');
}

function describe(details) {
  return details.map((d) => ({name: d.name, dtype: d.dtype, shape: Array.from(d.shape)}));
}

function fromWire(t, Tensor) {
  const bytes = Buffer.from(t.data, 'base64');
  const Type = ARRAYS[t.dtype];
  if (!Type) throw new Error(`dtype ${t.dtype} cannot cross LiteRT.js's boundary`);
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return new Tensor(new Type(copy.buffer, 0, bytes.length / Type.BYTES_PER_ELEMENT), t.shape);
}

function toWire(tensor) {
  const array = tensor.toTypedArray();
  return {dtype: tensor.type.dtype, shape: Array.from(tensor.type.layout.dimensions),
          data: Buffer.from(array.buffer, array.byteOffset, array.byteLength).toString('base64')};
}

let core;
let model;
try {
  core = await import(pathToFileURL(join(modulesDir, '@litertjs', 'core', 'dist', 'index.js')).href);
  const wasm = pathToFileURL(join(modulesDir, '@litertjs', 'core', 'wasm') + '/').href;
  await core.loadLiteRt(wasm);
  model = await core.loadAndCompile(new Uint8Array(readFileSync(modelPath)), {accelerator});
  const signatures = {};
  for (const [key, runner] of Object.entries(model.signatures)) {
    signatures[key] = {inputs: describe(runner.getInputDetails()), outputs: describe(runner.getOutputDetails())};
  }
  say({signatures, fully_accelerated: Boolean(model.isFullyAccelerated)});
} catch (e) {
  say({error: String(e?.message ?? e)});
  process.exit(0);
}

for await (const line of createInterface({input: process.stdin})) {
  if (!line.trim()) continue;
  const inputs = {};
  try {
    const request = JSON.parse(line);
    for (const [name, t] of Object.entries(request.inputs)) inputs[name] = fromWire(t, core.Tensor);
    const results = await model.run(request.signature, inputs);
    const outputs = {};
    for (const [name, tensor] of Object.entries(results)) {
      const onCpu = tensor.accelerator === 'wasm' ? tensor : await tensor.moveTo('wasm');
      outputs[name] = toWire(onCpu);
      if (onCpu !== tensor) onCpu.delete();
      tensor.delete();
    }
    say({outputs});
  } catch (e) {
    say({error: String(e?.message ?? e)});
  } finally {
    for (const t of Object.values(inputs)) t.delete();
  }
}
model.delete();
