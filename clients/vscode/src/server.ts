import * as vscode from 'vscode';
import {
  CloseAction,
  ErrorAction,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  StaticFeature,
  TransportKind,
} from 'vscode-languageclient/node';
import type { AnswerResult } from './answers';
import { RestartBackoff } from './backoff';
import { REDO_TITLE } from './palette';
import { isCancelled, withCancellableProgress } from './progress';
import { Commands, RunArgs, Status, StatusNotification } from './protocol';
import { resolveServerPath } from './serverPath';
import { serverSettings } from './settings';

/** The running server, as the commands see it. */
export interface ServerLink {
  /** `workspace/executeCommand`; rejects when the server is not running. */
  execute<T>(command: string, args: unknown[], token?: vscode.CancellationToken): Promise<T>;
}

/**
 * Tells the server that this client shows the `answer` of a result itself (in a read-only
 * document the language client does not synchronize), so the server does not open its answer
 * file, which VS Code would then synchronize back to the server.
 */
const showsAnswers: StaticFeature = {
  fillClientCapabilities(capabilities) {
    const experimental = (capabilities.experimental ?? {}) as Record<string, unknown>;
    capabilities.experimental = { ...experimental, modelrouter: { showAnswers: true } };
  },
  initialize: () => undefined,
  getState: () => ({ kind: 'static' }),
  clear: () => undefined,
};

/** Starts `modelrouter lsp`, restarts it after a crash with back-off, and forwards commands. */
export class ServerController implements ServerLink, vscode.Disposable {
  private client: LanguageClient | undefined;
  private readonly backoff = new RestartBackoff();
  private restartTimer: NodeJS.Timeout | undefined;
  private disposed = false;

  constructor(
    private readonly output: vscode.OutputChannel,
    private readonly onStatus: (s: Status | undefined, problem?: string) => void,
    /** An answer from a code action (the lightbulb); palette commands show theirs themselves. */
    private readonly onAnswer: (result: AnswerResult, action: string) => void,
  ) {}

  private folders(): string[] {
    return (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
  }

  private config(): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration('modelrouter');
  }

  /** Starts the server; reports (and does not throw) when it cannot be found or started. */
  async start(): Promise<void> {
    const configured = this.config().get<string>('server.path', '');
    const command = resolveServerPath(configured, this.folders());
    if (!command) {
      const where = configured
        ? `'${configured}' is not an executable`
        : 'modelrouter is not on PATH or in the workspace .venv';
      this.onStatus(undefined, `server not found: ${where}`);
      // Not awaited: activation must not wait for the user to dismiss the message.
      void vscode.window
        .showErrorMessage(
          `ModelRouter: server not found (${where}). ` +
            'Install it with `pip install modelrouter` or set modelrouter.server.path.',
          'Open Settings',
        )
        .then((choice) => {
          if (choice) {
            void vscode.commands.executeCommand('workbench.action.openSettings', 'modelrouter.server.path');
          }
        });
      return;
    }
    const serverOptions: ServerOptions = {
      command,
      args: ['lsp'],
      transport: TransportKind.stdio,
      options: { cwd: this.folders()[0] },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
      outputChannel: this.output,
      initializationOptions: () => serverSettings((k, d) => this.config().get(k, d)),
      synchronize: { configurationSection: 'modelrouter' },
      middleware: {
        // A code action's command (the lightbulb): under a cancellable progress notification,
        // and its answer shown, as for the palette commands.
        executeCommand: async (command, args, next) => {
          if (command !== Commands.run && command !== Commands.redo) {
            return next(command, args);
          }
          const run = (args[0] ?? {}) as Partial<RunArgs>;
          const title = command === Commands.redo ? REDO_TITLE : (run.action ?? 'action');
          let result: unknown;
          try {
            result = await withCancellableProgress(title, (token) =>
              client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args }, token),
            );
          } catch (err) {
            if (isCancelled(err)) {
              vscode.window.setStatusBarMessage('ModelRouter: cancelled, nothing changed', 5000);
              return undefined;
            }
            throw err;
          }
          if (command === Commands.run && result && typeof result === 'object' && 'answer' in result) {
            this.onAnswer(result as AnswerResult, title);
          }
          return result;
        },
      },
      errorHandler: {
        error: () => ({ action: ErrorAction.Continue }),
        closed: () => {
          this.scheduleRestart();
          return { action: CloseAction.DoNotRestart, handled: true };
        },
      },
    };
    const client = new LanguageClient('modelrouter', 'ModelRouter', serverOptions, clientOptions);
    client.registerFeature(showsAnswers);
    this.client = client;
    client.onNotification(StatusNotification, (s: Status) => this.onStatus(s));
    try {
      await client.start();
      this.backoff.started();
      this.output.appendLine(`started ${command} lsp`);
      this.onStatus(
        await client.sendRequest(ExecuteCommandRequest.type, { command: Commands.status, arguments: [] }),
      );
    } catch (err) {
      this.output.appendLine(`could not start ${command} lsp: ${String(err)}`);
      this.onStatus(undefined, 'server failed to start (see the ModelRouter output)');
    }
  }

  private scheduleRestart(): void {
    if (this.disposed || this.restartTimer) {
      return;
    }
    const delay = this.backoff.crashed();
    this.output.appendLine(`server exited; restarting in ${delay / 1000} s`);
    this.onStatus(undefined, `server exited; restarting in ${delay / 1000} s`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.replace();
    }, delay);
  }

  private async replace(): Promise<void> {
    const old = this.client;
    this.client = undefined;
    if (old) {
      await old.dispose().catch(() => undefined);
    }
    if (!this.disposed) {
      await this.start();
    }
  }

  /** Stops and starts the server (ModelRouter: Restart Server, or a changed server path). */
  async restart(): Promise<void> {
    if (this.restartTimer) {
      clearTimeout(this.restartTimer);
      this.restartTimer = undefined;
    }
    this.backoff.reset();
    await this.replace();
  }

  async execute<T>(command: string, args: unknown[], token?: vscode.CancellationToken): Promise<T> {
    const client = this.client;
    if (!client || !client.isRunning()) {
      throw new Error('the server is not running (ModelRouter: Restart Server)');
    }
    return (await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args }, token)) as T;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    if (this.restartTimer) {
      clearTimeout(this.restartTimer);
    }
    await this.client?.dispose().catch(() => undefined);
  }
}
