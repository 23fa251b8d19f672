import * as assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import * as vscode from 'vscode';
import { WORKSPACE_RULES, openRules, redoStronger, runAction, showUsage } from '../src/commands';
import { PALETTE_ACTIONS } from '../src/palette';
import { ActionInfo } from '../src/protocol';
import type { ServerLink } from '../src/server';
import * as stub from './stub/vscode';

interface Sent {
  command: string;
  args: unknown[];
  token?: vscode.CancellationToken;
}

const ACTIONS: ActionInfo[] = [
  // Titles as the server sends them: with the tier and the model.
  {
    id: 'fix-typo',
    title: 'Fix typo  ·  trivial → gemma3:27b (local)',
    tier: 'trivial',
    backend: 'local',
    model: 'gemma3:27b',
    disabled: null,
  },
  {
    id: 'design',
    title: 'Design  ·  architecture',
    tier: 'architecture',
    backend: 'claude',
    model: 'claude-opus-4-5',
    disabled: 'set ANTHROPIC_API_KEY',
  },
  { id: 'ask', title: 'Ask…', tier: 'auto', disabled: null, needs_instruction: true },
  { id: 'explain', title: 'Explain  ·  trivial → gemma3:27b (local)', tier: 'trivial', backend: 'local', model: 'gemma3:27b', disabled: null },
  { id: 'refactor', title: 'Refactor', tier: 'feature', backend: 'gemini', model: 'gemini-2.5-flash', disabled: null },
];

/** A server that answers `modelrouter.actions` and records everything else. */
function fakeServer(answer: (cmd: string, args: unknown[]) => unknown) {
  const sent: Sent[] = [];
  const link: ServerLink = {
    async execute<T>(command: string, args: unknown[], token?: vscode.CancellationToken) {
      sent.push({ command, args, token });
      if (command === 'modelrouter.actions') {
        return ACTIONS as T;
      }
      await new Promise((resolve) => setImmediate(resolve));
      return answer(command, args) as T;
    },
  };
  return { link, sent };
}

const action = (id: string) => PALETTE_ACTIONS.find((p) => p.action === id)!;
const uiCalls = (fn: string) => stub.calls.filter((c) => c.fn === fn);

beforeEach(() => stub.reset());

test('Fix Typo sends the selection to modelrouter.run and reports the model', async () => {
  stub.window.activeTextEditor = stub.editor(
    '/ws/a.py',
    ['x = 1', 'pritn(x)', 'y'],
    { line: 1, character: 0 },
    { line: 2, character: 0 },
  );
  const { link, sent } = fakeServer(() => ({ applied: true, model: 'gemma3:27b', message: 'fixed 1 line' }));
  const result = await runAction(link, action('fix-typo'));
  assert.equal(result?.applied, true);
  const run = sent.find((s) => s.command === 'modelrouter.run')!;
  assert.deepEqual(run.args, [
    {
      action: 'fix-typo',
      uri: 'file:///ws/a.py',
      range: { start: { line: 1, character: 0 }, end: { line: 2, character: 0 } },
      instruction: undefined,
    },
  ]);
  assert.match(String(uiCalls('setStatusBarMessage')[0].args[0]), /fixed 1 line \(gemma3:27b\)/);
});

test('a disabled action shows why and sends nothing', async () => {
  stub.window.activeTextEditor = stub.editor('/ws/a.py', ['x'], { line: 0, character: 0 });
  const { link, sent } = fakeServer(() => assert.fail('must not run'));
  assert.equal(await runAction(link, action('design')), undefined);
  assert.deepEqual(
    sent.map((s) => s.command),
    ['modelrouter.actions'],
  );
  assert.match(String(uiCalls('showWarningMessage')[0].args[0]), /Design is unavailable: set ANTHROPIC_API_KEY/);
});

test('Ask… prompts for the instruction and sends it with the current line', async () => {
  stub.window.activeTextEditor = stub.editor('/ws/a.py', ['import os', 'p = os.path.join(a, b)'], {
    line: 1,
    character: 4,
  });
  stub.answers.inputBox = 'use pathlib';
  const { link, sent } = fakeServer(() => ({ applied: true, model: 'gemini-2.5-flash' }));
  await runAction(link, action('ask'));
  const run = sent.find((s) => s.command === 'modelrouter.run')!;
  const args = run.args[0] as { instruction: string; range: unknown };
  assert.equal(args.instruction, 'use pathlib');
  assert.deepEqual(args.range, { start: { line: 1, character: 0 }, end: { line: 1, character: 22 } });
});

test('Ask… with an empty answer sends nothing', async () => {
  stub.window.activeTextEditor = stub.editor('/ws/a.py', ['x'], { line: 0, character: 0 });
  stub.answers.inputBox = '  ';
  const { link, sent } = fakeServer(() => assert.fail('must not run'));
  assert.equal(await runAction(link, action('ask')), undefined);
  assert.ok(!sent.some((s) => s.command === 'modelrouter.run'));
});

test('a cancelled request is reported quietly, not as an error', async () => {
  stub.window.activeTextEditor = stub.editor('/ws/a.py', ['x'], { line: 0, character: 0 });
  const { link } = fakeServer(() => {
    throw Object.assign(new Error('Request cancelled'), { code: -32800 });
  });
  assert.equal(await runAction(link, action('fix-typo')), undefined);
  assert.equal(uiCalls('showErrorMessage').length, 0);
  assert.match(String(uiCalls('setStatusBarMessage')[0].args[0]), /cancelled, nothing changed/);
});

test('a server error is shown', async () => {
  stub.window.activeTextEditor = stub.editor('/ws/a.py', ['x'], { line: 0, character: 0 });
  const { link } = fakeServer(() => {
    throw new Error('every backend failed: local: connection refused');
  });
  assert.equal(await runAction(link, action('fix-typo')), undefined);
  assert.match(String(uiCalls('showErrorMessage')[0].args[0]), /connection refused/);
});

test('a reply with no usable code is not repeated in a second popup', async () => {
  stub.window.activeTextEditor = stub.editor('/ws/a.py', ['x'], { line: 0, character: 0 });
  const { link } = fakeServer(() => ({ applied: false, message: 'the reply contained no code' }));
  const result = await runAction(link, action('fix-typo'));
  assert.equal(result?.applied, false);
  assert.equal(uiCalls('showWarningMessage').length, 0);
  assert.match(String(uiCalls('setStatusBarMessage')[0].args[0]), /no code/);
});

test('without an editor nothing is sent', async () => {
  const { link, sent } = fakeServer(() => assert.fail('must not run'));
  await runAction(link, action('fix-typo'));
  await redoStronger(link);
  assert.equal(sent.length, 0);
  assert.equal(uiCalls('showWarningMessage').length, 2);
});

test('Redo With Stronger Model sends the cursor position', async () => {
  stub.window.activeTextEditor = stub.editor('/ws/b.py', ['a', 'bb'], { line: 1, character: 1 });
  const { link, sent } = fakeServer(() => ({ applied: true, model: 'claude-opus-4-5' }));
  await redoStronger(link);
  assert.deepEqual(sent[0].args, [{ uri: 'file:///ws/b.py', position: { line: 1, character: 1 } }]);
  assert.equal(sent[0].command, 'modelrouter.redo');
});

test('Show Usage opens a Markdown report of the last 7 days', async () => {
  const { link, sent } = fakeServer(() => ({ requests: 5, spend_usd: 0.02, saved_usd: 0.5, fallback_rate: 0, by: [] }));
  await showUsage(link);
  assert.deepEqual(sent[0].args, [{ since: '7d' }]);
  const doc = uiCalls('openTextDocument')[0].args[0] as { content: string; language: string };
  assert.equal(doc.language, 'markdown');
  assert.match(doc.content, /Requests: 5/);
});

test('Open Rules File opens the file the server uses and shows its errors', async () => {
  stub.workspace.workspaceFolders = [{ name: 'ws', uri: stub.Uri.file('/ws') }];
  const { link } = fakeServer(() => ({
    rules_file: '/ws/.modelrouter.yaml',
    rules_errors: ['/ws/.modelrouter.yaml:3:1: bad'],
  }));
  await openRules(link, async () => assert.fail('no restart needed'));
  assert.equal(uiCalls('showInformationMessage').length, 0);
  assert.equal((uiCalls('showTextDocument')[0].args[0] as vscode.Uri).fsPath, '/ws/.modelrouter.yaml');
  assert.match(String(uiCalls('showErrorMessage')[0].args[0]), /:3:1: bad/);
});

test('Open Rules File offers workspace rules when the defaults are in use', async () => {
  stub.workspace.workspaceFolders = [{ name: 'ws', uri: stub.Uri.file('/ws') }];
  stub.answers.message = 'Create Workspace Rules';
  let restarted = 0;
  const { link } = fakeServer(() => ({ rules_file: '/site-packages/modelrouter/data/default.yaml', rules_errors: [] }));
  await openRules(link, async () => {
    restarted += 1;
  });
  const [file, content] = uiCalls('fs.writeFile')[0].args as [string, string];
  assert.equal(file, '/ws/.modelrouter.yaml');
  assert.equal(content, WORKSPACE_RULES);
  assert.match(content, /^extends: default$/m);
  assert.equal(restarted, 1);
  assert.equal((uiCalls('showTextDocument')[0].args[0] as vscode.Uri).fsPath, '/ws/.modelrouter.yaml');
});

test('Open Rules File can still open the rules in use, or do nothing when dismissed', async () => {
  stub.workspace.workspaceFolders = [{ name: 'ws', uri: stub.Uri.file('/ws') }];
  const { link } = fakeServer(() => ({ rules_file: '/home/u/.config/modelrouter/rules.yaml', rules_errors: [] }));
  await openRules(link, async () => assert.fail('no restart'));
  assert.equal(uiCalls('showTextDocument').length, 0);
  stub.answers.message = 'Open Current Rules';
  await openRules(link, async () => assert.fail('no restart'));
  assert.equal((uiCalls('showTextDocument')[0].args[0] as vscode.Uri).fsPath, '/home/u/.config/modelrouter/rules.yaml');
  assert.equal(uiCalls('fs.writeFile').length, 0);
});

test('Explain on the cursor line shows the answer in its own view and changes nothing', async () => {
  stub.window.activeTextEditor = stub.editor('/ws/a.py', ['def f(x):', '    return x * 2'], { line: 1, character: 3 });
  const { link, sent } = fakeServer(() => ({
    applied: false,
    backend: 'local',
    model: 'gemma3:27b',
    tier: 'trivial',
    message: 'It doubles x.',
    answer: 'It doubles x.',
  }));
  const shown: { answer?: string | null; title: string }[] = [];
  const answers = {
    show: async (result: { answer?: string | null }, title: string) => {
      shown.push({ answer: result.answer, title });
      return true;
    },
  };
  await runAction(link, action('explain'), answers);
  const run = sent.find((s) => s.command === 'modelrouter.run')!;
  assert.deepEqual((run.args[0] as { range: unknown }).range, {
    start: { line: 1, character: 0 },
    end: { line: 1, character: 16 },
  });
  assert.deepEqual(shown, [{ answer: 'It doubles x.', title: 'Explain' }]);
  assert.equal(uiCalls('showErrorMessage').length, 0);
});

test('Refactor runs the refactor action on the selection', async () => {
  stub.window.activeTextEditor = stub.editor('/ws/a.py', ['a = 1', 'b = 2'], { line: 0, character: 0 }, { line: 1, character: 5 });
  const { link, sent } = fakeServer(() => ({ applied: true, model: 'gemini-2.5-flash' }));
  await runAction(link, action('refactor'));
  const run = sent.find((s) => s.command === 'modelrouter.run')!;
  assert.equal((run.args[0] as { action: string }).action, 'refactor');
});

test('a palette command runs under a cancellable notification whose Cancel reaches the server', async () => {
  stub.window.activeTextEditor = stub.editor('/ws/a.py', ['x = 1'], { line: 0, character: 0 });
  const { link, sent } = fakeServer(() => ({ applied: false, message: 'cancelled' }));
  await runAction(link, action('fix-typo'));
  const [options] = uiCalls('withProgress')[0].args as [{ location: number; cancellable: boolean; title: string }];
  assert.equal(options.location, stub.ProgressLocation.Notification);
  assert.equal(options.cancellable, true);
  assert.equal(options.title, 'ModelRouter: Fix typo');
  const run = sent.find((s) => s.command === 'modelrouter.run')!;
  assert.equal(run.token, stub.progress.token);
});
