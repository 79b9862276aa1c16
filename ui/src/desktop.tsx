/** The agent desktop: own status, the ringing call's screen pop, the current call. */
import { useEffect, useState } from 'preact/hooks';
import { api, openEvents, type Agent, type EventMessage } from './api.ts';
import { reasonLabel, type MessageKey } from './messages.ts';
import { clock, duration } from './format.ts';
import type { PageProps } from './main.tsx';
import { OrderPanel } from './order.tsx';
import { WrapUpPanel } from './wrapup.tsx';
import { CallControls } from './call-controls.tsx';

type Offer = Extract<EventMessage, { type: 'call.offered' }>;

interface CallView {
  offer: Offer;
  phase: 'ringing' | 'talking' | 'ended';
  answeredAt: number | null;
  waitMs: number | null;
  endedAt: number | null;
}

/** Ticks every second (time in state, talk time, the center clock). */
export function useNow(): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(id);
  }, []);
  return now;
}

export function Desktop({ lang, t, session }: PageProps) {
  const agentId = session.user?.agentId ?? null;
  const reasons = session.desktop.notReadyReasons;
  const [agent, setAgent] = useState<Agent | null>(null);
  const [since, setSince] = useState(Date.now());
  const [call, setCall] = useState<CallView | null>(null);
  const [live, setLive] = useState(false);
  const [reason, setReason] = useState(reasons[0]?.code ?? '');
  const [error, setError] = useState('');
  const now = useNow();

  const load = async (): Promise<void> => {
    if (agentId !== null) setAgent(await api<Agent>('GET', `/api/v1/agents/${encodeURIComponent(agentId)}`));
  };
  useEffect(() => {
    void load().catch((e: unknown) => setError(String(e)));
    return openEvents((m) => {
      if (m.type === 'agent.state' && m.agentId === agentId) {
        setSince(m.at);
        void load();
      } else if (m.type === 'call.offered' && m.agentId === agentId) {
        setCall({ offer: m, phase: 'ringing', answeredAt: null, waitMs: null, endedAt: null });
      } else if (m.type === 'call.answered' && m.agentId === agentId) {
        setCall((c) => c !== null && c.offer.callId === m.callId ? { ...c, phase: 'talking', answeredAt: m.at, waitMs: m.waitMs } : c);
      } else if (m.type === 'call.ended' && m.agentId === agentId) {
        setCall((c) => c !== null && c.offer.callId === m.callId ? { ...c, phase: 'ended', endedAt: m.at } : c);
      }
    }, setLive);
  }, [agentId]);

  const setStatus = async (status: 'available' | 'not_ready'): Promise<void> => {
    if (agentId === null) return;
    setError('');
    try {
      setAgent(await api<Agent>('POST', `/api/v1/agents/${encodeURIComponent(agentId)}/status`, status === 'available' ? { status } : { status, reason }));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };

  const tz = session.desktop.timeZone;
  return (
    <div class="desktop">
      <section class="card status" aria-label={t('status')}>
        <div class="row">
          <span class={`pill st-${agent?.status ?? 'logged_out'}`} data-testid="status">{agent ? t(`st_${agent.status}` as MessageKey) : '…'}</span>
          {agent && agent.status === 'not_ready' && agent.reason !== null && <span class="reason">{reasonLabel(lang, reasons, agent.reason)}</span>}
          {agent && <span class="state" data-testid="state">{t(`state_${agent.state}` as MessageKey)}</span>}
          <span class="muted">{t('timeInState')} {duration(now - since)}</span>
          <span class="spacer" />
          <span class={live ? 'live on' : 'live'}>{live ? t('connected') : t('disconnected')}</span>
          <span class="muted">{t('centerTime')} {clock(now, lang, tz)}</span>
        </div>
        <div class="row">
          <span>{t('agent')} <b>{agentId}</b>{agent?.name ? ` · ${agent.name}` : ''}</span>
          <span class={agent?.registered ? 'ok' : 'warn'}>{t('phone')}: {agent?.registered ? t('registered') : t('notRegistered')}</span>
          {agent?.pendingStatus && <span class="muted">{t('pending', { s: t(`st_${agent.pendingStatus}` as MessageKey) })}</span>}
        </div>
        <div class="row actions">
          <button type="button" class="primary" data-testid="ready" disabled={agent?.status === 'available'} onClick={() => setStatus('available')}>{t('ready')}</button>
          <label>{t('reason')}
            <select value={reason} onChange={(e) => setReason(e.currentTarget.value)} data-testid="reason">
              {reasons.map((r) => <option value={r.code}>{lang === 'en' ? r.en : r.zh}</option>)}
            </select>
          </label>
          <button type="button" data-testid="not-ready" onClick={() => setStatus('not_ready')}>{t('notReady')}</button>
        </div>
        {error !== '' && <p class="error" role="alert">{error}</p>}
      </section>
      <CallPanel call={call} now={now} {...{ lang, t, session }} />
      {call !== null && call.phase === 'talking' && <CallControls key={call.offer.callId} callId={call.offer.callId} {...{ lang, t, session }} />}
      {agent !== null && call !== null && call.phase !== 'ringing' && (call.phase === 'talking' || agent.state === 'wrap_up') &&
        <WrapUpPanel key={call.offer.callId} agent={agent} callId={call.offer.callId} onAgent={setAgent} {...{ lang, t, session }} />}
    </div>
  );
}

function CallPanel({ call, now, lang, t, session }: PageProps & { call: CallView | null; now: number }) {
  if (call === null) return <section class="card call idle"><p class="muted">{t('noCall')}</p></section>;
  const { offer } = call;
  const title = call.phase === 'ringing' ? t('incoming') : call.phase === 'talking' ? t('currentCall') : t('lastCall');
  const c = offer.customer;
  return (
    <section class={`card call ${call.phase}`} data-testid={`call-${call.phase}`} aria-live="assertive">
      <h2>{title}{call.phase === 'ringing' && <span class="ring-hint"> · {t('ringing')}</span>}</h2>
      <div class="pop">
        <div class="big" data-testid="customer">{c.known && c.name !== null ? c.name : t('unknownCustomer')}</div>
        <div class="big mono" data-testid="caller">{offer.caller}</div>
        <dl>
          <dt>{t('queue')}</dt><dd data-testid="queue">{offer.queue}</dd>
          <dt>{t('programme')}</dt><dd data-testid="programme">{offer.programme ?? '—'}</dd>
          <dt>{t('dialled')}</dt><dd>{offer.dialled}</dd>
          <dt>{t('attempt')}</dt><dd data-testid="attempt">{offer.attempt}</dd>
          {c.vipLevel > 0 && <><dt>{t('vip')}</dt><dd class="vip">{c.vipLevel}</dd></>}
          {c.strikes > 0 && <><dt>{t('strikes')}</dt><dd class="warn">{c.strikes}</dd></>}
          {c.lowCredit && <><dt>{t('lowCredit')}</dt><dd class="warn">!</dd></>}
          {Object.entries(c.screenPop).map(([k, v]) => <><dt>{k}</dt><dd>{v}</dd></>)}
          {Object.entries(offer.variables ?? {}).map(([k, v]) => <><dt>{k}</dt><dd class="mono" data-testid={`var-${k}`}>{v}</dd></>)}
          {call.waitMs !== null && <><dt>{t('waited')}</dt><dd>{duration(call.waitMs)}</dd></>}
          {call.answeredAt !== null && <><dt>{t('talking')}</dt><dd data-testid="talk-time">{duration((call.endedAt ?? now) - call.answeredAt)}</dd></>}
          {call.endedAt !== null && <><dt>{t('ended')}</dt><dd>{clock(call.endedAt, lang, session.desktop.timeZone)}</dd></>}
        </dl>
      </div>
      {call.phase !== 'ringing' && c.known && c.customerId !== null && <OrderPanel lang={lang} t={t} callId={offer.callId} customerId={c.customerId} />}
    </section>
  );
}
