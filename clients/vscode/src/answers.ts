import * as vscode from 'vscode';
import { RunResult } from './protocol';

/** A `modelrouter.run` result; an `answer` action (Explain, Ask… answered in prose) adds the text. */
export type AnswerResult = RunResult & { answer?: string | null };

/** The scheme of answer documents: not `file` or `untitled`, so the language client never
 * synchronizes them to the server, which would then offer code actions on an answer. */
export const ANSWER_SCHEME = 'modelrouter-answer';

/** The Markdown shown for an answer: who wrote it, then the text. */
export function answerMarkdown(result: AnswerResult, title: string): string {
  const who = result.model ?? result.backend ?? 'the model';
  const via = result.model && result.backend ? ` via ${result.backend}` : '';
  const tier = result.tier ? ` · tier ${result.tier}` : '';
  return `<!-- ${title} · ${who}${via}${tier} -->\n\n${result.answer ?? ''}\n`;
}

/** Shows answers as read-only Markdown documents beside the code they answer about. */
export class AnswerView implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly texts = new Map<string, string>();
  private readonly subscriptions: vscode.Disposable[];
  private count = 0;

  constructor() {
    this.subscriptions = [
      vscode.workspace.registerTextDocumentContentProvider(ANSWER_SCHEME, this),
      vscode.workspace.onDidCloseTextDocument((d) => this.texts.delete(d.uri.toString())),
    ];
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? '';
  }

  /** Shows `result.answer`; false when the result carries none. */
  async show(result: AnswerResult, title: string): Promise<boolean> {
    if (typeof result.answer !== 'string') {
      return false;
    }
    this.count += 1;
    const name = title.replace(/[\\/…]/g, '').trim() || 'Answer';
    const uri = vscode.Uri.from({ scheme: ANSWER_SCHEME, path: `/${this.count}/${name}.md` });
    this.texts.set(uri.toString(), answerMarkdown(result, title));
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(doc, {
      preview: true,
      preserveFocus: true,
      viewColumn: vscode.ViewColumn.Beside,
    });
    return true;
  }

  dispose(): void {
    this.subscriptions.forEach((s) => s.dispose());
    this.texts.clear();
  }
}
