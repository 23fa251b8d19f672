/** The server's `modelrouter.*` commands and payloads (see the README's "Commands"). */

export const Commands = {
  run: 'modelrouter.run',
  redo: 'modelrouter.redo',
  cancel: 'modelrouter.cancel',
  actions: 'modelrouter.actions',
  stats: 'modelrouter.stats',
  status: 'modelrouter.status',
  doctor: 'modelrouter.doctor',
} as const;

export const StatusNotification = 'modelrouter/status';

export interface LspPosition {
  line: number;
  character: number;
}

export interface LspRange {
  start: LspPosition;
  end: LspPosition;
}

export interface RunArgs {
  action: string;
  uri: string;
  range: LspRange;
  instruction?: string;
}

export interface RedoArgs {
  uri: string;
  position: LspPosition;
}

export interface RunResult {
  applied: boolean;
  backend?: string | null;
  model?: string | null;
  tier?: string | null;
  message?: string | null;
}

export interface ActionInfo {
  id: string;
  title: string;
  tier: string;
  backend?: string | null;
  model?: string | null;
  disabled?: string | null;
  needs_instruction?: boolean;
}

export interface Status {
  working: boolean;
  backend?: string | null;
  model?: string | null;
  last_backend?: string | null;
  last_model?: string | null;
  spend_today_usd?: number | null;
}

export interface StatsRow {
  key?: string;
  requests?: number;
  ok?: number;
  failed?: number;
  cancelled?: number;
  spend_usd?: number;
  saved_usd?: number;
  fallback_rate?: number;
  latency_median_s?: number | null;
  [key: string]: unknown;
}

export interface Stats {
  requests?: number;
  ok?: number;
  failed?: number;
  cancelled?: number;
  spend_usd?: number;
  saved_usd?: number;
  fallback_rate?: number;
  by_key?: string;
  by?: StatsRow[];
}

export interface Doctor {
  version?: string;
  rules_file?: string | null;
  rules_errors?: string[];
  backends?: { name: string; type: string; model: string; usable: boolean; reason?: string | null }[];
}

/** The settings the server reads (initializationOptions and the "modelrouter" section). */
export interface ServerSettings {
  rulesFile: string | null;
  confirmEdits: boolean;
  designFolder: string;
  logFile: string | null;
}

/** Reads the server settings through `get` (a `WorkspaceConfiguration.get`). */
export function serverSettings(get: <T>(key: string, fallback: T) => T): ServerSettings {
  const orNull = (s: string) => (s.trim() ? s.trim() : null);
  return {
    rulesFile: orNull(get<string>('rulesFile', '')),
    confirmEdits: get<boolean>('confirmEdits', false),
    designFolder: get<string>('designFolder', 'docs/design') || 'docs/design',
    logFile: orNull(get<string>('logFile', '')),
  };
}

export function formatUsd(x: number | null | undefined): string {
  const v = typeof x === 'number' && Number.isFinite(x) ? x : 0;
  if (v > 0 && v < 0.01) {
    return '<$0.01';
  }
  return `$${v.toFixed(2)}`;
}

/** Status bar text and tooltip for a `modelrouter/status` payload. */
export function statusText(s: Status | undefined): { text: string; tooltip: string } {
  if (!s) {
    return { text: '$(circuit-board) ModelRouter', tooltip: 'ModelRouter: starting' };
  }
  const spend = `${formatUsd(s.spend_today_usd)} today`;
  if (s.working) {
    const who = s.model ?? s.backend ?? 'model';
    return {
      text: `$(sync~spin) ${who}`,
      tooltip: `ModelRouter: ${who}${s.backend && s.model ? ` (${s.backend})` : ''} is working · ${spend}`,
    };
  }
  const last = s.last_model ?? s.last_backend;
  return {
    text: last ? `$(circuit-board) ${last} · ${spend}` : `$(circuit-board) ${spend}`,
    tooltip: `ModelRouter: ${last ? `last answer from ${last}` : 'no request yet'} · ${spend} · click for usage`,
  };
}

const percent = (x: number | null | undefined) => `${((x ?? 0) * 100).toFixed(1)}%`;
const seconds = (x: number | null | undefined) => (typeof x === 'number' ? `${x.toFixed(2)} s` : '–');

/** A Markdown usage report for `modelrouter.stats`. */
export function formatUsage(s: Stats, since: string): string {
  const lines = [
    `# ModelRouter usage (last ${since})`,
    '',
    `- Requests: ${s.requests ?? 0} (${s.ok ?? 0} answered, ${s.failed ?? 0} failed, ${s.cancelled ?? 0} cancelled)`,
    `- Spend: ${formatUsd(s.spend_usd)}`,
    `- Saved against always using the top tier: ${formatUsd(s.saved_usd)}`,
    `- Fallback rate: ${percent(s.fallback_rate)}`,
  ];
  const rows = s.by ?? [];
  if (rows.length) {
    const by = (s.by_key ?? 'backend').replace(/\|/g, '');
    lines.push('', `| ${by} | requests | answered | spend | saved | fallbacks | median latency |`);
    lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of rows) {
      const key = String(r.key ?? '').replace(/\|/g, '\\|');
      const cells = [
        key,
        String(r.requests ?? 0),
        String(r.ok ?? 0),
        formatUsd(r.spend_usd),
        formatUsd(r.saved_usd),
        percent(r.fallback_rate),
        seconds(r.latency_median_s),
      ];
      lines.push(`| ${cells.join(' | ')} |`);
    }
  }
  return lines.join('\n') + '\n';
}

/** The palette commands that run a rules action, and the action each one runs. */
export interface PaletteAction {
  command: string;
  action: string;
  title: string;
  needsInstruction: boolean;
}

export const PALETTE_ACTIONS: readonly PaletteAction[] = [
  { command: 'modelrouter.fixTypo', action: 'fix-typo', title: 'Fix Typo', needsInstruction: false },
  { command: 'modelrouter.addDocstring', action: 'add-docstring', title: 'Add Docstring', needsInstruction: false },
  { command: 'modelrouter.implement', action: 'implement', title: 'Implement', needsInstruction: false },
  { command: 'modelrouter.writeTests', action: 'write-tests', title: 'Write Tests', needsInstruction: false },
  { command: 'modelrouter.designThis', action: 'design', title: 'Design This', needsInstruction: false },
  { command: 'modelrouter.ask', action: 'ask', title: 'Ask…', needsInstruction: true },
];

/**
 * The range a palette command works on: the selection, or the whole current line when the
 * selection is empty. `lineLength` gives a line's length in UTF-16 code units.
 */
export function actionRange(
  selection: { start: LspPosition; end: LspPosition; isEmpty: boolean },
  lineLength: (line: number) => number,
): LspRange {
  if (selection.isEmpty) {
    const line = selection.start.line;
    return { start: { line, character: 0 }, end: { line, character: lineLength(line) } };
  }
  return {
    start: { line: selection.start.line, character: selection.start.character },
    end: { line: selection.end.line, character: selection.end.character },
  };
}
