/**
 * The wire contract with the server: the `modelrouter.*` command names and the payloads they
 * take and return, mirrored from the server (see the README's "Commands"). Types only; what
 * the extension does with them lives in the modules that use them.
 */

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
  diagnostics?: string[];
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
  answer?: string;
  uri?: string;
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

export interface BackendReport {
  name: string;
  type: string;
  model: string;
  usable: boolean;
  reason: string | null;
}

export interface FixerStatus {
  name: string;
  found: boolean;
  path: string | null;
  version: string | null;
  actions: string[];
}

export interface Doctor {
  version: string;
  rules_file: string | null;
  rules_errors: string[];
  backends: BackendReport[];
  fixers: FixerStatus[];
}

/** The optional argument of `modelrouter.stats`. */
export interface StatsArgs {
  since?: string | null;
}

/** The settings the server reads (initializationOptions and the "modelrouter" section). */
export interface ServerSettings {
  rulesFile: string | null;
  confirmEdits: boolean;
  designFolder: string;
  logFile: string | null;
}
