import type { PipelineSummary } from '../contracts';

/** A plain-text table: readable on a terminal and in a log file alike. */
export function table(rows: Record<string, unknown>[], columns?: string[]): string {
  if (rows.length === 0) return '(no rows)';
  const cols = columns ?? Object.keys(rows[0]!);
  const cell = (v: unknown) => (v === null || v === undefined ? '' : v instanceof Date ? v.toISOString() : String(v));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const numeric = cols.map((c) => rows.every((r) => r[c] === null || r[c] === undefined || /^-?[\d,.]+$/.test(cell(r[c]))));
  const line = (values: string[]) =>
    values.map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(cols), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}

export const formatMs = (ms: number) => (ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);

export function formatSummary(s: PipelineSummary): string {
  const out: string[] = [];
  out.push(`run ${s.workflowId} (${s.runId}) completed in ${formatMs(s.durationMs)}`);
  out.push('');
  const quarantine = s.loads.some((l) => l.rowsQuarantined);
  out.push(
    table(
      s.loads.map((l) => ({
        source: l.file,
        table: l.table,
        read: l.rowsRead,
        loaded: l.rowsLoaded,
        rejected: l.rowsRejected,
        ...(quarantine ? { quarantined: l.rowsQuarantined ?? 0 } : {}),
        time: formatMs(l.durationMs),
      })),
    ),
  );
  const notes = loadNotes(s);
  if (notes.length > 0) out.push('', ...notes);
  out.push('');
  out.push(table(s.models.map((m) => ({ layer: m.layer, model: m.model, table: m.table, rows: m.rows, time: formatMs(m.durationMs) }))));
  out.push('');
  out.push(
    table(
      s.gates.map((g) => ({ gate: `after ${g.layer}`, checks: g.checks.length, failed: g.checks.filter((c) => !c.passed).length, time: formatMs(g.durationMs) })),
    ),
  );
  return out.join('\n');
}

/** One line per load with rows quarantined with their parent, and per relation with orphans. */
export function loadNotes(s: Pick<PipelineSummary, 'loads' | 'runId'>): string[] {
  const lines: string[] = [];
  for (const l of s.loads) {
    if (l.rowsQuarantined) {
      lines.push(`${l.file}: ${l.rowsQuarantined} row(s) quarantined with their rejected parent row (ops.rejected_rows, run ${s.runId})`);
    }
    for (const o of l.orphans ?? []) {
      lines.push(
        `${l.file}: ${o.rows} orphan row(s): ${o.columns.join(', ')} not in ${o.parent} (${o.keys} missing key(s), in ops.orphans; loaded against the unknown member)`,
      );
    }
  }
  return lines;
}
