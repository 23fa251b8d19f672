/** What the extension shows for the server's payloads: the status bar and the usage report. */
import { Stats, StatsRow, Status } from './protocol';

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

/** What the usage report reads of `modelrouter.stats` (an older server sends fewer fields). */
export type UsageFigures = Partial<Omit<Stats, 'by'>> & { by?: Partial<StatsRow>[] };

/** A Markdown usage report for `modelrouter.stats`. */
export function formatUsage(s: UsageFigures, since: string): string {
  const lines = [
    `# ModelRouter usage (last ${since})`,
    '',
    `- Requests: ${s.requests ?? 0} (${s.ok ?? 0} answered, ${s.failed ?? 0} failed, ${s.cancelled ?? 0} cancelled)`,
    `- Spend: ${formatUsd(s.spend_usd)}`,
    `- Saved against always using the top tier: ${formatUsd(s.saved_usd)}`,
    `- Fallback rate: ${percent(s.fallback_rate)}`,
    s.escalations
      ? `- Escalations: ${s.escalations} (${percent(s.escalation_rate)} of answers failed a check and were re-asked a tier up), costing ${formatUsd(s.escalation_cost_usd)}`
      : '- Escalations: none',
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
