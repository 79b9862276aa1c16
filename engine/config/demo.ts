/**
 * The embedded default configuration (`npm start`, `onair` without `--config`): a complete call
 * center on loopback that works with sipp or a softphone out of the box.
 *
 * ```
 *  carrier ──▶ trunk "local" (127.0.0.1, ::1)
 *   dialled 100 ──▶ flow greeting-orders: welcome ──▶ queue orders (VIP callers: vip)
 *   dialled 200 ──▶ flow main-menu:       welcome, menu ┬ 1 ──▶ orders (VIP: vip)
 *   anything else ─┘                                    ├ 2 ──▶ service
 *                                                       ├ 3 ──▶ callback task in orders
 *                                                       └ no valid choice ──▶ orders
 *  agents 1001-1005 orders · 1006-1008 service · 1009-1010 orders, service and vip
 * ```
 *
 * Queues serve their own agents first (skill level 50 or more) and open to every agent with the
 * skill after a minute (bullseye expansion); the vip queue opens to orders agents after 15 s.
 * Passwords are `demo<extension>`: the configuration check warns loudly when SIP listens on a
 * non-loopback address with them. The same agents sign in to the browser desktop as users
 * `1001`-`1010` (password `demo<extension>`), with a `supervisor` (password `demo-supervisor`)
 * and an `admin` (password `demo-admin`).
 */
import type { ConfigInput } from './schema.ts';

/** Agents 1001-1010 with their skills (see the file comment). */
function demoAgents(): NonNullable<ConfigInput['agents']> {
  const agents: NonNullable<ConfigInput['agents']> = [];
  for (let ext = 1001; ext <= 1010; ext++) {
    const skills: Record<string, number> =
      ext <= 1005 ? { orders: 80, service: 30 }
      : ext <= 1008 ? { service: 80, orders: 30 }
      : { orders: 60, service: 60, vip: 100 };
    agents.push({
      id: String(ext),
      extension: String(ext),
      password: `demo${ext}`,
      name: `Demo agent ${ext}`,
      skills,
      autoReadyOnRegister: true,
    });
  }
  return agents;
}

/** Desktop users: each demo agent, a supervisor and an admin (clear demo passwords, see above). */
export function demoUsers(): NonNullable<NonNullable<ConfigInput['users']>['accounts']> {
  return [
    ...demoAgents().map((a) => ({ username: String(a.extension), role: 'agent' as const, agent: String(a.id), name: a.name ?? null, password: String(a.password) })),
    { username: 'supervisor', role: 'supervisor' as const, name: 'Demo supervisor', password: 'demo-supervisor' },
    { username: 'admin', role: 'admin' as const, name: 'Demo admin', password: 'demo-admin' },
  ];
}

/** A fresh copy of the demo configuration, as it would be written in a file (defaults omitted). */
export function demoConfig(): ConfigInput {
  const toOrders = { queue: { id: 'orders', vipQueue: 'vip' } };
  return {
    media: { bindAddress: '127.0.0.1' },
    database: { kind: 'sqlite', path: './var/onair.db' },
    crm: { adapter: 'sqlite', seedDemo: true },
    trunks: [{ id: 'local', name: 'Local test carrier', allow: ['127.0.0.1/32', '::1/128'] }],
    agents: demoAgents(),
    users: { accounts: demoUsers() },
    queues: [
      {
        id: 'orders', name: 'Orders', minLevel: 50, strategy: 'longestIdle', wrapUpMs: 2000, ringTimeoutMs: 15000,
        announcePeriodMs: 30000, expansion: [{ afterMs: 60000, add: [{ skill: 'orders', minLevel: 1 }] }],
      },
      {
        id: 'service', name: 'Customer service', minLevel: 50, strategy: 'skillLevel', wrapUpMs: 2000, ringTimeoutMs: 15000,
        announcePeriodMs: 30000, expansion: [{ afterMs: 60000, add: [{ skill: 'service', minLevel: 1 }] }],
      },
      {
        id: 'vip', name: 'VIP customers', strategy: 'skillLevel', serviceLevelMs: 10000, wrapUpMs: 2000, ringTimeoutMs: 15000,
        announcePeriodMs: 30000, expansion: [{ afterMs: 15000, add: [{ skill: 'orders', minLevel: 50 }] }],
      },
    ],
    flows: {
      'greeting-orders': [{ play: 'welcome' }, toOrders],
      'main-menu': [
        { play: 'welcome' },
        {
          menu: {
            prompt: 'menu',
            options: { 1: toOrders, 2: { queue: 'service' }, 3: { callback: 'orders' } },
            timeoutSeconds: 5,
            retries: 2,
            invalidPrompt: 'invalid-choice',
          },
        },
        toOrders,
      ],
    },
    numbers: {
      100: { flow: 'greeting-orders', programme: 'demo-shopping-hour' },
      200: { flow: 'main-menu', programme: 'demo-shopping-hour' },
      default: { flow: 'main-menu' },
    },
  };
}
