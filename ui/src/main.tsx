/** Entry of the browser UI: session, language, and the page (#/ desktop, #/wallboard, #/reports). */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, type SessionView } from './api.ts';
import { text, type Lang, type MessageKey } from './messages.ts';
import { Desktop } from './desktop.tsx';
import { Wallboard } from './wallboard.tsx';
import { Reports } from './reports.tsx';
import './style.css';

/** What every page gets: the language, its text function, and the session. */
export interface PageProps {
  lang: Lang;
  t: (key: MessageKey, args?: Record<string, string | number>) => string;
  session: SessionView;
}

const LANG_KEY = 'onair.lang';

function storedLang(): Lang | null {
  const v = localStorage.getItem(LANG_KEY);
  return v === 'en' || v === 'zh-CN' ? v : null;
}

function LangSwitch({ lang, setLang }: { lang: Lang; setLang: (l: Lang) => void }) {
  return (
    <span class="lang" role="group" aria-label="language">
      <button type="button" class={lang === 'en' ? 'on' : ''} onClick={() => setLang('en')} data-lang="en">English</button>
      <button type="button" class={lang === 'zh-CN' ? 'on' : ''} onClick={() => setLang('zh-CN')} data-lang="zh-CN">中文</button>
    </span>
  );
}

function SignIn({ t, onSignedIn }: { t: PageProps['t']; onSignedIn: (s: SessionView) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError('');
    try {
      onSignedIn(await api<SessionView>('POST', '/api/v1/session', { username, password }));
    } catch (err) {
      if (err instanceof ApiError && err.code === 'USERS_ERR_LOCKED') setError(t('locked', { s: err.retryAfter }));
      else if (err instanceof ApiError && err.status === 401) setError(t('badCredentials'));
      else setError(t('failed', { m: err instanceof Error ? err.message : String(err) }));
    }
  };
  return (
    <form class="card signin" onSubmit={submit}>
      <h1>{t('signInTitle')}</h1>
      <label>{t('username')}<input name="username" autocomplete="username" value={username} onInput={(e) => setUsername(e.currentTarget.value)} required /></label>
      <label>{t('password')}<input name="password" type="password" autocomplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} required /></label>
      {error !== '' && <p class="error" role="alert">{error}</p>}
      <button type="submit" class="primary">{t('signIn')}</button>
    </form>
  );
}

function App() {
  const [session, setSession] = useState<SessionView | null | undefined>(undefined);
  const [lang, setLangState] = useState<Lang>(storedLang() ?? 'zh-CN');
  const [route, setRoute] = useState(location.hash);
  useEffect(() => {
    api<SessionView>('GET', '/api/v1/session').then((s) => {
      if (storedLang() === null) setLangState(s.desktop.language);
      setSession(s.user === null ? null : s);
    }).catch(() => setSession(null));
    const onHash = (): void => setRoute(location.hash);
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  useEffect(() => { document.documentElement.lang = lang; }, [lang]);
  const setLang = (l: Lang): void => {
    localStorage.setItem(LANG_KEY, l);
    setLangState(l);
  };
  const t: PageProps['t'] = (key, args) => text(lang, key, args);
  const signOut = async (): Promise<void> => {
    await api('DELETE', '/api/v1/session').catch(() => undefined);
    setSession(null);
  };
  const page = session === undefined || session === null ? null : route === '#/wallboard'
    ? <Wallboard lang={lang} t={t} session={session} />
    : route === '#/reports' ? <Reports lang={lang} t={t} session={session} />
      : <Desktop lang={lang} t={t} session={session} />;
  return (
    <div class="shell">
      <header>
        <strong class="brand">{t('appName')}</strong>
        {session && <nav><a href="#/" class={route !== '#/wallboard' && route !== '#/reports' ? 'on' : ''}>{t('desktop')}</a>{session.user?.role !== 'agent' && <a href="#/wallboard" class={route === '#/wallboard' ? 'on' : ''}>{t('wallboard')}</a>}{session.user?.role !== 'agent' && <a href="#/reports" class={route === '#/reports' ? 'on' : ''} data-testid="nav-reports">{t('reports')}</a>}</nav>}
        <span class="spacer" />
        <LangSwitch lang={lang} setLang={setLang} />
        {session && <span class="who">{session.user?.name ?? session.user?.username}</span>}
        {session && <button type="button" onClick={signOut}>{t('signOut')}</button>}
      </header>
      <main>{session === null ? <SignIn t={t} onSignedIn={setSession} /> : page}</main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
