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

/** The figures of a set of requests (the whole period, or one group of it). */
export interface StatsRow {
  key: string;
  requests: number;
  ok: number;
  failed: number;
  cancelled: number;
  input_tokens: number;
  output_tokens: number;
  estimated_token_requests: number;
  spend_usd: number;
  top_tier_usd: number;
  saved_usd: number;
  saved_pct: number;
  fallbacks: number;
  fallback_rate: number;
  latency_median_s: number | null;
  latency_p95_s: number | null;
  checks_failed: number;
  escalations: number;
  escalation_rate: number;
  escalation_cost_usd: number;
}

export interface BackendLatency {
  backend: string;
  calls: number;
  failed: number;
  latency_median_s: number | null;
  latency_p95_s: number | null;
}

export interface EscalationRow {
  key: string;
  ok: number;
  saved_usd: number;
  checks_failed: number;
  escalations: number;
  escalation_rate: number;
  escalation_cost_usd: number;
}

export interface EscalationsBy {
  tier: EscalationRow[];
  action: EscalationRow[];
}

/** What `modelrouter.stats` returns. */
export interface Stats {
  since: number | null;
  until: number | null;
  requests: number;
  ok: number;
  failed: number;
  cancelled: number;
  input_tokens: number;
  output_tokens: number;
  estimated_token_requests: number;
  spend_usd: number;
  top_tier_usd: number;
  saved_usd: number;
  saved_pct: number;
  fallbacks: number;
  fallback_rate: number;
  latency_median_s: number | null;
  latency_p95_s: number | null;
  checks_failed: number;
  escalations: number;
  escalation_rate: number;
  escalation_cost_usd: number;
  backends: BackendLatency[];
  by_key: string;
  by: StatsRow[];
  escalation_by: EscalationsBy;
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
