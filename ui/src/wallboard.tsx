/** The supervisor wallboard: surge mode, every queue live, agents by state, a live chart of callers waiting. */
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { api, openEvents, type Agent, type QueueView, type SurgeState } from './api.ts';
import { clock, duration } from './format.ts';
import { reasonLabel, type MessageKey } from './messages.ts';
import { useNow } from './desktop.tsx';
import type { PageProps } from './main.tsx';
import { SupervisorPanel } from './supervise.tsx';

/** Points kept on the chart: ten minutes at one a second. */
const POINTS = 600;

export function Wallboard({ lang, t, session }: PageProps) {
  const [queues, setQueues] = useState<Map<string, QueueView>>(new Map());
  const [agents, setAgents] = useState<Agent[]>([]);
  const [denied, setDenied] = useState(false);
  const [surge, setSurge] = useState<SurgeState | null>(null);
  const [surgeReason, setSurgeReason] = useState('');
  const [surgeError, setSurgeError] = useState('');
  const chartEl = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);
  const series = useRef<[number[], number[]]>([[], []]);
  const queuesRef = useRef(queues);
  queuesRef.current = queues;
  useNow();

  const loadAgents = (): void => {
    api<{ items: Agent[] }>('GET', '/api/v1/agents').then((r) => setAgents(r.items)).catch(() => setDenied(true));
  };
  // During a surge every answered call moves an agent through three or four states: reading the
  // whole list on each event would be tens of GETs a second from every open wallboard, at the
  // moment the engine has least to spare. The event's own fields are applied at once; the rest
  // of the row (call, time in state) is re-read at most once a second.
  const reload = useRef<number | undefined>(undefined);
  const loadAgentsSoon = (): void => {
    if (reload.current !== undefined) return;
    reload.current = window.setTimeout(() => { reload.current = undefined; loadAgents(); }, 1000);
  };
  const applyAgentState = (m: { agentId: string; status: Agent['status']; state: Agent['state']; reason: string | null }): void => {
    setAgents((list) => list.map((a) => (a.id === m.agentId ? { ...a, status: m.status, state: m.state, reason: m.reason } : a)));
    loadAgentsSoon();
  };
  // Surge mode (an engine without a schedule has no route: the banner stays away).
  const loadSurge = (): void => {
    api<SurgeState>('GET', '/api/v1/surge').then(setSurge).catch(() => setSurge(null));
  };
  // One action for the whole back office: every programme's surge on (held), off (held), or back to the schedule.
  const overrideSurge = (action: 'start' | 'stop' | 'release'): void => {
    setSurgeError('');
    api<SurgeState>('POST', '/api/v1/surge', { action, reason: surgeReason.trim() })
      .then((s) => { setSurge(s); loadAgents(); })
      .catch((e: unknown) => setSurgeError(e instanceof Error ? e.message : String(e)));
  };
  useEffect(() => {
    if (session.user?.role === 'agent') {
      setDenied(true);
      return;
    }
    loadAgents();
    loadSurge();
    const stop = openEvents((m) => {
      if (m.type === 'queue.update') setQueues((q) => new Map(q).set(m.queue.id, m.queue));
      else if (m.type === 'agent.state') applyAgentState(m);
      else if (m.type === 'surge') { loadSurge(); loadAgents(); }
    }, () => {});
    // One point a second: the total waiting now (queue updates come only when something changed).
    const sample = setInterval(() => {
      const [xs, ys] = series.current;
      let waiting = 0;
      for (const q of queuesRef.current.values()) waiting += q.waiting;
      xs.push(Date.now() / 1000);
      ys.push(waiting);
      if (xs.length > POINTS) { xs.shift(); ys.shift(); }
      chart.current?.setData([xs, ys]);
    }, 1000);
    return () => { stop(); clearInterval(sample); window.clearTimeout(reload.current); };
  }, []);

  useEffect(() => {
    if (chartEl.current === null || chart.current !== null) return;
    chart.current = new uPlot({
      width: Math.min(900, chartEl.current.clientWidth || 900), height: 220,
      // The axis in the center's time zone, like every time the UI shows.
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), session.desktop.timeZone),
      scales: { y: { range: (_u, _min, max) => [0, Math.max(5, max)] } },
      series: [{}, { label: t('waiting'), stroke: '#c0392b', fill: 'rgba(192,57,43,0.15)', width: 2 }],
      axes: [{}, {}],
    }, series.current, chartEl.current);
    return () => { chart.current?.destroy(); chart.current = null; };
  }, [denied]);

  if (denied) return <section class="card"><p class="error">{t('noAccess')}</p></section>;
  const list = [...queues.values()];
  const reasons = session.desktop.notReadyReasons;
  return (
    <div class="wallboard">
      {surge !== null && (
        <section class={`card surge${surge.active.length > 0 ? ' on' : ''}`} data-testid="surge">
          <h2>{t('sg_title')}</h2>
          {surge.active.length === 0 && <p class="muted">{t('sg_none')}</p>}
          {surge.active.map((s) => (
            <p data-airing={s.airing}>
              <b>{t('sg_active', { airing: s.airing, programme: s.programme, queue: s.queue, agents: s.agents.join(', ') })}</b>
              {' · '}{s.until === null ? t('sg_held') : t('sg_until', { t: clock(s.until, lang, session.desktop.timeZone) })}
            </p>
          ))}
          {surge.campaignsPaused && <p class="warn" data-testid="surge-campaigns">{t('sg_campaignsPaused')}</p>}
          <div class="row actions">
            <label>{t('sg_reason')}<input value={surgeReason} onInput={(e) => setSurgeReason(e.currentTarget.value)} maxLength={200} data-testid="surge-reason" /></label>
            <button type="button" class="primary" disabled={surgeReason.trim() === ''} onClick={() => overrideSurge('start')} data-testid="surge-start">{t('sg_start')}</button>
            <button type="button" disabled={surgeReason.trim() === ''} onClick={() => overrideSurge('stop')} data-testid="surge-stop">{t('sg_stop')}</button>
            <button type="button" disabled={surgeReason.trim() === '' || surge.holds.length === 0} onClick={() => overrideSurge('release')} data-testid="surge-release">{t('sg_release')}</button>
          </div>
          {surgeError !== '' && <p class="error" role="alert">{surgeError}</p>}
        </section>
      )}
      <section class="card">
        <h2>{t('queues')}</h2>
        <table data-testid="queues">
          <thead><tr><th>{t('queue')}</th><th>{t('waiting')}</th><th>{t('oldestWait')}</th><th>{t('ewt')}</th><th>{t('serviceLevel')}</th><th>{t('staffed')}</th><th>{t('idle')}</th><th>{t('onCall')}</th><th>{t('wrapUp')}</th><th>{t('notReady')}</th></tr></thead>
          <tbody>
            {list.map((q) => (
              <tr data-queue={q.id}>
                <td>{q.id}</td><td class={q.waiting > 0 ? 'big warn' : 'big'} data-testid={`waiting-${q.id}`}>{q.waiting}</td>
                <td>{duration(q.oldestWaitMs)}</td><td>{q.ewtMs === null ? '—' : duration(q.ewtMs)}</td>
                <td>{Math.round(q.serviceLevel * 100)}%</td><td>{q.agents.staffed}</td><td>{q.agents.idle}</td>
                <td>{q.agents.byState.on_call + q.agents.byState.reserved}</td><td>{q.agents.byState.wrap_up}</td><td>{q.agents.byStatus.not_ready}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section class="card">
        <h2>{t('waitingChart')}</h2>
        <div ref={chartEl} data-testid="chart" />
      </section>
      <section class="card">
        <h2>{t('agents')}</h2>
        <div class="grid">
          {agents.map((a) => (
            <div class={`tile st-${a.status} state-${a.state}`} data-agent={a.id}>
              <b>{a.id}</b> <span>{a.name}</span>
              <div>{t(`st_${a.status}` as MessageKey)} · {t(`state_${a.state}` as MessageKey)}</div>
              {a.reason !== null && <div class="muted">{reasonLabel(lang, reasons, a.reason)}</div>}
            </div>
          ))}
        </div>
      </section>
      <SupervisorPanel agents={agents} queues={list} onChange={loadAgents} {...{ lang, t, session }} />
    </div>
  );
}
