/** The wrap-up panel: pick the call's code, type a note, save it (it goes into the CDR), end wrap-up. */
import { useState } from 'preact/hooks';
import { api, type Agent } from './api.ts';
import type { PageProps } from './main.tsx';

export function WrapUpPanel({ lang, t, session, agent, callId, onAgent }: PageProps & { agent: Agent; callId: string; onAgent: (a: Agent) => void }) {
  const codes = session.desktop.wrapUpCodes ?? [];
  const [code, setCode] = useState(codes[0]?.code ?? '');
  const [note, setNote] = useState('');
  const [saved, setSaved] = useState<string | null>(null);
  const [error, setError] = useState('');
  if (codes.length === 0) return null;
  const path = `/api/v1/agents/${encodeURIComponent(agent.id)}/wrap-up`;
  const chosen = codes.find((c) => c.code === code);
  const label = (c: string): string => {
    const x = codes.find((y) => y.code === c);
    return x === undefined ? c : lang === 'en' ? x.en : x.zh;
  };
  const save = async (): Promise<void> => {
    setError('');
    if (chosen?.requiresNote === true && note.trim() === '') {
      setError(t('noteRequired'));
      return;
    }
    try {
      await api('POST', path, { callId, code, ...(note.trim() !== '' ? { note } : {}) });
      setSaved(code);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  const end = async (): Promise<void> => {
    setError('');
    try {
      onAgent(await api<Agent>('POST', `${path}/end`));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <section class="card wrapup" data-testid="wrap-up" aria-label={t('wrapUpTitle')}>
      <h2>{t('wrapUpTitle')}</h2>
      <div class="row actions">
        <label>{t('wrapUpCode')}
          <select value={code} onChange={(e) => { setCode(e.currentTarget.value); setSaved(null); }} data-testid="wrap-up-code">
            {codes.map((c) => <option value={c.code}>{lang === 'en' ? c.en : c.zh}{c.requiresNote ? ' *' : ''}</option>)}
          </select>
        </label>
      </div>
      <label>{t('note')}
        <textarea rows={3} maxLength={1000} value={note} onInput={(e) => { setNote(e.currentTarget.value); setSaved(null); }} data-testid="wrap-up-note" />
      </label>
      <div class="row actions">
        <button type="button" class="primary" onClick={save} data-testid="wrap-up-save">{t('saveWrapUp')}</button>
        {agent.state === 'wrap_up' && <button type="button" onClick={end} data-testid="wrap-up-end">{t('endWrapUp')}</button>}
        {saved !== null && <span class="ok" data-testid="wrap-up-saved">{t('wrapUpSaved', { c: label(saved) })}</span>}
      </div>
      {error !== '' && <p class="error" role="alert">{error}</p>}
    </section>
  );
}
