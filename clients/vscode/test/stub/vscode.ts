/**
 * A stand-in for the `vscode` module, enough for the extension's command logic: every UI call
 * is recorded in `calls`, and tests script the answers through `answers`.
 */

export interface Call {
  fn: string;
  args: unknown[];
}

export const calls: Call[] = [];

export const answers: {
  inputBox?: string;
  message?: string;
} = {};

function record(fn: string, ...args: unknown[]): void {
  calls.push({ fn, args });
}

export function reset(): void {
  calls.length = 0;
  delete answers.inputBox;
  delete answers.message;
  workspace.workspaceFolders = undefined;
  window.activeTextEditor = undefined;
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly fsPath: string,
  ) {}

  static file(p: string): Uri {
    return new Uri('file', p);
  }

  static joinPath(base: Uri, ...parts: string[]): Uri {
    return new Uri(base.scheme, [base.fsPath, ...parts].join('/'));
  }

  toString(): string {
    return `${this.scheme}://${this.fsPath}`;
  }
}

export interface StubPosition {
  line: number;
  character: number;
}

/** A text editor over `lines` with one selection. */
export function editor(path: string, lines: string[], start: StubPosition, end: StubPosition = start) {
  const isEmpty = start.line === end.line && start.character === end.character;
  return {
    document: {
      uri: Uri.file(path),
      lineAt: (line: number) => ({ text: lines[line] }),
    },
    selection: { start, end, active: end, isEmpty },
  };
}

export const ProgressLocation = { SourceControl: 1, Window: 10, Notification: 15 } as const;

/** The cancellation token of the last progress notification; `cancel()` is its Cancel button. */
export const progress: { token?: { isCancellationRequested: boolean; cancel(): void } } = {};

export const window = {
  withProgress: async <T>(
    options: unknown,
    task: (p: { report(v: unknown): void }, token: { isCancellationRequested: boolean }) => Promise<T>,
  ) => {
    record('withProgress', options);
    const token = {
      isCancellationRequested: false,
      cancel() {
        this.isCancellationRequested = true;
      },
    };
    progress.token = token;
    return task({ report: () => undefined }, token);
  },
  activeTextEditor: undefined as ReturnType<typeof editor> | undefined,
  showWarningMessage: async (...args: unknown[]) => record('showWarningMessage', ...args),
  showErrorMessage: async (...args: unknown[]) => record('showErrorMessage', ...args),
  showInformationMessage: async (...args: unknown[]) => {
    record('showInformationMessage', ...args);
    return answers.message;
  },
  setStatusBarMessage: (...args: unknown[]) => {
    record('setStatusBarMessage', ...args);
    return { dispose: () => undefined };
  },
  showInputBox: async (...args: unknown[]) => {
    record('showInputBox', ...args);
    return answers.inputBox;
  },
  showTextDocument: async (...args: unknown[]) => record('showTextDocument', ...args),
};

export const workspace = {
  workspaceFolders: undefined as { name: string; uri: Uri }[] | undefined,
  fs: {
    writeFile: async (uri: Uri, content: Uint8Array) =>
      record('fs.writeFile', uri.fsPath, Buffer.from(content).toString()),
  },
  openTextDocument: async (options: { content: string; language: string }) => {
    record('openTextDocument', options);
    return options;
  },
  getConfiguration: () => ({ get: <T>(_key: string, fallback: T) => fallback }),
};

export const commands = {
  executeCommand: async (...args: unknown[]) => record('executeCommand', ...args),
};
