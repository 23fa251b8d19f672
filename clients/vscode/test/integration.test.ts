/**
 * The extension's requests against the real `modelrouter lsp`, sent through
 * vscode-languageserver-protocol (the library vscode-languageclient is built on), with a
 * fake Ollama on loopback. The client side answers like VS Code: it applies
 * `workspace/applyEdit` to its copy of the document and reports `didChange`, accepts
 * server-created progress, and cancels the way the progress notification's button does.
 *
 * Needs the `modelrouter` executable: $MODELROUTER_SERVER, else PATH, else the repository's
 * .venv. Skips with the reason when there is none.
 */
import * as assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import {
  ApplyWorkspaceEditParams,
  ApplyWorkspaceEditRequest,
  CancellationTokenSource,
  ConfigurationRequest,
  CreateFile,
  DidChangeConfigurationNotification,
  DidChangeTextDocumentNotification,
  DidOpenTextDocumentNotification,
  ExecuteCommandRequest,
  HoverRequest,
  InitializeRequest,
  InitializedNotification,
  MarkupContent,
  ProtocolConnection,
  RegistrationRequest,
  ShowDocumentRequest,
  ShutdownRequest,
  ExitNotification,
  StreamMessageReader,
  StreamMessageWriter,
  TextDocumentEdit,
  WorkDoneProgressCancelNotification,
  WorkDoneProgressCreateRequest,
  createProtocolConnection,
} from 'vscode-languageserver-protocol/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { AnswerResult } from '../src/answers';
import { PALETTE_ACTIONS, actionRange } from '../src/palette';
import { ActionInfo, RunResult, ServerSettings, Stats, Status } from '../src/protocol';
import { nodeHost, which } from '../src/serverPath';
import { FakeOllama } from './fakeOllama';

const repo = path.resolve(__dirname, '..', '..', '..', '..');
const venvServer = path.join(repo, '.venv', 'bin', 'modelrouter');
const server =
  process.env.MODELROUTER_SERVER ??
  which('modelrouter', nodeHost) ??
  (nodeHost.isExecutable(venvServer) ? venvServer : undefined);
const skip = server ? false : 'modelrouter not found (set MODELROUTER_SERVER or put it on PATH)';

const SOURCE = [
  'def total(items):',
  '    # Retrun the sum of teh prices.',
  '    return sum(item.prcie for item in items)',
  '',
  '',
  'def mean(values):',
  '    pass',
  '',
].join('\n');

const fenced = (code: string, lang = 'python') => `Here you go:\n\n\`\`\`${lang}\n${code}\`\`\`\n`;

interface Progress {
  token: string | number;
  value: { kind: string; title?: string; message?: string; cancellable?: boolean };
}

/** The editor side of the session: one open document, plus everything the server sent. */
class Editor {
  doc: TextDocument;
  readonly edits: ApplyWorkspaceEditParams[] = [];
  readonly progress: Progress[] = [];
  readonly created: string[] = [];
  readonly statuses: Status[] = [];
  readonly messages: string[] = [];
  settings: ServerSettings = { rulesFile: null, confirmEdits: false, designFolder: 'docs/design', logFile: null };

  constructor(
    readonly conn: ProtocolConnection,
    uri: string,
  ) {
    this.doc = TextDocument.create(uri, 'python', 1, SOURCE);
  }

  lines(): string[] {
    return this.doc.getText().split('\n');
  }

  execute<T>(command: string, args: unknown[], token?: CancellationTokenSource): Promise<T> {
    return this.conn.sendRequest(ExecuteCommandRequest.type, { command, arguments: args }, token?.token) as Promise<T>;
  }

  /** The arguments the palette command sends for `action` on a selection. */
  runArgs(action: string, start: [number, number], end: [number, number], instruction?: string) {
    const isEmpty = start[0] === end[0] && start[1] === end[1];
    const range = actionRange(
      { start: { line: start[0], character: start[1] }, end: { line: end[0], character: end[1] }, isEmpty },
      (line) => this.lines()[line].length,
    );
    return { action, uri: this.doc.uri, range, instruction };
  }

  /** Resolves with the token of the next progress that begins. */
  async nextProgressBegin(seen: number): Promise<string | number> {
    for (;;) {
      const begin = this.progress.slice(seen).find((p) => p.value.kind === 'begin');
      if (begin) {
        return begin.token;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  apply(params: ApplyWorkspaceEditParams): { applied: boolean; failureReason?: string } {
    this.edits.push(params);
    for (const change of params.edit.documentChanges ?? []) {
      if (CreateFile.is(change)) {
        this.created.push(change.uri);
        continue;
      }
      if (!TextDocumentEdit.is(change)) {
        continue;
      }
      if (change.textDocument.uri === this.doc.uri) {
        if (change.textDocument.version !== null && change.textDocument.version !== this.doc.version) {
          return { applied: false, failureReason: 'document changed' };
        }
        // Incremental changes, last edit first so each range is valid when applied; like
        // VS Code, so the server can follow model-written ranges through them.
        const changes = [...change.edits]
          .sort((a, b) => this.doc.offsetAt(b.range.start) - this.doc.offsetAt(a.range.start))
          .map((e) => ({ range: e.range, text: e.newText }));
        const version = this.doc.version + 1;
        this.doc = TextDocument.update(this.doc, changes, version);
        void this.conn.sendNotification(DidChangeTextDocumentNotification.type, {
          textDocument: { uri: this.doc.uri, version },
          contentChanges: changes,
        });
      } else {
        // A new file (tests, design note): written to disk like VS Code would on save.
        const file = new URL(change.textDocument.uri);
        const before = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
        const doc = TextDocument.create(change.textDocument.uri, 'plaintext', 0, before);
        fs.mkdirSync(path.dirname(file.pathname), { recursive: true });
        fs.writeFileSync(file, TextDocument.applyEdits(doc, change.edits));
      }
    }
    return { applied: true };
  }
}

let proc: ChildProcess | undefined;
let fake: FakeOllama;
let ed: Editor;
let workspace: string;
let stderr = '';

before(async () => {
  if (!server) {
    return;
  }
  fake = await new FakeOllama().start();
  workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'modelrouter-vscode-'));
  fs.writeFileSync(
    path.join(workspace, '.modelrouter.yaml'),
    [
      'extends: default',
      'backends:',
      '  fake-small:',
      '    type: ollama',
      `    base_url: "${fake.baseUrl}"`,
      '    model: small-local',
      '  fake-big:',
      '    type: ollama',
      `    base_url: "${fake.baseUrl}"`,
      '    model: big-local',
      'tiers:',
      '  trivial: [fake-small]',
      '  feature: [fake-big]',
      '  debug: [fake-big]',
      '  architecture: [fake-big]',
      // Every action goes to the fake model here: this suite tests the client's plumbing, and
      // the fixers (which would answer fix-typo, format and organize-imports first) have theirs.
      'fixers:',
      '  typos: null',
      '  ruff-format: null',
      '  ruff-imports: null',
      '',
    ].join('\n'),
  );
  const file = path.join(workspace, 'prices.py');
  fs.writeFileSync(file, SOURCE);
  const env: NodeJS.ProcessEnv = { ...process.env, MODELROUTER_DATA_DIR: path.join(workspace, '.data') };
  delete env.MODELROUTER_RULES;
  env.XDG_CONFIG_HOME = path.join(workspace, '.config');
  proc = spawn(server, ['lsp'], { cwd: workspace, env, stdio: ['pipe', 'pipe', 'pipe'] });
  proc.stderr!.on('data', (d) => (stderr += d));
  const conn = createProtocolConnection(new StreamMessageReader(proc.stdout!), new StreamMessageWriter(proc.stdin!));
  ed = new Editor(conn, pathToFileURL(file).toString());
  conn.onRequest(ApplyWorkspaceEditRequest.type, (p) => ed.apply(p));
  conn.onRequest(WorkDoneProgressCreateRequest.type, () => null);
  conn.onRequest(RegistrationRequest.type, () => null);
  conn.onRequest(ConfigurationRequest.type, (p) => p.items.map(() => ed.settings));
  conn.onRequest(ShowDocumentRequest.type, () => ({ success: true }));
  conn.onNotification('$/progress', (p: Progress) => ed.progress.push(p));
  conn.onNotification('modelrouter/status', (s: Status) => ed.statuses.push(s));
  conn.onNotification('window/showMessage', (m: { message: string }) => ed.messages.push(m.message));
  conn.listen();
  const root = pathToFileURL(workspace).toString();
  await conn.sendRequest(InitializeRequest.type, {
    processId: process.pid,
    rootUri: root,
    workspaceFolders: [{ uri: root, name: 'project' }],
    initializationOptions: ed.settings,
    capabilities: {
      workspace: {
        applyEdit: true,
        configuration: true,
        workspaceEdit: {
          documentChanges: true,
          resourceOperations: ['create', 'rename', 'delete'],
          changeAnnotationSupport: { groupsOnLabel: true },
        },
        executeCommand: { dynamicRegistration: true },
        didChangeConfiguration: { dynamicRegistration: true },
      },
      textDocument: {
        synchronization: { didSave: true, dynamicRegistration: true },
        hover: { contentFormat: ['markdown', 'plaintext'] },
        codeAction: {
          codeActionLiteralSupport: {
            codeActionKind: { valueSet: ['', 'quickfix', 'refactor', 'refactor.rewrite', 'source'] },
          },
          resolveSupport: { properties: ['edit'] },
          dataSupport: true,
          disabledSupport: true,
        },
      },
      window: { workDoneProgress: true, showDocument: { support: true }, showMessage: {} },
    },
  });
  await conn.sendNotification(InitializedNotification.type, {});
  await conn.sendNotification(DidOpenTextDocumentNotification.type, {
    textDocument: { uri: ed.doc.uri, languageId: 'python', version: 1, text: SOURCE },
  });
});

after(async () => {
  if (!proc) {
    return;
  }
  await ed.conn.sendRequest(ShutdownRequest.type).catch(() => undefined);
  await ed.conn.sendNotification(ExitNotification.type).catch(() => undefined);
  ed.conn.dispose();
  proc.kill();
  await fake.stop();
  fs.rmSync(workspace, { recursive: true, force: true });
});

test('every palette action is offered by the server and usable', { skip }, async () => {
  const actions = await ed.execute<ActionInfo[]>('modelrouter.actions', []);
  for (const pa of PALETTE_ACTIONS) {
    const a = actions.find((x) => x.id === pa.action);
    assert.ok(a, `server has no '${pa.action}' action`);
    assert.equal(a.disabled ?? null, null, `${pa.action}: ${a.disabled}`);
    assert.equal(Boolean(a.needs_instruction), pa.needsInstruction, pa.action);
  }
});

test(
  'Fix Typo: the edit arrives as workspace/applyEdit on exactly the selected lines, with progress',
  { skip },
  async () => {
    const fixed = '    # Return the sum of the prices.\n    return sum(item.price for item in items)\n';
    fake.reply({ text: fenced(fixed) });
    const seen = ed.progress.length;
    const result = await ed.execute<RunResult>('modelrouter.run', [ed.runArgs('fix-typo', [1, 0], [3, 0])]);
    assert.equal(result.applied, true, `${result.message} ${stderr}`);
    assert.equal(result.model, 'small-local');
    assert.deepEqual(ed.lines(), [
      SOURCE.split('\n')[0],
      ...fixed.split('\n').slice(0, 2),
      ...SOURCE.split('\n').slice(3),
    ]);
    const progress = ed.progress.slice(seen);
    const begin = progress.find((p) => p.value.kind === 'begin');
    assert.ok(begin, 'no progress began');
    assert.equal(begin.value.cancellable, true);
    assert.ok(progress.some((p) => p.token === begin.token && p.value.kind === 'end'));
    assert.ok(
      ed.statuses.some((s) => s.working),
      'no working status was sent',
    );
    assert.match(JSON.stringify(fake.requests.at(-1)!.body), /teh prices/);
  },
);

test('hover over the written code names the model', { skip }, async () => {
  const hover = await ed.conn.sendRequest(HoverRequest.type, {
    textDocument: { uri: ed.doc.uri },
    position: { line: 2, character: 12 },
  });
  assert.ok(hover, 'no hover');
  assert.match((hover.contents as MarkupContent).value, /small-local/);
});

test('Format, Organize imports, Add docstring, Implement, Refactor, Write tests, Design, Ask… apply their edit; Explain answers', { skip }, async () => {
  const replies: Record<string, string> = {
    format: fenced('def mean(values) :\n    pass\n'),
    'organize-imports': fenced('def mean(values):\n    pass\n'),
    'add-docstring': fenced('def mean(values):\n    """The arithmetic mean of `values`."""\n    pass\n'),
    implement: fenced('def mean(values):\n    return sum(values) / len(values)\n'),
    refactor: fenced('def mean(values):\n    total = sum(values)\n    return total / len(values)\n'),
    explain: 'It returns the arithmetic mean of the values.',
    'write-tests': fenced('from prices import mean\n\n\ndef test_mean():\n    assert mean([1, 3]) == 2\n'),
    design: '# Prices module\n\n## Goals\n\nKeep totals exact.\n\n## Plan\n\nUse Decimal.\n',
    ask: fenced('def mean(values):\n    values = list(values)\n    return sum(values) / len(values)\n'),
  };
  for (const pa of PALETTE_ACTIONS.filter((p) => p.action !== 'fix-typo')) {
    fake.reply({ text: replies[pa.action] });
    const before = ed.edits.length;
    const requests = fake.requests.length;
    const instruction = pa.needsInstruction ? 'accept any iterable' : undefined;
    const result = await ed.execute<AnswerResult>('modelrouter.run', [
      ed.runArgs(pa.action, [5, 0], [7, 0], instruction),
    ]);
    assert.equal(fake.requests.length, requests + 1, pa.action);
    if (pa.action === 'explain') {
      assert.equal(result.applied, false);
      assert.equal(result.answer, replies.explain);
      assert.equal(ed.edits.length, before, 'an answer edits nothing');
      continue;
    }
    assert.equal(result.applied, true, `${pa.action}: ${result.message} ${ed.messages.join('\n')}`);
    assert.ok(ed.edits.length > before, `${pa.action}: no workspace/applyEdit`);
    if (instruction) {
      assert.match(JSON.stringify(fake.requests.at(-1)!.body), /accept any iterable/);
    }
  }
  assert.ok(
    ed.created.some((u) => /test_prices\.py$/.test(u)),
    `no test file created: ${ed.created}`,
  );
  assert.ok(
    ed.created.some((u) => u.includes('/docs/design/')),
    `no design note created: ${ed.created}`,
  );
  assert.match(ed.lines().join('\n'), /values = list\(values\)/);
});

test('cancelling the progress notification stops the job and applies nothing', { skip }, async () => {
  fake.reply({ text: fenced('    # CHANGED\n'), chunk: 1, delayMs: 100 });
  const text = ed.doc.getText();
  const edits = ed.edits.length;
  const seen = ed.progress.length;
  const sent = fake.requests.length;
  const running = ed.execute<RunResult>('modelrouter.run', [ed.runArgs('fix-typo', [1, 0], [2, 0])]);
  const token = await ed.nextProgressBegin(seen);
  await fake.waitForRequests(sent + 1); // cancelled once the model has the request
  await ed.conn.sendNotification(WorkDoneProgressCancelNotification.type, { token });
  const result = await running;
  assert.equal(result.applied, false);
  assert.equal(ed.doc.getText(), text);
  assert.equal(ed.edits.length, edits);
  await fake.requests.at(-1)!.disconnected; // the HTTP stream to the model was dropped
});

test('$/cancelRequest (a cancelled command) applies nothing', { skip }, async () => {
  fake.reply({ text: fenced('    # CHANGED\n'), chunk: 1, delayMs: 100 });
  const text = ed.doc.getText();
  const seen = ed.progress.length;
  const sent = fake.requests.length;
  const source = new CancellationTokenSource();
  const running = ed.execute<RunResult>('modelrouter.run', [ed.runArgs('fix-typo', [1, 0], [2, 0])], source);
  await ed.nextProgressBegin(seen);
  await fake.waitForRequests(sent + 1);
  source.cancel();
  const outcome = await running.then(
    (r) => r,
    (e: { code?: number }) => e,
  );
  assert.ok(
    (outcome as { code?: number }).code === -32800 || (outcome as RunResult).applied === false,
    JSON.stringify(outcome),
  );
  assert.equal(ed.doc.getText(), text);
});

test('modelrouter.cancel cancels every running job', { skip }, async () => {
  fake.reply({ text: fenced('    # CHANGED\n'), chunk: 1, delayMs: 100 });
  const text = ed.doc.getText();
  const seen = ed.progress.length;
  const sent = fake.requests.length;
  const running = ed.execute<RunResult>('modelrouter.run', [ed.runArgs('fix-typo', [1, 0], [2, 0])]);
  await ed.nextProgressBegin(seen);
  await fake.waitForRequests(sent + 1);
  const cancelled = await ed.execute<{ cancelled: number }>('modelrouter.cancel', []);
  assert.equal(cancelled.cancelled, 1);
  assert.equal((await running).applied, false);
  assert.equal(ed.doc.getText(), text);
});

test('Redo With Stronger Model re-runs the written code one tier up', { skip }, async () => {
  const stronger = '    # Return the sum of the prices.\n    return sum(i.price for i in items)\n';
  fake.reply({ text: fenced(stronger) });
  const result = await ed.execute<RunResult>('modelrouter.redo', [
    { uri: ed.doc.uri, position: { line: 2, character: 8 } },
  ]);
  assert.equal(result.applied, true, result.message ?? '');
  assert.equal(result.model, 'big-local');
  assert.equal(fake.requests.at(-1)!.model, 'big-local');
  assert.deepEqual(ed.lines().slice(1, 3), stronger.split('\n').slice(0, 2));
});

test('confirm-before-apply reaches the server through didChangeConfiguration', { skip }, async () => {
  ed.settings = { ...ed.settings, confirmEdits: true };
  await ed.conn.sendNotification(DidChangeConfigurationNotification.type, { settings: { modelrouter: ed.settings } });
  fake.reply({ text: fenced('    # Return the sum of the prices!\n') });
  const result = await ed.execute<RunResult>('modelrouter.run', [ed.runArgs('fix-typo', [1, 0], [2, 0])]);
  assert.equal(result.applied, true, result.message ?? '');
  const annotations = ed.edits.at(-1)!.edit.changeAnnotations ?? {};
  assert.ok(
    Object.values(annotations).some((a) => a.needsConfirmation === true),
    JSON.stringify(annotations),
  );
});

test('Show Usage, the status bar and Open Rules File read the server state', { skip }, async () => {
  const stats = await ed.execute<Stats>('modelrouter.stats', [{ since: '7d' }]);
  // Every request that reached a model is in the ledger, the three cancelled ones too.
  assert.equal(stats.requests, fake.requests.length, JSON.stringify(stats));
  assert.equal(stats.cancelled, 3);
  assert.ok(stats.by?.some((row) => row.key === 'fake-small'));
  const status = await ed.execute<Status>('modelrouter.status', []);
  assert.equal(status.working, false);
  assert.equal(status.last_model, fake.requests.at(-1)!.model);
  const doctor = await ed.execute<{ rules_file: string; rules_errors: string[] }>('modelrouter.doctor', []);
  assert.equal(fs.realpathSync(doctor.rules_file), fs.realpathSync(path.join(workspace, '.modelrouter.yaml')));
  assert.deepEqual(doctor.rules_errors, []);
});
