import * as vscode from 'vscode';
import { AnswerView } from './answers';
import { openRules, redoStronger, runAction, showUsage } from './commands';
import { statusText } from './display';
import { PALETTE_ACTIONS } from './palette';
import { Commands, Status } from './protocol';
import { ServerController } from './server';

let controller: ServerController | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel('ModelRouter');
  const item = vscode.window.createStatusBarItem('modelrouter.status', vscode.StatusBarAlignment.Right, 100);
  item.name = 'ModelRouter';
  item.command = 'modelrouter.showUsage';
  const show = (s: Status | undefined, problem?: string) => {
    const { text, tooltip } = statusText(s);
    item.text = problem ? '$(warning) ModelRouter' : text;
    item.tooltip = problem ? `ModelRouter: ${problem}` : tooltip;
    item.show();
  };
  show(undefined);

  const answers = new AnswerView();
  const server = new ServerController(output, show, (result, action) => void answers.show(result, action));
  controller = server;
  context.subscriptions.push(output, item, answers, { dispose: () => void server.dispose() });

  for (const pa of PALETTE_ACTIONS) {
    context.subscriptions.push(vscode.commands.registerCommand(pa.command, () => runAction(server, pa, answers)));
  }
  context.subscriptions.push(
    vscode.commands.registerCommand('modelrouter.redoStronger', () => redoStronger(server)),
    vscode.commands.registerCommand('modelrouter.showUsage', () => showUsage(server)),
    vscode.commands.registerCommand('modelrouter.openRules', () => openRules(server, () => server.restart())),
    vscode.commands.registerCommand('modelrouter.restartServer', () => server.restart()),
    vscode.workspace.onDidChangeConfiguration((e) => {
      // Other settings reach the running server through didChangeConfiguration.
      if (e.affectsConfiguration('modelrouter.server.path')) {
        void server.restart();
      }
    }),
  );
  await server.start();
}

export async function deactivate(): Promise<void> {
  // Cancel running jobs so nothing is applied after the window closes.
  await controller?.execute(Commands.cancel, []).catch(() => undefined);
  await controller?.dispose();
  controller = undefined;
}
