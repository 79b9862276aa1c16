/**
 * The shipped Kamailio configuration parses and loads its modules (`kamailio -c`), as shipped
 * and as the test rig writes it; the rig's rewrite touches only the four substdef lines.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { KAMAILIO_CFG, checkKamailioConfig, kamailioConfig, requirePeer } from '../../engine/testing/index.ts';

t.test('deploy/kamailio/kamailio.cfg passes kamailio -c', async (t) => {
  if (!requirePeer(t, 'kamailio')) return;
  const shipped = readFileSync(KAMAILIO_CFG, 'utf8');
  t.equal(checkKamailioConfig(shipped.replace('/etc/kamailio/onair-dispatcher.list', new URL('./onair-dispatcher.list', import.meta.url).pathname)), null, 'shipped config (with the shipped list)');
  const rewritten = kamailioConfig({ KAM_LISTEN: 'udp:127.0.0.1:15060', DS_LIST_FILE: new URL('./onair-dispatcher.list', import.meta.url).pathname, DS_PING_INTERVAL: '1', KAM_RUNDIR: '/tmp' });
  t.equal(checkKamailioConfig(rewritten), null, 'as the rig writes it');
  const changed = rewritten.split('\n').filter((l, i) => l !== shipped.split('\n')[i]);
  t.equal(changed.length, 3, 'three lines change (the ping interval given is the default one)');
  t.ok(changed.every((l) => l.startsWith('#!substdef')), 'and they are substdef lines');
});
