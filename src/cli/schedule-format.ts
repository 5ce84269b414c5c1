import type { CalendarSpecDescription, Client, ScheduleDescription, Range } from '@temporalio/client';
import { periodForScheduledTime } from '../contracts';
import type { Config } from '../config';
import { scheduleInput, scheduleTimezone } from '../schedules';
import { formatDuration, formatTime } from './common';

// `gudang schedule describe`: a schedule as aligned "key  value" lines.

function formatRanges<T>(ranges: Range<T>[]): string {
  return ranges.map((r) => (r.start === r.end ? String(r.start) : `${r.start}-${r.end}${r.step > 1 ? `/${r.step}` : ''}`)).join(',');
}

const FULL: Record<string, string> = { month: 'JANUARY-DECEMBER', dayOfWeek: 'SUNDAY-SATURDAY', dayOfMonth: '1-31', year: '' };

function formatCalendar(c: CalendarSpecDescription): string {
  const parts: string[] = [];
  for (const field of ['second', 'minute', 'hour', 'dayOfMonth', 'month', 'year', 'dayOfWeek'] as const) {
    const text = formatRanges(c[field] as Range<unknown>[]);
    if (text === '' || text === FULL[field] || (field === 'second' && text === '0')) continue;
    parts.push(`${field}=${text}`);
  }
  return `${parts.join(' ') || 'every second'}${c.comment ? ` (${c.comment})` : ''}`;
}

function formatSpec(d: Pick<ScheduleDescription, 'spec'>): string[] {
  const lines: string[] = [];
  for (const c of d.spec.calendars ?? []) lines.push(`calendar ${formatCalendar(c)}`);
  for (const i of d.spec.intervals ?? []) lines.push(`every ${formatDuration(i.every)}${i.offset ? ` offset ${formatDuration(i.offset)}` : ''}`);
  return lines.length > 0 ? lines : ['(none)'];
}

async function workflowStatus(client: Client, workflowId: string, runId: string): Promise<string> {
  try {
    return (await client.workflow.getHandle(workflowId, runId).describe()).status.name.toLowerCase();
  } catch {
    return 'unknown';
  }
}

export async function formatDescription(client: Client, cfg: Config, d: ScheduleDescription): Promise<string> {
  const input = scheduleInput(d);
  const tz = scheduleTimezone(d);
  const rows: [string, string][] = [];
  rows.push(['schedule', d.scheduleId]);
  rows.push(['dataset', input.dataset]);
  rows.push(['source', input.sourceDir]);
  rows.push(['task queue', d.action.taskQueue ?? '']);
  formatSpec(d).forEach((line, i) => rows.push([i === 0 ? 'spec' : '', line]));
  rows.push(['time zone', tz]);
  rows.push(['loads', 'the month before each run time, in the time zone above']);
  if (input.backup) rows.push(['then backs up to', `${input.backup.to}${input.backup.keep !== undefined ? `, keeping the newest ${input.backup.keep}` : ''}`]);
  rows.push(['overlap', d.policies.overlap ?? 'SKIP']);
  rows.push(['catch-up window', formatDuration(d.policies.catchupWindow)]);
  rows.push(['pause on failure', d.policies.pauseOnFailure ? 'yes' : 'no']);
  rows.push(['state', d.state.paused ? 'PAUSED' : 'active']);
  rows.push(['note', d.state.note ?? '']);
  const next = d.info.nextActionTimes.slice(0, 3);
  if (d.state.paused) rows.push(['next runs', '(none while paused)']);
  else {
    next.forEach((t, i) =>
      rows.push([i === 0 ? 'next runs' : '', `${formatTime(t, tz)} ${tz} (${t.toISOString().replace('.000', '')}) loads ${periodForScheduledTime(t, tz)}`]),
    );
  }
  rows.push([
    'runs',
    `${d.info.numActionsTaken} started, ${d.info.numActionsSkippedOverlap} skipped (overlap), ${d.info.numActionsMissedCatchupWindow} missed (catch-up window)`,
  ]);
  rows.push(['running', d.info.runningActions.map((a) => a.workflow.workflowId).join(', ') || '(none)']);
  const recent = [...d.info.recentActions].sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime()).slice(0, 5);
  for (const [i, a] of recent.entries()) {
    const status = await workflowStatus(client, a.action.workflow.workflowId, a.action.workflow.firstExecutionRunId);
    rows.push([i === 0 ? 'recent runs' : '', `${a.action.workflow.workflowId}  ${status}`]);
  }
  rows.push(['created', `${formatTime(d.info.createdAt)} UTC${d.info.lastUpdatedAt ? `, updated ${formatTime(d.info.lastUpdatedAt)} UTC` : ''}`]);
  rows.push(['web ui', `${cfg.TEMPORAL_UI_URL.replace(/\/$/, '')}/namespaces/${encodeURIComponent(cfg.TEMPORAL_NAMESPACE)}/schedules/${encodeURIComponent(d.scheduleId)}`]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`.trimEnd()).join('\n');
}
