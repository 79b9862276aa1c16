/**
 * Hold / resume, blind transfer and consultation (attended transfer) of the agent's current call
 * (issue 16). The browser only sends the commands; the engine decides who may and what happens
 * (docs/transfer.md): `POST /api/v1/calls/:id/hold`, `/resume`, `/transfer { to: { queue } |
 * { agent } | { number } }`, `/consult { agent }`, `/consult/complete`, `/consult/cancel`,
 * `/consult/conference` (the caller joins: three-way) and `/conference/leave` (the agent leaves the
 * caller with the consulted agent); the consultation's state is read back from `GET
 * /api/v1/calls/:id` while it lasts.
 */
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.ts';
import type { PageProps } from './main.tsx';

type Kind = 'queue' | 'agent' | 'number';

/** The consultation as `GET /api/v1/calls/:id` shows it (the part shown here). */
interface Consultation {
  agent: string;
  state: 'ringing' | 'talking' | 'conference';
}

/** How often the consultation's state is read while it lasts (B answers, declines, hangs up). */
const CONSULT_POLL_MS = 1000;

export function CallControls({ t, callId }: PageProps & { callId: string }) {
  const [held, setHeld] = useState(false);
  const [kind, setKind] = useState<Kind>('queue');
  const [target, setTarget] = useState('');
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState('');
  const [consultee, setConsultee] = useState('');
  const [consult, setConsult] = useState<Consultation | null>(null);
  const [consultOver, setConsultOver] = useState(false);
  const path = `/api/v1/calls/${encodeURIComponent(callId)}`;
  const consulting = consult !== null;
  useEffect(() => {
    if (!consulting) return undefined;
    const id = setInterval(() => {
      void api<{ consult: Consultation | null }>('GET', path).then((r) => {
        setConsult(r.consult);
        if (r.consult === null) setConsultOver(true);
      }).catch(() => undefined);
    }, CONSULT_POLL_MS);
    return () => clearInterval(id);
  }, [consulting, path]);
  const run = async (f: () => Promise<void>): Promise<void> => {
    setError('');
    try {
      await f();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  const hold = (): Promise<void> => run(async () => {
    const r = await api<{ held: boolean }>('POST', `${path}/${held ? 'resume' : 'hold'}`);
    setHeld(r.held);
  });
  const transfer = (): Promise<void> => run(async () => {
    const x = target.trim();
    if (x === '') return;
    await api('POST', `${path}/transfer`, { to: { [kind]: x } });
    setDone(x);
  });
  const startConsult = (): Promise<void> => run(async () => {
    const x = consultee.trim();
    if (x === '') return;
    const r = await api<Consultation>('POST', `${path}/consult`, { agent: x });
    setConsultOver(false);
    setConsult({ agent: r.agent, state: r.state });
  });
  const endConsult = (how: 'complete' | 'cancel'): Promise<void> => run(async () => {
    const r = await api<{ agent: string }>('POST', `${path}/consult/${how}`);
    setConsult(null);
    if (how === 'complete') setDone(r.agent);
  });
  const joinConference = (): Promise<void> => run(async () => {
    const r = await api<Consultation>('POST', `${path}/consult/conference`);
    setConsult({ agent: r.agent, state: r.state });
  });
  const leaveConference = (): Promise<void> => run(async () => {
    const r = await api<{ agent: string }>('POST', `${path}/conference/leave`);
    setConsult(null);
    setDone(r.agent);
  });
  if (done !== null) return <section class="card call-controls"><p class="ok" data-testid="transferred">{t('transferred', { x: done })}</p></section>;
  return (
    <section class="card call-controls" data-testid="call-controls" aria-label={t('callControls')}>
      <h2>{t('callControls')}</h2>
      <div class="row actions">
        <button type="button" data-testid="hold" onClick={hold}>{held ? t('resume') : t('hold')}</button>
        {held && <span class="warn" data-testid="on-hold">{t('onHold')}</span>}
      </div>
      <div class="row actions">
        <label>{t('transferTo')}
          <select value={kind} onChange={(e) => setKind(e.currentTarget.value as Kind)} data-testid="transfer-kind">
            <option value="queue">{t('transferQueue')}</option>
            <option value="agent">{t('transferAgent')}</option>
            <option value="number">{t('transferNumber')}</option>
          </select>
        </label>
        <input type="text" maxLength={64} value={target} placeholder={t('transferTarget')} aria-label={t('transferTarget')}
          onInput={(e) => setTarget(e.currentTarget.value)} data-testid="transfer-target" />
        <button type="button" onClick={transfer} data-testid="transfer">{t('transfer')}</button>
      </div>
      <div class="row actions">
        {consult === null ? (
          <>
            <input type="text" maxLength={64} value={consultee} placeholder={t('consultAgent')} aria-label={t('consultAgent')}
              onInput={(e) => setConsultee(e.currentTarget.value)} data-testid="consult-agent" />
            <button type="button" onClick={startConsult} data-testid="consult">{t('consult')}</button>
          </>
        ) : (
          <>
            <span class="warn" data-testid="consulting">{consult.state === 'conference' ? t('cs_conference', { x: consult.agent })
              : t('consulting', { x: consult.agent, s: t(consult.state === 'talking' ? 'cs_talking' : 'cs_ringing') })}</span>
            {consult.state === 'conference' ? (
              <>
                <button type="button" onClick={leaveConference} data-testid="conference-leave">{t('leaveConference')}</button>
                <button type="button" onClick={() => endConsult('cancel')} data-testid="consult-cancel">{t('dropConsulted', { x: consult.agent })}</button>
              </>
            ) : (
              <>
                <button type="button" onClick={() => endConsult('complete')} disabled={consult.state !== 'talking'} data-testid="consult-complete">{t('completeTransfer')}</button>
                <button type="button" onClick={joinConference} disabled={consult.state !== 'talking'} data-testid="consult-conference">{t('conference')}</button>
                <button type="button" onClick={() => endConsult('cancel')} data-testid="consult-cancel">{t('cancelConsult')}</button>
              </>
            )}
          </>
        )}
        {consultOver && consult === null && <span class="ok" data-testid="consult-over">{t('consultOver')}</span>}
      </div>
      {error !== '' && <p class="error" role="alert">{error}</p>}
    </section>
  );
}
