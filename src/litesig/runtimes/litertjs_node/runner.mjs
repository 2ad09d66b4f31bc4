// litesig's LiteRT.js runner in Node: one model, its signatures run on request.
//
// Started by litesig/runtimes/litertjs.py as `node runner.mjs MODULES_DIR MODEL_PATH ACCELERATOR`.
// One JSON object per line on stdin, one answer per line on stdout (wire.mjs); LiteRT's own log goes to
// stderr. The first line out describes the model or says why it cannot load ({"error": ...}).
// node_shim.mjs lets LiteRT.js's wasm glue load in Node.
import './node_shim.mjs';
import {readFileSync} from 'node:fs';
import {join} from 'node:path';
import {createInterface} from 'node:readline';
import {pathToFileURL} from 'node:url';
import {answer, summary} from './wire.mjs';

const [modulesDir, modelPath, accelerator] = process.argv.slice(2);
const say = (message) => process.stdout.write(JSON.stringify(message) + '\n');

let core;
let model;
try {
  core = await import(pathToFileURL(join(modulesDir, '@litertjs', 'core', 'dist', 'index.js')).href);
  await core.loadLiteRt(pathToFileURL(join(modulesDir, '@litertjs', 'core', 'wasm') + '/').href);
  model = await core.loadAndCompile(new Uint8Array(readFileSync(modelPath)), {accelerator});
  say(summary(model));
} catch (e) {
  say({error: String(e?.message ?? e)});
  process.exit(0);
}
for await (const line of createInterface({input: process.stdin})) {
  if (line.trim()) say(await answer(model, core.Tensor, JSON.parse(line)));
}
model.delete();
