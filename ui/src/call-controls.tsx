/**
 * Hold / resume and blind transfer of the agent's current call (issue 16). The browser only sends
 * the commands; the engine decides who may and what happens (docs/transfer.md):
 * `POST /api/v1/calls/:id/hold`, `/resume`, `/transfer { to: { queue } | { agent } | { number } }`.
 */
import { useState } from 'preact/hooks';
import { api } from './api.ts';
import type { PageProps } from './main.tsx';

type Kind = 'queue' | 'agent' | 'number';

export function CallControls({ t, callId }: PageProps & { callId: string }) {
  const [held, setHeld] = useState(false);
  const [kind, setKind] = useState<Kind>('queue');
  const [target, setTarget] = useState('');
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState('');
  const path = `/api/v1/calls/${encodeURIComponent(callId)}`;
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
      {error !== '' && <p class="error" role="alert">{error}</p>}
    </section>
  );
}
