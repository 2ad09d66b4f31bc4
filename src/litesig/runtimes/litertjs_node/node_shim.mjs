// LiteRT.js loads its wasm glue with importScripts (a worker) or a <script> tag (a page); Node has neither.
// Imported first, this gives it importScripts: the glue is evaluated with the CommonJS names it expects,
// and its .wasm is handed over as bytes (Node's fetch reads no file: URLs).
import {readFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {dirname} from 'node:path';
import {fileURLToPath} from 'node:url';
import vm from 'node:vm';

globalThis.self = globalThis;
globalThis.importScripts = (url) => {
  const path = fileURLToPath(url);
  const wrapped = `(function (require, __dirname, __filename) {\n${readFileSync(path, 'utf8')}\nreturn ModuleFactory;\n})`;
  globalThis.ModuleFactory = vm.runInThisContext(wrapped, {filename: path})(createRequire(path), dirname(path), path);
  globalThis.Module = {wasmBinary: readFileSync(path.replace(/\.js$/, '.wasm'))};
};
