// The runner's side of litesig's LiteRT.js protocol, shared by Node (runner.mjs) and the browser page
// (page.mjs): describe a compiled model, then answer run requests. Tensors cross by name, never by position;
// their bytes travel as base64 in JSON.
const ARRAYS = {float32: Float32Array, int32: Int32Array, uint8: Uint8Array, int8: Int8Array, int16: Int16Array};

function toBase64(bytes) {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

function fromBase64(text) {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

function describe(details) {
  return details.map((d) => ({name: d.name, dtype: d.dtype, shape: Array.from(d.shape)}));
}

/** {signatures: {key: {inputs, outputs}}, fully_accelerated} for the first answer. */
export function summary(model) {
  const signatures = {};
  for (const [key, runner] of Object.entries(model.signatures)) {
    signatures[key] = {inputs: describe(runner.getInputDetails()), outputs: describe(runner.getOutputDetails())};
  }
  return {signatures, fully_accelerated: Boolean(model.isFullyAccelerated)};
}

/** Run one request {signature, inputs: {name: {dtype, shape, data}}}; {outputs} or {error}. */
export async function answer(model, Tensor, request) {
  const inputs = {};
  try {
    for (const [name, t] of Object.entries(request.inputs)) {
      const Type = ARRAYS[t.dtype];
      if (!Type) throw new Error(`dtype ${t.dtype} cannot cross LiteRT.js's boundary`);
      const bytes = fromBase64(t.data);
      inputs[name] = new Tensor(new Type(bytes.buffer, 0, bytes.length / Type.BYTES_PER_ELEMENT), t.shape);
    }
    const results = await model.run(request.signature, inputs);
    const outputs = {};
    for (const [name, tensor] of Object.entries(results)) {
      const onCpu = tensor.accelerator === 'wasm' ? tensor : await tensor.moveTo('wasm');
      const array = onCpu.toTypedArray();
      outputs[name] = {dtype: onCpu.type.dtype, shape: Array.from(onCpu.type.layout.dimensions),
                       data: toBase64(new Uint8Array(array.buffer, array.byteOffset, array.byteLength))};
      if (onCpu !== tensor) onCpu.delete();
      tensor.delete();
    }
    return {outputs};
  } catch (e) {
    return {error: String(e?.message ?? e)};
  } finally {
    for (const t of Object.values(inputs)) t.delete();
  }
}
