import * as vscode from 'vscode';

/** JSON-RPC's RequestCancelled, what a cancelled request rejects with. */
const REQUEST_CANCELLED = -32800;

export function isCancelled(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === REQUEST_CANCELLED;
}

/**
 * Runs `task` under a progress notification with a Cancel button. The language client shows
 * the server's own work-done progress only in the status bar (without Cancel), so the
 * extension puts up the notification itself; Cancel cancels the request (`$/cancelRequest`),
 * and the server then applies nothing.
 */
export function withCancellableProgress<T>(
  title: string,
  task: (token: vscode.CancellationToken) => Thenable<T>,
): Thenable<T> {
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `ModelRouter: ${title}`, cancellable: true },
    (_progress, token) => task(token),
  );
}
