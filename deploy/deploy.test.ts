/**
 * The deployment files are checked by the tools that will read them: `systemd-analyze verify` on
 * the unit, `promtool check rules` on the alerts, and a real Prometheus (loopback, temporary data
 * folder, 1 s scrapes) scraping a real engine process, on which every Grafana query and every alert
 * expression is evaluated: none may fail, and the key queries must return series.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { requirePeer } from '../engine/testing/index.ts';
import { freeTcpPort, spawnEngine } from '../engine/testing/engine-process.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const UNIT = path.join(here, 'onair.service');
const ALERTS = path.join(here, 'prometheus/alerts.yml');
const DASHBOARD = path.join(here, 'grafana/onair.json');

type Dashboard = { panels: Array<{ title: string; targets: Array<{ expr: string }> }>; templating: { list: Array<{ name: string; query: string }> } };
type Rules = { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };

/** Grafana's variables as a dashboard showing every instance and queue sends them. */
function grafanaQuery(expr: string): string {
  return expr.replaceAll('$__rate_interval', '5s').replaceAll('$instance', '.*').replaceAll('$queue', '.*');
}

function verifyUnit(text: string, dir: string): { code: number | null; problems: string[] } {
  // verify also checks that ExecStart's program exists: a stand-in at a temporary path (the real
  // bin is package.test.ts's).
  const bin = path.join(dir, 'onair');
  writeFileSync(bin, '#!/bin/sh\n');
  chmodSync(bin, 0o755);
  const unit = path.join(dir, 'onair.service');
  writeFileSync(unit, text.replaceAll('/usr/local/bin/onair', bin));
  const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8', timeout: 60_000 });
  // Only this unit's lines: the host's own units may have complaints of their own.
  return { code: r.status, problems: `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.includes('onair.service')) };
}

t.test('systemd-analyze verify deploy/onair.service', async (t) => {
  if (!requirePeer(t, 'systemd-analyze')) return;
  const dir = t.testdir({});
  const text = readFileSync(UNIT, 'utf8');
  t.same(verifyUnit(text, dir), { code: 0, problems: [] });
  const typo = verifyUnit(text.replace('LimitNOFILE=', 'LimitNOFLIE='), dir);
  t.match(typo.problems, [/Unknown key 'LimitNOFLIE'/], 'the check sees a broken unit');
  t.match(text, /^ExecStart=\/usr\/local\/bin\/onair --config \/etc\/onair\/onair\.yaml$/m);
  t.match(text, /^RestartPreventExitStatus=2$/m, 'a bad configuration (exit 2) is not restarted in a loop');
});

t.test('promtool check rules deploy/prometheus/alerts.yml', async (t) => {
  if (!requirePeer(t, 'promtool')) return;
  const r = spawnSync('promtool', ['check', 'rules', ALERTS], { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, r.stderr + r.stdout);
  const count = (parse(readFileSync(ALERTS, 'utf8')) as Rules).groups.flatMap((g) => g.rules).length;
  t.match(r.stdout, new RegExp(`SUCCESS: ${count} rules found`));
});

t.test('every dashboard query and alert runs on a real Prometheus scraping a real engine', async (t) => {
  if (!requirePeer(t, 'prometheus')) return;
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-prom-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const engine = await spawnEngine({ dir });
  t.teardown(() => engine.stop('SIGKILL'));
  const promPort = await freeTcpPort();
  writeFileSync(path.join(dir, 'prometheus.yml'), [
    'global: { scrape_interval: 1s, evaluation_interval: 1s }',
    `rule_files: [${JSON.stringify(ALERTS)}]`,
    'scrape_configs:',
    `  - { job_name: onair, metrics_path: /metrics, static_configs: [{ targets: ["127.0.0.1:${engine.httpPort}"] }] }`,
    '',
  ].join('\n'));
  const prom = spawn('prometheus', [
    `--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let promLog = '';
  prom.stderr.on('data', (d: Buffer) => { if (promLog.length < 20_000) promLog += d.toString(); });
  const promExited = new Promise((resolve) => prom.on('exit', resolve));
  t.teardown(async () => {
    if (prom.exitCode === null && prom.signalCode === null) prom.kill('SIGKILL');
    await promExited;
  });
  const api = `http://127.0.0.1:${promPort}/api/v1`;
  const query = async (q: string): Promise<{ status: string; error?: string; data?: { resultType: string; result: unknown[] } }> => {
    const res = await fetch(`${api}/query?query=${encodeURIComponent(q)}`);
    return await res.json() as { status: string; error?: string; data?: { resultType: string; result: unknown[] } };
  };
  // Bounded waits: Prometheus up, the engine scraped a few times (rates need two samples).
  const until = async (what: string, ok: () => Promise<boolean>): Promise<void> => {
    for (let i = 0; i < 300; i++) {
      if (prom.exitCode !== null) throw new Error(`prometheus exited: ${promLog}`);
      if (await ok().catch(() => false)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${what} did not happen: ${promLog}`);
  };
  await until('prometheus ready', async () => (await fetch(`http://127.0.0.1:${promPort}/-/ready`)).ok);
  await until('4 scrapes of the engine', async () => {
    const r = await query('count_over_time(up{job="onair"}[1m])');
    return Number((r.data?.result as Array<{ value: [number, string] }> | undefined)?.[0]?.value[1] ?? 0) >= 4;
  });
  t.same((await query('up{job="onair"}')).data?.result.map((s) => (s as { value: [number, string] }).value[1]), ['1'], 'the engine is scraped');

  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
  const series = new Map<string, number>();
  for (const panel of dashboard.panels) {
    for (const target of panel.targets) {
      const r = await query(grafanaQuery(target.expr));
      t.equal(r.status, 'success', `${panel.title}: ${target.expr} ${r.error ?? ''}`);
      series.set(target.expr, r.data?.result.length ?? 0);
    }
  }
  // With no call yet, these describe the engine as it stands: each must return series.
  const key = [
    'up{job="onair",instance=~"$instance"}',
    'sum by (phase) (onair_calls{instance=~"$instance"})',
    'sum by (queue) (onair_queue_waiting{instance=~"$instance",queue=~"$queue"})',
    'sum by (queue) (onair_queue_agents_staffed{instance=~"$instance",queue=~"$queue"})',
    'sum by (state) (onair_agents_state{instance=~"$instance"})',
    'sum by (status) (onair_outbox_items{instance=~"$instance"})',
    'sum by (side) (onair_sip_transactions{instance=~"$instance"})',
    'max by (instance) (onair_process_resident_memory_bytes{instance=~"$instance"}) / 1e9',
    'max by (instance) (onair_nodejs_eventloop_lag_p99_seconds{instance=~"$instance"})',
    'max by (instance, version, node) (onair_build_info{instance=~"$instance"})',
    'sum (onair_sip_admission_blocked_sources{instance=~"$instance"})',
  ];
  for (const expr of key) {
    t.ok(series.has(expr), `the dashboard has ${expr}`);
    t.ok((series.get(expr) ?? 0) > 0, `${expr} returns series`);
  }
  t.ok((series.get('sum by (phase) (onair_calls{instance=~"$instance"})') ?? 0) >= 3, 'one series per call phase');
  for (const v of dashboard.templating.list.filter((v) => v.name !== 'datasource')) {
    const m = /^label_values\((.*), (\w+)\)$/.exec(v.query);
    t.ok(m, `variable ${v.name} is label_values(selector, label)`);
    const r = await query(m?.[1] ?? '');
    t.ok(r.status === 'success' && (r.data?.result.length ?? 0) > 0, `variable ${v.name} has values`);
  }

  const rules = (parse(readFileSync(ALERTS, 'utf8')) as Rules).groups.flatMap((g) => g.rules);
  for (const rule of rules) {
    const r = await query(rule.expr);
    t.equal(r.status, 'success', `alert ${rule.alert} evaluates: ${r.error ?? ''}`);
  }
  // Prometheus itself evaluates the loaded rules every second: each must be healthy.
  await until('every rule evaluated', async () => {
    const res = await (await fetch(`${api}/rules`)).json() as { data: { groups: Array<{ rules: Array<{ health: string }> }> } };
    const all = res.data.groups.flatMap((g) => g.rules);
    return all.length === rules.length && all.every((r) => r.health !== 'unknown');
  });
  const loaded = await (await fetch(`${api}/rules`)).json() as { data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> } };
  t.same(loaded.data.groups.flatMap((g) => g.rules).filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError}`), [], 'every rule healthy');
  const firing = await query('ALERTS{alertstate="firing"}');
  t.same(firing.data?.result, [], 'an idle healthy engine fires no alert');
});
