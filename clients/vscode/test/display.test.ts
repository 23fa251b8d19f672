import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { RestartBackoff } from '../src/backoff';
import { answerMarkdown } from '../src/answers';
import { formatUsage, formatUsd, statusText } from '../src/display';
import { actionRange } from '../src/palette';
import { serverSettings } from '../src/settings';

test('status bar: a spinner and the model while working', () => {
  const s = statusText({ working: true, backend: 'local', model: 'gemma3:27b', spend_today_usd: 0.5 });
  assert.equal(s.text, '$(sync~spin) gemma3:27b');
  assert.match(s.tooltip, /gemma3:27b \(local\) is working · \$0\.50 today/);
});

test('status bar: the last model and spend when idle', () => {
  const s = statusText({
    working: false,
    last_backend: 'claude',
    last_model: 'claude-opus-4-5',
    spend_today_usd: 1.234,
  });
  assert.equal(s.text, '$(circuit-board) claude-opus-4-5 · $1.23 today');
  assert.match(s.tooltip, /click for usage/);
  assert.equal(statusText({ working: false, spend_today_usd: 0 }).text, '$(circuit-board) $0.00 today');
});

test('spend below a cent is not shown as zero', () => {
  assert.equal(formatUsd(0.0004), '<$0.01');
  assert.equal(formatUsd(0), '$0.00');
  assert.equal(formatUsd(undefined), '$0.00');
});

test('usage report: totals and one table row per group', () => {
  const md = formatUsage(
    {
      requests: 4,
      ok: 3,
      cancelled: 1,
      spend_usd: 0.25,
      saved_usd: 2,
      fallback_rate: 1 / 3,
      by_key: 'backend',
      by: [
        { key: 'local', requests: 3, ok: 2, spend_usd: 0, latency_median_s: 0.5 },
        { key: 'claude', requests: 1, ok: 1, spend_usd: 0.25, fallback_rate: 1, latency_median_s: null },
      ],
    },
    '7d',
  );
  assert.match(md, /# ModelRouter usage \(last 7d\)/);
  assert.match(md, /Requests: 4 \(3 answered, 0 failed, 1 cancelled\)/);
  assert.match(md, /Fallback rate: 33\.3%/);
  assert.match(md, /Escalations: none/);
  assert.match(md, /\| backend \| requests \| answered \| spend \|/);
  assert.match(md, /\| local \| 3 \| 2 \| \$0\.00 \| \$0\.00 \| 0\.0% \| 0\.50 s \|/);
  assert.match(md, /\| claude \| 1 \| 1 \| \$0\.25 \| \$0\.00 \| 100\.0% \| – \|/);
});

test('settings sent to the server: blanks become null', () => {
  const values: Record<string, unknown> = { rulesFile: '  ', confirmEdits: true, logFile: '/tmp/mr.log' };
  const get = <T>(k: string, d: T) => (k in values ? (values[k] as T) : d);
  assert.deepEqual(serverSettings(get), {
    rulesFile: null,
    confirmEdits: true,
    designFolder: 'docs/design',
    logFile: '/tmp/mr.log',
  });
});

test('an empty selection means the whole current line', () => {
  const r = actionRange({ start: { line: 4, character: 3 }, end: { line: 4, character: 3 }, isEmpty: true }, () => 17);
  assert.deepEqual(r, { start: { line: 4, character: 0 }, end: { line: 4, character: 17 } });
  const sel = { start: { line: 1, character: 2 }, end: { line: 3, character: 0 }, isEmpty: false };
  assert.deepEqual(
    actionRange(sel, () => 99),
    { start: { line: 1, character: 2 }, end: { line: 3, character: 0 } },
  );
});

test('restart back-off doubles up to a cap and starts over after a stable run', () => {
  let now = 0;
  const b = new RestartBackoff(1000, 8000, 60_000, () => now);
  assert.deepEqual([b.crashed(), b.crashed(), b.crashed(), b.crashed(), b.crashed()], [1000, 2000, 4000, 8000, 8000]);
  b.started();
  now += 60_000;
  assert.equal(b.crashed(), 1000);
  b.reset();
  assert.equal(b.crashed(), 1000);
});

test('an answer names the action, model, backend and tier above the text', () => {
  const md = answerMarkdown(
    { applied: false, backend: 'local', model: 'gemma3:27b', tier: 'trivial', answer: 'It doubles x.' },
    'Explain',
  );
  assert.equal(md, '<!-- Explain · gemma3:27b via local · tier trivial -->\n\nIt doubles x.\n');
});

test('usage report: escalations with their rate and cost', () => {
  const md = formatUsage({ requests: 5, ok: 4, escalations: 1, escalation_rate: 0.25, escalation_cost_usd: 0.5 }, '24h');
  assert.match(md, /Escalations: 1 \(25\.0% of answers failed a check and were re-asked a tier up\), costing \$0\.50/);
});
