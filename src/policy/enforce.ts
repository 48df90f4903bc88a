/**
 * NetworkPolicy enforcement on one node, as a NodeComponent: informers on NetworkPolicies, Pods and Namespaces
 * only record that something changed; one sync loop renders the whole table (render.ts, pure) and applies it
 * with one `nft -f` transaction in the node's namespace: the whole table on the first sync and after a failure,
 * otherwise only what differs from the last applied table (render.ts partialScript), nothing when nothing does
 * (pod status churn costs one render, no kernel work). The kube-proxy nftables pattern.
 */
import type { NodeComponent, NodeComponentFactory, NodeContext } from '../agent/components.js';
import { Informer } from '../client/informer.js';
import { Resources } from '../client/rest.js';
import { LinuxErrorCodes, isLinuxError } from '../linux/exec.js';
import { nftApply, nftDeleteTable, nftListTable } from '../linux/nft.js';
import { sysctlWrite } from '../linux/sysctl.js';
import type { KubeObject } from '../model/types.js';
import { ErrorCodes, TwillError } from '../util/errors.js';
import { logger } from '../util/log.js';
import { denialText, newDenials, parseDenials, podsByIP } from './denials.js';
import { policyMetrics } from './metrics.js';
import {
  POLICY_TABLE,
  fullScript,
  partialScript,
  renderTable,
  type PolicyTable,
  type RenderOptions,
} from './render.js';
import { stateFromObjects } from './semantics.js';

const log = logger('policy');

export interface PolicyEnforcerOptions {
  deny?: RenderOptions['deny'];
  /** Also send denials to this nflog group (rate-limited); default none. */
  logGroup?: number | null;
  /** Changes arriving within this time are applied together (default 10 ms). */
  batchMs?: number;
  /** How often the denial record is read into the agent's log (default 5000 ms; 0: never). */
  denialLogMs?: number;
}

export interface PolicyEnforcer extends NodeComponent {
  /** Resolves once everything seen so far is in the kernel (for tests). */
  synced(): Promise<void>;
  /** How many transactions were applied. */
  readonly applied: number;
}

export async function startPolicyEnforcer(
  ctx: NodeContext,
  opts: PolicyEnforcerOptions = {},
): Promise<PolicyEnforcer> {
  const netns = ctx.netns;
  // Pods of one node share a bridge: without bridge-nf-call-iptables their packets would never reach the inet
  // forward hook. The sysctl is per network namespace.
  for (const key of ['net/bridge/bridge-nf-call-iptables', 'net/bridge/bridge-nf-call-ip6tables']) {
    try {
      await sysctlWrite(key, '1', { netns });
    } catch (err) {
      if (!isLinuxError(err, LinuxErrorCodes.NotFound)) throw err;
      log.warn({ key }, 'br_netfilter is not loaded: traffic between pods on one bridge is not filtered');
    }
  }
  const informers = {
    policies: new Informer<KubeObject>(ctx.client, Resources.networkpolicies),
    pods: new Informer<KubeObject>(ctx.client, Resources.pods),
    namespaces: new Informer<KubeObject>(ctx.client, Resources.namespaces),
  };
  const metrics = policyMetrics();
  const renderOpts: RenderOptions = {
    nodeName: ctx.nodeName,
    deny: opts.deny,
    logGroup: opts.logGroup ?? undefined,
  };

  let generation = 0; // bumped by every change
  let appliedGeneration = -1;
  let lastTable: PolicyTable | undefined;
  let applied = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let waiters: Array<{ gen: number; resolve: () => void }> = [];

  const sync = async () => {
    const gen = generation;
    const started = process.hrtime.bigint();
    const state = stateFromObjects(
      informers.policies.list(),
      informers.pods.list(),
      informers.namespaces.list(),
    );
    const table = renderTable(state, renderOpts);
    // A partial transaction from what the kernel holds when we know it; the whole table otherwise.
    const partial = lastTable ? partialScript(lastTable, table) : undefined;
    const script = partial ?? fullScript(table);
    if (script !== '') {
      await nftApply(script, { tables: [POLICY_TABLE], netns });
      applied++;
      const kind = partial === undefined ? 'full' : 'partial';
      metrics.syncs.inc({ node: ctx.nodeName, kind });
      metrics.duration.observe({ node: ctx.nodeName, kind }, Number(process.hrtime.bigint() - started) / 1e9);
      metrics.policies.set({ node: ctx.nodeName }, state.policies.length);
      log.debug(
        { node: ctx.nodeName, kind, policies: state.policies.length, bytes: script.length },
        'policy table synced',
      );
    }
    lastTable = table;
    appliedGeneration = gen;
    const done = waiters.filter((w) => w.gen <= gen);
    waiters = waiters.filter((w) => w.gen > gen);
    for (const w of done) w.resolve();
  };

  const schedule = (delay = opts.batchMs ?? 10) => {
    if (stopped || timer || running) return;
    timer = setTimeout(() => {
      timer = undefined;
      running = sync()
        .catch((err: Error) => {
          lastTable = undefined; // the next sync applies in full
          metrics.errors.inc({ node: ctx.nodeName });
          log.error({ node: ctx.nodeName, err: err.message }, 'policy sync failed; retrying');
          return new Promise<void>((r) => setTimeout(r, 1000).unref());
        })
        .finally(() => {
          running = undefined;
          if (appliedGeneration < generation) schedule();
        });
    }, delay);
  };
  let live = false; // before the first sync, changes only count
  const changed = () => {
    generation++;
    if (live) schedule();
  };
  for (const inf of Object.values(informers)) {
    inf.addEventHandler({ onAdd: changed, onUpdate: changed, onDelete: changed });
    inf.start();
  }
  await Promise.all(Object.values(informers).map((i) => i.waitForSync()));
  // The first sync runs here, in full: a failure (no nft, no permission) fails the component's start.
  try {
    running = sync();
    await running;
  } catch (err) {
    await Promise.all(Object.values(informers).map((i) => i.stop()));
    throw err;
  } finally {
    running = undefined;
  }
  live = true;
  if (appliedGeneration < generation) schedule();
  const synced = () =>
    appliedGeneration >= generation
      ? Promise.resolve()
      : new Promise<void>((resolve) => waiters.push({ gen: generation, resolve }));
  log.info({ node: ctx.nodeName, netns }, 'NetworkPolicy enforcement started');

  // The agent's log of denials: read the kernel's denial record now and then, log what is new.
  const pollMs = opts.denialLogMs ?? 5000;
  const seen = new Map<string, number>();
  let polling = false;
  const denialTimer =
    pollMs > 0
      ? setInterval(() => {
          // No isolated pod on this node, no denials to read.
          if (polling || stopped || !lastTable || lastTable.chains.size === 0) return;
          polling = true;
          nftListTable(POLICY_TABLE, { netns })
            .then((objs) => {
              const fresh = newDenials(parseDenials(objs), seen, pollMs / 1000);
              if (fresh.length === 0) return;
              const byIP = podsByIP(stateFromObjects([], informers.pods.list(), []).pods);
              for (const d of fresh) {
                metrics.denials.inc({ node: ctx.nodeName, direction: d.direction });
                log.info({ node: ctx.nodeName, direction: d.direction }, denialText(d, byIP));
              }
            })
            .catch((err: Error) => log.debug({ err: err.message }, 'reading the denial record failed'))
            .finally(() => (polling = false));
        }, pollMs)
      : undefined;
  denialTimer?.unref();

  return {
    name: 'policy',
    get applied() {
      return applied;
    },
    synced,
    async stop(o) {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (denialTimer) clearInterval(denialTimer);
      await Promise.all(Object.values(informers).map((i) => i.stop()));
      await running;
      for (const w of waiters) w.resolve();
      if (o?.teardown) await nftDeleteTable(POLICY_TABLE, { netns });
    },
  };
}

/** The factory for src/node/components.ts. */
export function policyComponent(opts: PolicyEnforcerOptions = {}): NodeComponentFactory {
  return (ctx) => startPolicyEnforcer(ctx, opts);
}

/** `--network-policy-deny`: what a denied packet gets, `drop` (the default) or `reject`. */
export function policyDenyFlag(v: unknown): 'drop' | 'reject' {
  if (v === undefined || v === 'drop') return 'drop';
  if (v === 'reject') return 'reject';
  throw new TwillError(
    ErrorCodes.BadConfig,
    `--network-policy-deny: expected drop or reject, got "${String(v)}"`,
  );
}
