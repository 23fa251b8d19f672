import * as path from 'path';
import * as vscode from 'vscode';
import type { AnswerResult, AnswerView } from './answers';
import { formatUsage } from './display';
import { PaletteAction, REDO_TITLE, actionRange } from './palette';
import { isCancelled, withCancellableProgress } from './progress';
import { ActionInfo, Commands, Doctor, RunResult, Stats, StatsArgs } from './protocol';
import type { ServerLink } from './server';


function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Where a palette command's answer (Explain, Ask… answered in prose) is shown. */
export type AnswerSink = Pick<AnswerView, 'show'>;

/**
 * Runs a long server command under a progress notification whose Cancel (like
 * `modelrouter.cancel`) ends the request with nothing applied. An answer goes to `answers`,
 * titled `title`.
 */
async function runJob(
  link: ServerLink,
  command: string,
  args: unknown[],
  answers?: AnswerSink,
  title = 'Answer',
): Promise<RunResult | undefined> {
  try {
    const result = await withCancellableProgress(title, (token) => link.execute<AnswerResult>(command, args, token));
    if (!result) {
      return undefined;
    }
    if (typeof result.answer === 'string' && answers) {
      const who = result.model ? ` (${result.model})` : '';
      vscode.window.setStatusBarMessage(`ModelRouter: ${title} answered${who}`, 5000);
      await answers.show(result, title);
    } else if (result.applied) {
      const who = result.model ? ` (${result.model})` : '';
      vscode.window.setStatusBarMessage(`ModelRouter: ${result.message || 'applied'}${who}`, 5000);
    } else {
      // The server has already shown why (window/showMessage); keep a trace in the status bar.
      vscode.window.setStatusBarMessage(`ModelRouter: ${result.message || 'nothing was changed'}`, 5000);
    }
    return result;
  } catch (err) {
    if (isCancelled(err)) {
      vscode.window.setStatusBarMessage('ModelRouter: cancelled, nothing changed', 5000);
    } else {
      void vscode.window.showErrorMessage(`ModelRouter: ${errorMessage(err)}`);
    }
    return undefined;
  }
}

/** A palette command: runs a rules action on the selection (or the current line). */
export async function runAction(
  link: ServerLink,
  pa: PaletteAction,
  answers?: AnswerSink,
): Promise<RunResult | undefined> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showWarningMessage('ModelRouter: open a file first.');
    return undefined;
  }
  let info: ActionInfo | undefined;
  try {
    info = (await link.execute<ActionInfo[]>(Commands.actions, [])).find((a) => a.id === pa.action);
  } catch (err) {
    void vscode.window.showErrorMessage(`ModelRouter: ${errorMessage(err)}`);
    return undefined;
  }
  if (!info) {
    void vscode.window.showErrorMessage(
      `ModelRouter: the rules have no '${pa.action}' action (Open Rules File to add it).`,
    );
    return undefined;
  }
  if (info.disabled) {
    void vscode.window.showWarningMessage(`ModelRouter: ${pa.title} is unavailable: ${info.disabled}`);
    return undefined;
  }
  // Capture the target before any prompt: the user may click elsewhere while typing.
  const document = editor.document;
  const range = actionRange(editor.selection, (line) => document.lineAt(line).text.length);
  let instruction: string | undefined;
  if (pa.needsInstruction || info.needs_instruction) {
    instruction = await vscode.window.showInputBox({
      title: `ModelRouter: ${pa.title}`,
      prompt: 'What should the model do with the selected code?',
      placeHolder: 'e.g. use pathlib instead of os.path',
      ignoreFocusOut: true,
    });
    if (!instruction?.trim()) {
      return undefined;
    }
  }
  const args = { action: pa.action, uri: document.uri.toString(), range, instruction };
  return runJob(link, Commands.run, [args], answers, pa.title);
}

/** Re-runs the request that wrote the code at the cursor, one tier up. */
export async function redoStronger(link: ServerLink): Promise<RunResult | undefined> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showWarningMessage('ModelRouter: open a file first.');
    return undefined;
  }
  const p = editor.selection.active;
  const args = {
    uri: editor.document.uri.toString(),
    position: { line: p.line, character: p.character },
  };
  return runJob(link, Commands.redo, [args], undefined, REDO_TITLE);
}

/** Opens a Markdown usage report from the ledger. */
export async function showUsage(link: ServerLink, since = '7d'): Promise<void> {
  try {
    const args: StatsArgs = { since };
    const stats = await link.execute<Stats>(Commands.stats, [args]);
    const doc = await vscode.workspace.openTextDocument({
      language: 'markdown',
      content: formatUsage(stats ?? {}, since),
    });
    await vscode.window.showTextDocument(doc, { preview: true });
  } catch (err) {
    void vscode.window.showErrorMessage(`ModelRouter: ${errorMessage(err)}`);
  }
}

/** What a new workspace rules file starts with: the defaults, to be overridden. */
export const WORKSPACE_RULES = `# ModelRouter rules for this workspace: anything not set here comes from the defaults.
# Redefine backends, tiers, routes or actions by name; check with
# \`modelrouter rules check .modelrouter.yaml\`.
extends: default
`;

function isInside(file: string, folder: string): boolean {
  const rel = path.relative(folder, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/**
 * Opens the rules file the server uses and shows its errors. When that file is not in the
 * workspace (the shipped defaults, or the user's rules), offers to create the workspace's
 * `.modelrouter.yaml` instead; the server is restarted to pick it up.
 */
export async function openRules(link: ServerLink, restart: () => Promise<void>): Promise<void> {
  try {
    const report = await link.execute<Doctor>(Commands.doctor, []);
    if (!report?.rules_file) {
      void vscode.window.showWarningMessage('ModelRouter: the server did not say which rules file it uses.');
      return;
    }
    const rulesFile = report.rules_file;
    let target = vscode.Uri.file(rulesFile);
    const folders = vscode.workspace.workspaceFolders ?? [];
    if (folders.length && !folders.some((f) => isInside(rulesFile, f.uri.fsPath))) {
      const create = 'Create Workspace Rules';
      const choice = await vscode.window.showInformationMessage(
        `ModelRouter uses ${rulesFile}. Create .modelrouter.yaml in ${folders[0].name} to change the rules here?`,
        create,
        'Open Current Rules',
      );
      if (!choice) {
        return;
      }
      if (choice === create) {
        target = vscode.Uri.joinPath(folders[0].uri, '.modelrouter.yaml');
        await vscode.workspace.fs.writeFile(target, Buffer.from(WORKSPACE_RULES, 'utf8'));
        await restart();
      }
    }
    await vscode.window.showTextDocument(target);
    const errors = report.rules_errors ?? [];
    if (errors.length) {
      void vscode.window.showErrorMessage(`ModelRouter: rules file has errors: ${errors.join('; ')}`);
    }
  } catch (err) {
    void vscode.window.showErrorMessage(`ModelRouter: ${errorMessage(err)}`);
  }
}
