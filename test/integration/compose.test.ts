/**
 * Validates docker-compose.yml with the real Compose implementation (no Docker
 * engine needed: `config` only parses, interpolates and validates) and checks
 * the service graph: services, healthchecks, depends_on conditions, wiring.
 *
 * Debian 12 packages Compose v1 (`docker-compose` 1.29, Python), whose `config`
 * prints YAML only; that YAML is converted with the PyYAML it depends on.
 * Compose v2 (`docker compose` plugin or a v2 `docker-compose`) prints JSON.
 * Skipped when no Compose is installed (.ci/run installs Debian's).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const COMPOSE_FILE = path.join(REPO_ROOT, 'docker-compose.yml');

interface Healthcheck {
  test?: string[] | string;
  disable?: boolean;
}
interface Service {
  image?: string;
  build?: { context?: string; dockerfile?: string } | string;
  environment?: Record<string, string | null> | string[];
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: Healthcheck;
  ports?: (string | { published?: string | number; target?: string | number })[];
  volumes?: (string | { source?: string; target?: string })[];
  restart?: string;
  command?: string[] | string;
  entrypoint?: string[] | string;
}
interface ComposeConfig {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

function run(cmd: string, args: string[], input?: string): { ok: boolean; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd: REPO_ROOT, encoding: 'utf8', input, timeout: 60_000 });
  return { ok: r.status === 0, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? String(r.error) : '') };
}

/** Which Compose is installed: [command, leading args, prints JSON?]. */
function findCompose(): { cmd: string; args: string[]; json: boolean; label: string } | undefined {
  const plugin = run('docker', ['compose', 'version', '--short']);
  if (plugin.ok) return { cmd: 'docker', args: ['compose'], json: true, label: `docker compose ${plugin.stdout.trim()}` };
  const standalone = run('docker-compose', ['version', '--short']);
  if (standalone.ok) {
    const version = standalone.stdout.trim().replace(/^v/, '');
    return { cmd: 'docker-compose', args: [], json: !version.startsWith('1.'), label: `docker-compose ${version}` };
  }
  return undefined;
}

function loadConfig(compose: NonNullable<ReturnType<typeof findCompose>>): ComposeConfig {
  const args = [...compose.args, '-f', COMPOSE_FILE, 'config', ...(compose.json ? ['--format', 'json'] : [])];
  const out = run(compose.cmd, args);
  assert.ok(out.ok, `${compose.label} config rejected docker-compose.yml:\n${out.stderr}`);
  if (compose.json) return JSON.parse(out.stdout) as ComposeConfig;
  const converted = run(
    'python3',
    ['-c', 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'],
    out.stdout,
  );
  assert.ok(converted.ok, `could not convert the Compose v1 YAML output to JSON: ${converted.stderr}`);
  return JSON.parse(converted.stdout) as ComposeConfig;
}

function env(service: Service): Record<string, string> {
  const e = service.environment ?? {};
  if (Array.isArray(e)) {
    return Object.fromEntries(e.map((kv) => [kv.split('=')[0]!, kv.slice(kv.indexOf('=') + 1)]));
  }
  return Object.fromEntries(Object.entries(e).map(([k, v]) => [k, v ?? '']));
}

function conditions(service: Service): Record<string, string | undefined> {
  const d = service.depends_on ?? {};
  if (Array.isArray(d)) return Object.fromEntries(d.map((name) => [name, 'service_started']));
  return Object.fromEntries(Object.entries(d).map(([name, v]) => [name, v.condition]));
}

function publishedPorts(service: Service): string[] {
  return (service.ports ?? []).map((p) => (typeof p === 'string' ? p.split(':').slice(-2)[0]! : String(p.published)));
}

function isOneShot(service: Service): boolean {
  return service.restart === 'no' || service.restart === '"no"';
}

const compose = findCompose();

describe('docker-compose.yml', { skip: compose ? false : 'no docker compose / docker-compose installed' }, () => {
  let config: ComposeConfig;
  before(() => {
    config = loadConfig(compose!);
  });

  test('has the expected services', () => {
    assert.deepEqual(Object.keys(config.services).sort(), [
      'postgres',
      'temporal',
      'temporal-init',
      'temporal-schema',
      'temporal-ui',
      'worker',
    ]);
    const { services: s } = config;
    assert.match(s.postgres!.image ?? '', /^postgres:16(\.|$)/);
    assert.match(s.temporal!.image ?? '', /^temporalio\/server:\d+\.\d+\.\d+$/);
    assert.match(s['temporal-schema']!.image ?? '', /^temporalio\/admin-tools:\d/);
    assert.match(s['temporal-init']!.image ?? '', /^temporalio\/admin-tools:\d/);
    assert.match(s['temporal-ui']!.image ?? '', /^temporalio\/ui:\d/);
  });

  test('every long-running service has a healthcheck; one-shot jobs do not restart', () => {
    const longRunning = Object.entries(config.services).filter(([, s]) => !isOneShot(s));
    assert.deepEqual(longRunning.map(([name]) => name).sort(), ['postgres', 'temporal', 'temporal-ui', 'worker']);
    for (const [name, service] of longRunning) {
      const hc = service.healthcheck;
      assert.ok(hc && !hc.disable, `${name} needs a healthcheck`);
      const testCmd = Array.isArray(hc.test) ? hc.test : [hc.test ?? ''];
      assert.ok(testCmd.length > 0 && testCmd[0] !== 'NONE' && testCmd.join(' ').trim(), `${name} healthcheck has a test`);
    }
  });

  test('start-up order uses health and completion conditions', () => {
    const c = (name: string) => conditions(config.services[name]!);
    assert.deepEqual(c('temporal-schema'), { postgres: 'service_healthy' });
    assert.deepEqual(c('temporal'), { 'temporal-schema': 'service_completed_successfully' });
    assert.deepEqual(c('temporal-init'), { temporal: 'service_healthy' });
    assert.deepEqual(c('temporal-ui'), { temporal: 'service_healthy' });
    assert.equal(c('worker').postgres, 'service_healthy');
    assert.equal(c('worker')['temporal-init'], 'service_completed_successfully');
  });

  test('Temporal persists to the compose PostgreSQL and the schema job migrates it', () => {
    const server = env(config.services.temporal!);
    assert.equal(server.DB, 'postgres12');
    assert.equal(server.POSTGRES_SEEDS, 'postgres');
    assert.equal(server.BIND_ON_IP, '0.0.0.0');
    const schemaJob = config.services['temporal-schema']!;
    assert.equal(env(schemaJob).SQL_HOST, 'postgres');
    const script = [schemaJob.entrypoint, schemaJob.command].flat().join('\n');
    for (const word of ['temporal-sql-tool', 'temporal_visibility', 'update-schema']) {
      assert.ok(script.includes(word), `schema job should run ${word}`);
    }
    const initJob = config.services['temporal-init']!;
    const initScript = [initJob.command].flat().join('\n');
    for (const attribute of ['GudangDataset', 'GudangPeriod', 'GudangTrigger', 'GudangRunKey']) {
      assert.ok(initScript.includes(attribute), `init job should register ${attribute}`);
    }
    const postgresVolumes = (config.services.postgres!.volumes ?? []).map((v) =>
      typeof v === 'string' ? v.split(':')[0] : v.source,
    );
    assert.ok(postgresVolumes.includes('pgdata'), 'PostgreSQL data lives in a named volume');
    assert.ok(config.volumes && 'pgdata' in config.volumes);
    assert.ok(publishedPorts(config.services['temporal-ui']!).includes('8080'), 'Web UI on 8080');
    assert.ok(publishedPorts(config.services.temporal!).includes('7233'), 'gRPC on 7233');
  });

  test('the worker is built from the repo Dockerfile and wired to the compose services', () => {
    const worker = config.services.worker!;
    const build = typeof worker.build === 'string' ? { context: worker.build } : (worker.build ?? {});
    assert.equal(path.resolve(REPO_ROOT, build.context ?? '.'), path.resolve(REPO_ROOT));
    assert.equal(build.dockerfile ?? 'Dockerfile', 'Dockerfile');
    const e = env(worker);
    const db = new URL(e.DATABASE_URL ?? '');
    assert.equal(db.hostname, 'postgres');
    assert.equal(db.port || '5432', '5432');
    assert.equal(e.TEMPORAL_ADDRESS, 'temporal:7233');

    const dockerfile = readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8');
    assert.match(dockerfile, /^FROM node:20-slim\b/m);
    assert.match(dockerfile, /^RUN npm ci\b/m);
    // compiled JavaScript at run time (no tsx): the image builds the worker and the workflow bundle
    assert.match(dockerfile, /^RUN npm run build\b/m);
    assert.match(dockerfile, /^CMD \["node",.*"dist\/src\/worker\.js"\]/m);
    const dockerignore = readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n');
    assert.ok(dockerignore.includes('node_modules'), '.dockerignore keeps node_modules out of the build context');
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
    assert.ok(pkg.scripts?.worker, 'package.json has a worker script');
  });
});
