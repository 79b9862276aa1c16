/**
 * The supervisor's actions on the wallboard: move an agent into a queue (give it the queue's skill
 * at a level), or out of it, and set an agent's status with a reason. The engine checks the role
 * and the teams; this only sends the request and shows the answer.
 */
import { useState } from 'preact/hooks';
import { api, type Agent, type QueueView } from './api.ts';
import type { PageProps } from './main.tsx';

export function SupervisorPanel({ lang, t, session, agents, queues, onChange }: PageProps & { agents: Agent[]; queues: QueueView[]; onChange: () => void }) {
  const reasons = session.desktop.notReadyReasons;
  const [agentId, setAgentId] = useState('');
  const [queueId, setQueueId] = useState('');
  const [level, setLevel] = useState('');
  const [status, setStatus] = useState<'available' | 'not_ready' | 'logged_out'>('not_ready');
  const [reason, setReason] = useState(reasons[0]?.code ?? '');
  const [done, setDone] = useState(false);
  const [error, setError] = useState('');
  const agent = agents.find((a) => a.id === agentId) ?? agents[0];
  const queue = queues.find((q) => q.id === queueId) ?? queues[0];
  if (agent === undefined || queue === undefined) return null;
  const path = `/api/v1/agents/${encodeURIComponent(agent.id)}`;
  const run = async (f: () => Promise<unknown>): Promise<void> => {
    setError('');
    setDone(false);
    try {
      await f();
      setDone(true);
      onChange();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  const move = (): Promise<void> => run(() => api('PUT', `${path}/skills/${encodeURIComponent(queue.skill)}`, { level: Number(level === '' ? queue.minLevel : level) }));
  // Out of the queue: the same run-time provisioning (audited as agent.skills), the skill removed.
  const moveOut = (): Promise<void> => run(() => api('DELETE', `${path}/skills/${encodeURIComponent(queue.skill)}`));
  const setAgentStatus = (): Promise<void> => run(() => api('POST', `${path}/status`, status === 'not_ready' ? { status, reason } : { status }));
  return (
    <section class="card" data-testid="supervise" aria-label={t('moveToQueue')}>
      <h2>{t('moveToQueue')} · {t('setStatus')}</h2>
      <div class="row actions">
        <label>{t('agent')}
          <select value={agent.id} onChange={(e) => setAgentId(e.currentTarget.value)} data-testid="sup-agent">
            {agents.map((a) => <option value={a.id}>{a.id}{a.name !== null ? ` · ${a.name}` : ''}</option>)}
          </select>
        </label>
        <span class="muted" data-testid="sup-skills">{t('skills')}: {Object.entries(agent.skills).map(([k, v]) => `${k} ${v}`).join(', ') || '—'}</span>
      </div>
      <div class="row actions">
        <label>{t('queue')}
          <select value={queue.id} onChange={(e) => { setQueueId(e.currentTarget.value); setLevel(''); }} data-testid="sup-queue">
            {queues.map((q) => <option value={q.id}>{q.id}</option>)}
          </select>
        </label>
        <label>{t('level')}
          <input type="number" min={1} max={100} style="width:5em" value={level === '' ? String(queue.minLevel) : level} onInput={(e) => setLevel(e.currentTarget.value)} data-testid="sup-level" />
        </label>
        <button type="button" class="primary" onClick={move} data-testid="sup-move">{t('moveToQueue')}</button>
        <button type="button" onClick={moveOut} disabled={agent.skills[queue.skill] === undefined} data-testid="sup-move-out">{t('moveOut')}</button>
      </div>
      <div class="row actions">
        <label>{t('status')}
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value as typeof status)} data-testid="sup-status">
            <option value="available">{t('st_available')}</option>
            <option value="not_ready">{t('st_not_ready')}</option>
            <option value="logged_out">{t('st_logged_out')}</option>
          </select>
        </label>
        {status === 'not_ready' && <label>{t('reason')}
          <select value={reason} onChange={(e) => setReason(e.currentTarget.value)} data-testid="sup-reason">
            {reasons.map((r) => <option value={r.code}>{lang === 'en' ? r.en : r.zh}</option>)}
          </select>
        </label>}
        <button type="button" onClick={setAgentStatus} data-testid="sup-set-status">{t('setStatus')}</button>
        {done && <span class="ok" data-testid="sup-done">{t('done')}</span>}
      </div>
      {error !== '' && <p class="error" role="alert">{error}</p>}
    </section>
  );
}
