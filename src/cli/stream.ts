import { WorkflowNotFoundError } from '@temporalio/client';
import { parseArgs } from 'node:util';
import { webUiLink } from '../client';
import { requireDatabaseUrl } from '../config';
import { streamWorkflowIdFor } from '../contracts';
import { createPool } from '../db';
import { StreamAlreadyRunning, queryStream, startStream, stopStream, streamHandle } from '../stream/client';
import { formatStreamReport, streamReport } from '../stream/report';
import { EXIT, ExitError, UsageError, checkDataset, checkRejectBudget, config, connect, defaultSourceDir, positiveInt, sourceDbOption } from './common';

export const STREAM_HELP = `usage: gudang stream <start|status|stop> [options]

  start   --source-db postgres://user@host:port/db [--dataset NAME] [--source DIR] [--stretch-seconds N]
          [--reject-budget B]
          start the dataset's real-time stream: a long-running workflow (gudang-<dataset>-stream) that captures every
          insert, update and delete of the streamed tables (django-apparel: orders, order_details) from PostgreSQL
          logical replication (the source needs wal_level=logical) and applies them to staging, the fact and the
          marts in micro-batches. A new slot starts with one full run from the source (--source has the other files);
          --reject-budget B ("N" rows or "P%") is that run's budget, as for \`run\` (default: each source's own)
  status  [--dataset NAME] [--source-db URL]
          lag (source commit to mart: current, p50/p95/max over recent batches), batch sizes, and, with the source's
          URL, the replication slot's retained WAL
  stop    [--dataset NAME] [--source-db URL] [--drop-slot]
          end the stream cleanly (its batch in hand is committed and confirmed). The slot is kept unless --drop-slot:
          a kept slot lets \`stream start\` carry on where it stopped, but the source keeps its WAL until then

The password of --source-db (or GUDANG_SOURCE_DB_URL) is never sent to the workflow: the worker reads it from its own
GUDANG_SOURCE_DB_URL or GUDANG_SOURCE_DB_PASSWORD. status reads ops.* through DATABASE_URL.

exit codes: 0 ok, 1 failed, 2 bad usage, 3 Temporal unreachable, 4 no stream, 5 already running`;

const OPTIONS = {
  dataset: { type: 'string' },
  source: { type: 'string' },
  'source-db': { type: 'string' },
  'stretch-seconds': { type: 'string' },
  'reject-budget': { type: 'string' },
  'drop-slot': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export async function streamCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values } = parseArgs({ args: rest, options: OPTIONS, allowPositionals: false });
  if (!sub || values.help || sub === '--help' || sub === '-h') {
    console.log(STREAM_HELP);
    return EXIT.ok;
  }
  const cfg = config();
  const dataset = checkDataset(values.dataset ?? cfg.GUDANG_DATASET, `stream ${sub}`);
  const sourceDbUrl = values['source-db'] ?? cfg.GUDANG_SOURCE_DB_URL;
  switch (sub) {
    case 'start': {
      const locator = sourceDbOption(values['source-db'], cfg, 'stream start');
      if (!locator) throw new UsageError('stream start: --source-db postgres://... (or GUDANG_SOURCE_DB_URL) is required');
      const stretch = values['stretch-seconds'] === undefined ? undefined : positiveInt(values['stretch-seconds'], '--stretch-seconds', 1) * 1000;
      const rejectBudget = checkRejectBudget(values['reject-budget'], '--reject-budget');
      const client = await connect(cfg);
      try {
        const handle = await startStream(client, cfg, { dataset, sourceDir: values.source ?? defaultSourceDir(dataset), sourceDb: locator, stretchMs: stretch, rejectBudget });
        console.log(`started ${handle.workflowId} (run ${handle.firstExecutionRunId}) from ${locator}`);
        console.log(`web ui: ${webUiLink(cfg, handle.workflowId, handle.firstExecutionRunId)}`);
        console.log(`follow it with: gudang stream status --dataset ${dataset}; end it with: gudang stream stop --dataset ${dataset}`);
        return EXIT.ok;
      } catch (err) {
        if (err instanceof StreamAlreadyRunning) throw new ExitError(EXIT.conflict, `stream start: ${err.message}`);
        throw err;
      }
    }
    case 'status': {
      const client = await connect(cfg);
      let workflow: { status: string; phase?: string } | undefined;
      try {
        const d = await streamHandle(client, dataset).describe();
        workflow = { status: d.status.name };
        if (d.status.name === 'RUNNING') workflow.phase = (await queryStream(client, dataset)).phase;
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
      const pool = createPool(requireDatabaseUrl(cfg), 2);
      try {
        const report = await streamReport(pool, dataset, { sourceDbUrl });
        if (!report) {
          if (!workflow) throw new ExitError(EXIT.notFound, `stream status: dataset ${dataset} has no stream (no row in ops.streams, no workflow ${streamWorkflowIdFor(dataset)})`);
          console.log(`stream ${dataset}: workflow ${workflow.status}${workflow.phase ? `, ${workflow.phase}` : ''}; no batch applied yet`);
          return EXIT.ok;
        }
        console.log(formatStreamReport(report, workflow));
        return EXIT.ok;
      } finally {
        await pool.end();
      }
    }
    case 'stop': {
      const client = await connect(cfg);
      try {
        const result = await stopStream(client, dataset, { dropSlot: values['drop-slot'] });
        console.log(`stream ${dataset} stopped: ${result.batches} batches, ${result.changes} changes applied; applied up to ${result.appliedLsn ?? '-'}`);
        if (result.slotDropped) console.log(`the replication slot and publication were dropped on the source; the next \`stream start\` begins with a full run`);
        else {
          console.log(
            `the replication slot is KEPT on the source: \`stream start\` carries on from it with nothing lost, but the source keeps its WAL ` +
              `until then. If the stream will not be started again soon, drop it: gudang stream stop --dataset ${dataset} --drop-slot ` +
              `(on a stopped stream: SELECT pg_drop_replication_slot('<slot>') on the source${sourceDbUrl ? '' : ''})`,
          );
        }
        return EXIT.ok;
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) throw new ExitError(EXIT.notFound, `stream stop: no stream of ${dataset} is running (workflow ${streamWorkflowIdFor(dataset)})`);
        throw err;
      }
    }
    default:
      throw new UsageError(`stream: unknown subcommand "${sub}" (start, status, stop)`);
  }
}
