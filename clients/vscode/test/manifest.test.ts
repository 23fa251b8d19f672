import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { PALETTE_ACTIONS, REDO_TITLE } from '../src/palette';

const root = path.resolve(__dirname, '..', '..');
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const extensionSource = fs.readFileSync(path.join(root, 'src', 'extension.ts'), 'utf8');

test('the palette shows every command of the issue under the ModelRouter category', () => {
  const titles = manifest.contributes.commands.map(
    (c: { category: string; title: string }) => `${c.category}: ${c.title}`,
  );
  for (const t of [
    'Fix typo',
    'Add docstring',
    'Explain',
    'Implement',
    'Refactor',
    'Write tests',
    'Design',
    'Ask…',
    'Redo with a stronger model',
    'Show usage',
    'Open rules file',
    'Restart server',
  ]) {
    assert.ok(titles.includes(`ModelRouter: ${t}`), t);
  }
});

test('every contributed command is registered, and none shadows a server command', () => {
  const registered = new Set([
    ...PALETTE_ACTIONS.map((p) => p.command),
    ...[...extensionSource.matchAll(/registerCommand\('([^']+)'/g)].map((m) => m[1]),
  ]);
  const server = ['run', 'redo', 'cancel', 'actions', 'stats', 'status', 'doctor'].map((c) => `modelrouter.${c}`);
  for (const c of manifest.contributes.commands) {
    assert.ok(registered.has(c.command), c.command);
    assert.ok(!server.includes(c.command), `${c.command} clashes with the server's command`);
  }
});

test('settings: server path, rules file, confirm-before-apply, trace level', () => {
  const props = manifest.contributes.configuration.properties;
  for (const key of [
    'modelrouter.server.path',
    'modelrouter.rulesFile',
    'modelrouter.confirmEdits',
    'modelrouter.trace.server',
  ]) {
    assert.ok(props[key], key);
  }
  assert.deepEqual(props['modelrouter.trace.server'].enum, ['off', 'messages', 'verbose']);
});

test('@types/vscode matches engines.vscode, as vsce requires', () => {
  const engine = manifest.engines.vscode.replace(/^\^/, '');
  const types = manifest.devDependencies['@types/vscode'];
  assert.equal(types.split('.').slice(0, 2).join('.'), engine.split('.').slice(0, 2).join('.'));
});

test('palette and lightbulb use the same names, and the context menu needs no selection', () => {
  const title = (command: string) =>
    manifest.contributes.commands.find((c: { command: string }) => c.command === command)?.title;
  for (const pa of PALETTE_ACTIONS) {
    assert.equal(title(pa.command), pa.title, pa.command);
  }
  assert.equal(title('modelrouter.redoStronger'), REDO_TITLE);
  const [entry] = manifest.contributes.menus['editor/context'];
  assert.doesNotMatch(entry.when ?? '', /editorHasSelection/);
  const submenu = manifest.contributes.menus['modelrouter.editorContext'].map((m: { command: string }) => m.command);
  assert.deepEqual(submenu, [...PALETTE_ACTIONS.map((p) => p.command), 'modelrouter.redoStronger']);
});
