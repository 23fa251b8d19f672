/** Preloaded by `node --test --require`: makes `require('vscode')` load the stub. */
import Module = require('module');
import * as path from 'path';

const stub = path.join(__dirname, 'vscode.js');
const mod = Module as unknown as {
  _resolveFilename(request: string, ...rest: unknown[]): string;
};
const resolve = mod._resolveFilename;
mod._resolveFilename = function (request: string, ...rest: unknown[]): string {
  return request === 'vscode' ? stub : resolve.call(this, request, ...rest);
};
