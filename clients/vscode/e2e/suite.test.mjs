// @ts-check
/**
 * The extension inside a real VS Code (code-server), through a real browser: the packaged
 * .vsix installed with code-server's CLI, the real `modelrouter lsp`, and a fake Ollama on
 * loopback. Each test drives the workbench as a user would: palette, keyboard, lightbulb,
 * hover, notifications, settings. `MODELROUTER_SCREENSHOTS=DIR` also saves the pictures the
 * README shows.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { EXTENSION_DIR, Workbench, missing, until } from './workbench.mjs';

const require = createRequire(import.meta.url);
const why = missing();
const skip = why ? `the end-to-end suite needs: ${why}` : false;

const SMALL = 'qwen2.5-coder:1.5b';
const BIG = 'qwen2.5-coder:32b';
const OTHER = 'tinyllama:1.1b';

const SOURCE = [
  'def total(items):',
  '    # Retrun the sum of teh prices.',
  '    return sum(item.price for item in items)',
  '',
  '',
  'def mean(values):',
  '    pass',
  '',
  '',
  'def count(items):',
  '    return len(items)',
  '',
].join('\n');

const fenced = (code) => '```python\n' + code + '```\n';

/** The `modelrouter` executable, behind a wrapper that records each server's pid. */
function serverWrapper(dir) {
  const found =
    process.env.MODELROUTER_SERVER ||
    (process.env.PATH ?? '')
      .split(path.delimiter)
      .map((d) => path.join(d, 'modelrouter'))
      .find((p) => fs.existsSync(p));
  if (!found) throw new Error('modelrouter not found: set MODELROUTER_SERVER or put it on PATH');
  const wrapper = path.join(dir, 'modelrouter');
  const pids = path.join(dir, 'server.pids');
  fs.writeFileSync(wrapper, `#!/bin/sh\necho $$ >> '${pids}'\nexec '${found}' "$@"\n`, { mode: 0o755 });
  return { wrapper, pids };
}

function rules(baseUrl, trivialModel) {
  return [
    'extends: default',
    'backends:',
    '  local:',
    '    type: ollama',
    `    base_url: "${baseUrl}"`,
    `    model: "${trivialModel}"`,
    '  workstation:',
    '    type: ollama',
    `    base_url: "${baseUrl}"`,
    `    model: "${BIG}"`,
    'tiers:',
    '  trivial: [local]',
    '  feature: [workstation]',
    '  debug: [workstation]',
    '  architecture: [claude]',
    // The fake model answers every action here, once: the fixers (which would answer Fix
    // typo first) and the answer checks (which re-ask a tier up) are tested on their own.
    'fixers:',
    '  typos: null',
    '  ruff-format: null',
    '  ruff-imports: null',
    'checks:',
    '  enabled: false',
    '',
  ].join('\n');
}

/** @type {Workbench} */
let wb;
/** @type {any} */
let fake;
let root = '';
let ws = '';
/** @type {{wrapper: string, pids: string}} */
let server;

before(async () => {
  if (skip) return;
  const { FakeOllama } = require(path.join(EXTENSION_DIR, 'out', 'test', 'fakeOllama.js'));
  fake = await new FakeOllama().start();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'modelrouter-e2e-'));
  ws = path.join(root, 'project');
  fs.mkdirSync(path.join(ws, 'rules'), { recursive: true });
  fs.writeFileSync(path.join(ws, '.modelrouter.yaml'), rules(fake.baseUrl, SMALL));
  fs.writeFileSync(path.join(ws, 'rules', 'other.yaml'), rules(fake.baseUrl, OTHER));
  fs.writeFileSync(path.join(ws, 'prices.py'), SOURCE);
  server = serverWrapper(root);
  const env = {
    HOME: path.join(root, 'home'),
    XDG_CONFIG_HOME: path.join(root, 'config'),
    XDG_DATA_HOME: path.join(root, 'data-home'),
    MODELROUTER_DATA_DIR: path.join(root, 'modelrouter-data'),
    ANTHROPIC_API_KEY: '',
  };
  wb = new Workbench({ root, workspace: ws, settings: {}, machine: { 'modelrouter.server.path': server.wrapper }, env });
  delete wb.env.MODELROUTER_RULES;
  delete wb.env.ANTHROPIC_API_KEY;
  wb.install(path.join(EXTENSION_DIR, 'modelrouter.vsix'));
  await wb.start();
  await until(async () => /today/.test(await wb.statusBar()), 'the ModelRouter status bar item', 60000);
  await wb.open('prices.py');
});

afterEach(async (t) => {
  // With MODELROUTER_E2E_KEEP, a picture of the workbench after each test, for debugging.
  if (!skip && process.env.MODELROUTER_E2E_KEEP && wb?.page) {
    await wb.page.screenshot({ path: path.join(root, `${t.name.slice(0, 40).replace(/\W+/g, '-')}.png`) });
  }
});

after(async () => {
  await wb?.stop();
  await fake?.stop();
  if (root && !process.env.MODELROUTER_E2E_KEEP) fs.rmSync(root, { recursive: true, force: true });
});

const serverPids = () =>
  fs.existsSync(server.pids) ? fs.readFileSync(server.pids, 'utf8').trim().split('\n').map(Number) : [];

async function waitText(pred, what) {
  return until(async () => {
    const t = await wb.text();
    return pred(t) ? t : false;
  }, what);
}

test('the palette lists every ModelRouter command under the lightbulb names', { skip }, async () => {
  const page = wb.page;
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.fill('>ModelRouter:');
  await page.locator('.quick-input-list .monaco-list-row').first().waitFor();
  const labels = await page.locator('.quick-input-list .monaco-list-row').evaluateAll((rows) =>
    rows.map((r) => r.getAttribute('aria-label') ?? ''),
  );
  await page.keyboard.press('Escape');
  const text = labels.join('\n');
  for (const t of ['Fix typo', 'Add docstring', 'Explain', 'Implement', 'Refactor', 'Write tests', 'Design', 'Ask…']) {
    assert.match(text, new RegExp(`ModelRouter: ${t.replace('…', '.')}`), t);
  }
  assert.match(text, /ModelRouter: Redo with a stronger model/);
});

test('Fix typo on a selection applies through the real server; the status bar names the model', { skip }, async () => {
  const fixed = '    # Return the sum of the prices.\n    return sum(item.price for item in items)\n';
  fake.reply({ text: fenced(fixed) });
  await wb.focusEditor();
  await wb.selectLines(2, 3);
  await wb.palette('ModelRouter: Fix typo');
  await waitText((t) => t.includes('Return the sum of the prices.'), 'the fix');
  assert.match(JSON.stringify(fake.requests.at(-1).body), /teh prices/);
  assert.equal(fake.requests.at(-1).model, SMALL);
  const item = wb.page.locator('.part.statusbar .statusbar-item', { hasText: /today/ }).first();
  await until(async () => (await item.innerText()).includes(SMALL), 'the status bar naming the model');
  await item.waitFor({ timeout: 20000 });
  await wb.screenshot('vscode-status-bar.png', wb.page.locator('.part.statusbar'));
  const label = (await item.getAttribute('aria-label')) ?? (await item.innerText());
  assert.match(label, /today/, label);
});

test('the hover over model-written code names the model', { skip }, async () => {
  const hover = wb.page.locator('.monaco-hover:visible').first();
  await until(async () => {
    await wb.focusEditor();
    await wb.goto(2, 12);
    await wb.palette('Show or Focus Hover');
    return (await hover.innerText({ timeout: 3000 })).includes(SMALL);
  }, 'the provenance hover', 30000);
  const text = await hover.innerText();
  assert.match(text, /trivial/);
  await wb.screenshot('vscode-hover.png', wb.page.locator('.editor-instance').first());
  await wb.page.keyboard.press('Escape');
});

test('the edit is undone in one step', { skip }, async () => {
  await wb.focusEditor();
  await wb.goto(2, 5);
  await wb.page.keyboard.press('Control+Z');
  await waitText((t) => t.includes('Retrun the sum of teh prices.') && t.includes('item.price'), 'one undo to restore');
  assert.equal(await wb.text(), SOURCE);
  await wb.page.keyboard.press('Control+Shift+Z');
  await waitText((t) => t.includes('Return the sum of the prices.'), 'redo');
});

test('the lightbulb lists the actions with their models, and Design with why it is unavailable', { skip }, async () => {
  await wb.focusEditor();
  await wb.goto(7, 5);
  await wb.page.keyboard.press('Control+.');
  const widget = wb.page.locator('.action-widget:not(.action-list-submenu-panel)').first();
  await widget.waitFor({ state: 'visible' });
  const text = await until(async () => {
    const t = await widget.innerText();
    return t.includes('Implement') ? t : false;
  }, 'the code action list');
  assert.match(text, new RegExp(`Fix typo\\s+·\\s+trivial → ${SMALL.replace('.', '\\.')} \\(local\\)`));
  assert.match(text, new RegExp(`Implement\\s+·\\s+feature → ${BIG.replace('.', '\\.')}`));
  await wb.screenshot('vscode-lightbulb.png', wb.page.locator('.editor-instance').first());
  await wb.page.keyboard.press('Escape');
  // The lightbulb hides actions that cannot run; Refactor… lists them greyed out, with why.
  await wb.page.keyboard.press('Control+Shift+R');
  await widget.waitFor({ state: 'visible' });
  await widget.getByText('Show Disabled').click();
  const design = widget.locator('.monaco-list-row', { hasText: 'Design' }).first();
  await design.waitFor();
  assert.match((await design.getAttribute('class')) ?? '', /disabled/);
  assert.match(await design.innerText(), /unavailable: .*set ANTHROPIC_API_KEY/);
  await wb.screenshot('vscode-refactor-menu-unavailable.png', wb.page.locator('.editor-instance').first());
  await wb.page.keyboard.press('Escape');
});

test('each palette action runs on the cursor line or the selection', { skip }, async () => {
  const before = fake.requests.length;
  // Implement on the selection (the stub), Add docstring on the cursor line.
  fake.reply({ text: fenced('def mean(values):\n    return sum(values) / len(values)\n') });
  await wb.focusEditor();
  await wb.selectLines(6, 7);
  await wb.palette('ModelRouter: Implement');
  await waitText((t) => t.includes('return sum(values) / len(values)'), 'implement');
  assert.equal(fake.requests.at(-1).model, BIG);

  fake.reply({ text: fenced('def count(items):\n    """How many items there are."""\n') });
  await wb.focusEditor();
  await wb.goto(10, 3);
  await wb.palette('ModelRouter: Add docstring');
  await waitText((t) => t.includes('How many items there are.'), 'add docstring');
  assert.match(JSON.stringify(fake.requests.at(-1).body), /def count\(items\)/);

  fake.reply({ text: fenced('    return len(list(items))\n') });
  await wb.focusEditor();
  await wb.goto(12, 5);
  await wb.palette('ModelRouter: Refactor');
  await waitText((t) => t.includes('return len(list(items))'), 'refactor');

  // Ask… asks for the instruction.
  fake.reply({ text: fenced('    return sum(item.price for item in items if item)\n') });
  await wb.focusEditor();
  await wb.goto(3, 5);
  await wb.palette('ModelRouter: Ask…');
  const input = wb.page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await input.fill('skip empty items');
  await wb.page.keyboard.press('Enter');
  await waitText((t) => t.includes('if item)'), 'ask');
  assert.match(JSON.stringify(fake.requests.at(-1).body), /skip empty items/);

  // Explain answers beside the code, in a read-only document; the code is unchanged.
  fake.reply({ text: 'It adds up the price of every item.' });
  const code = await wb.text();
  await wb.focusEditor();
  await wb.goto(1, 5);
  await wb.palette('ModelRouter: Explain');
  await wb.page.locator('.tab', { hasText: 'Explain.md' }).first().waitFor({ timeout: 20000 });
  const answerText = await until(async () => {
    const all = await wb.page.locator('.monaco-editor .view-lines').allInnerTexts();
    return all.map((t) => t.replace(/\u00a0/g, ' ')).find((t) => t.includes('It adds up the price'));
  }, 'the answer document');
  assert.match(answerText, new RegExp(SMALL.replace('.', '\\.')));
  await wb.page.locator('.tab', { hasText: 'prices.py' }).first().click();
  assert.equal(await wb.text(), code);

  // Write tests creates the test file.
  fake.reply({ text: fenced('from prices import total\n\n\ndef test_total():\n    assert total([]) == 0\n') });
  await wb.focusEditor();
  await wb.selectLines(1, 3);
  await wb.palette('ModelRouter: Write tests');
  const testFile = path.join(ws, 'tests', 'test_prices.py');
  await until(() => fs.existsSync(testFile), 'tests/test_prices.py to be created', 20000);

  // Design's tier has no usable backend: the warning names the reason, nothing is sent.
  const sent = fake.requests.length;
  await wb.page.locator('.tab', { hasText: 'prices.py' }).first().click();
  await wb.focusEditor();
  await wb.palette('ModelRouter: Design');
  await wb.page
    .locator('.notification-toast', { hasText: /Design is unavailable: .*ANTHROPIC_API_KEY/ })
    .first()
    .waitFor({ timeout: 15000 });
  assert.equal(fake.requests.length, sent);
  assert.equal(fake.requests.length, before + 6);
  await wb.palette('Notifications: Clear All Notifications');
});

test('Cancel on the progress notification leaves the file untouched', { skip }, async () => {
  await wb.page.locator('.tab', { hasText: 'prices.py' }).first().click();
  const text = await wb.text();
  fake.reply({ text: fenced('    # CHANGED\n'), chunk: 1, delayMs: 150 });
  const n = fake.requests.length;
  await wb.focusEditor();
  await wb.goto(2, 1);
  await wb.palette('ModelRouter: Fix typo');
  await fake.waitForRequests(n + 1);
  const cancel = wb.page.locator('.notification-toast .monaco-button', { hasText: 'Cancel' }).first();
  await cancel.waitFor({ state: 'visible', timeout: 15000 });
  await cancel.click();
  await fake.requests.at(-1).disconnected;
  await wb.page.waitForTimeout(1000);
  assert.equal(await wb.text(), text);
});

test('a settings change reaches the running server', { skip }, async () => {
  const n = fake.requests.length;
  // Workspace settings, as a user changes them for one project.
  fs.mkdirSync(path.join(ws, '.vscode'), { recursive: true });
  fs.writeFileSync(
    path.join(ws, '.vscode', 'settings.json'),
    JSON.stringify({ 'modelrouter.rulesFile': path.join(ws, 'rules', 'other.yaml') }),
  );
  // The lightbulb shows the other rules' model once the server has them.
  await until(async () => {
    await wb.focusEditor();
    await wb.goto(11, 5);
    await wb.page.keyboard.press('Control+.');
    const widget = wb.page.locator('.action-widget:not(.action-list-submenu-panel)').first();
    await widget.waitFor({ state: 'visible', timeout: 5000 });
    const t = await widget.innerText();
    await wb.page.keyboard.press('Escape');
    return t.includes(OTHER);
  }, 'the new rules file in the code action titles', 30000);
  assert.equal(fake.requests.length, n);
  assert.equal(serverPids().length, 1, 'a settings change other than the server path does not restart it');
});

test('Open rules file shows a broken rules file with its error at the right line', { skip }, async () => {
  const file = path.join(ws, 'rules', 'other.yaml');
  const good = fs.readFileSync(file, 'utf8');
  const lines = good.split('\n');
  const at = lines.indexOf('  trivial: [local]');
  lines[at] = '  trivial: [no-such-backend]';
  fs.writeFileSync(file, lines.join('\n'));
  try {
    await wb.palette('ModelRouter: Open rules file');
    await wb.page.locator('.tab.active', { hasText: 'other.yaml' }).waitFor({ timeout: 20000 });
    await wb.palette('View: Focus Problems (Errors, Warnings, Infos)');
    const markers = wb.page.locator('.markers-panel');
    const text = await until(async () => {
      const t = await markers.innerText();
      return t.includes('no-such-backend') ? t : false;
    }, 'the rules error in Problems');
    assert.match(text, new RegExp(`\\[Ln ${at + 1}, Col \\d+\\]`));
  } finally {
    fs.writeFileSync(file, good);
  }
});

test('the server is started again after it is killed', { skip }, async () => {
  const [first] = serverPids();
  process.kill(first, 'SIGKILL');
  await until(() => serverPids().length > 1, 'a new server', 30000);
  await until(async () => /today/.test(await wb.statusBar()) && !/restarting/.test(await wb.statusBar()), 'the status bar back');
  fake.reply({ text: fenced('    return len(items)  # counted\n') });
  await wb.page.locator('.tab', { hasText: 'prices.py' }).first().click();
  await wb.focusEditor();
  await wb.goto(12, 5);
  await wb.palette('ModelRouter: Fix typo');
  await waitText((t) => t.includes('# counted'), 'a fix from the new server');
});
