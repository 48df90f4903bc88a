/**
 * The plugin chain order, as CoreDNS's plugin.cfg: whatever order a Corefile lists directives in, a server block's
 * chain runs them in this order. The rule behind it: plugins that only observe or serve HTTP come first (reload,
 * ready, health, prometheus), then those that wrap the answer (errors, log, loadbalance), then the cache (so it
 * sits in front of everything that produces answers), then autopath (which re-runs what follows it), then the
 * data sources (kubernetes), then loop (which must see queries that came back) and forward last, for what nobody
 * else answered.
 */
import type { Directive } from './corefile/parse.js';
import type { HttpEndpoint } from './http.js';
import type { Plugin, SetupContext } from './plugin.js';
import { setupAutopath } from './plugins/autopath/plugin.js';
import { setupCache } from './plugins/cache/plugin.js';
import { setupErrors } from './plugins/errors/plugin.js';
import { setupForward } from './plugins/forward/plugin.js';
import { setupHealth } from './plugins/health/plugin.js';
import { setupKubernetes } from './plugins/kubernetes/plugin.js';
import { setupLoadbalance } from './plugins/loadbalance/plugin.js';
import { setupLog } from './plugins/log/plugin.js';
import { setupLoop } from './plugins/loop/plugin.js';
import { setupPrometheus } from './plugins/prometheus/plugin.js';
import { setupReady } from './plugins/ready/plugin.js';
import { setupReload } from './plugins/reload/plugin.js';

export interface SetupEnv {
  endpoint(addr: string): HttpEndpoint;
  logSink?: (line: string) => void;
}

type SetupFn = (d: Directive, ctx: SetupContext, env: SetupEnv) => Plugin;

/** name → setup, in chain order. */
export const pluginOrder: [string, SetupFn][] = [
  ['reload', (d) => setupReload(d)],
  ['ready', (d, ctx, env) => setupReady(d, ctx, env.endpoint)],
  ['health', (d, ctx, env) => setupHealth(d, ctx, env.endpoint)],
  ['prometheus', (d, ctx, env) => setupPrometheus(d, ctx, env.endpoint)],
  ['errors', (d) => setupErrors(d)],
  ['log', (d, _ctx, env) => setupLog(d, env.logSink)],
  ['loadbalance', (d) => setupLoadbalance(d)],
  ['cache', (d, ctx) => setupCache(d, ctx)],
  ['autopath', (d, ctx) => setupAutopath(d, ctx)],
  ['kubernetes', (d, ctx) => setupKubernetes(d, ctx)],
  ['loop', (d, ctx) => setupLoop(d, ctx)],
  ['forward', (d, ctx) => setupForward(d, ctx)],
];

export const pluginRank = new Map(pluginOrder.map(([n], i) => [n, i]));
