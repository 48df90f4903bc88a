/**
 * The overlay node component: registers this node's network with the chosen backend, publishes the lease on
 * the Node (annotations under overlay.twill.dev/), then runs until stopped — a Node informer records that
 * something changed and one sync at a time hands the backend every remote lease, so a burst of events costs
 * one sync, a node that joins is written on every other node as soon as its lease is published, and a Node
 * that is deleted (or loses its lease) has its entries removed everywhere. A failed sync is retried.
 *
 * Also writes `<data dir>/overlay/subnet.env` as flannel writes /run/flannel/subnet.env (TWILL_SUBNET,
 * TWILL_MTU, TWILL_BACKEND), for whatever configures pods' MTU.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Counter, Gauge } from 'prom-client';
import type { NodeComponent, NodeComponentFactory, NodeContext } from '../agent/components.js';
import { Informer } from '../client/informer.js';
import { Resources } from '../client/rest.js';
import { addrList, routeList } from '../linux/addr.js';
import { linkGet } from '../linux/link.js';
import type { KubeObject } from '../model/types.js';
import { ErrorCodes, TwillError } from '../util/errors.js';
import { logger } from '../util/log.js';
import { metricsRegistry } from '../util/metrics.js';
import type { OverlayBackend, OverlayNetwork, Underlay } from './backend.js';
import { hostGwBackend } from './hostgw.js';
import {
  BACKEND_TYPES,
  type BackendType,
  type Lease,
  leaseAnnotations,
  leaseOfNode,
  podCIDRsOfNode,
} from './lease.js';
import { vxlanBackend } from './vxlan.js';
import { MASQ_TABLE, renderMasq } from './masq.js';
import { nftApply, nftDeleteTable } from '../linux/nft.js';
import { wireguardBackend } from './wireguard.js';

const log = logger('overlay');

const syncsTotal = new Counter({
  name: 'twill_overlay_syncs_total',
  help: 'Overlay syncs by result (ok, error).',
  labelNames: ['result'] as const,
  registers: [metricsRegistry],
});
const remoteNodes = new Gauge({
  name: 'twill_overlay_remote_nodes',
  help: 'Remote nodes the overlay of this node has entries for.',
  labelNames: ['node'] as const,
  registers: [metricsRegistry],
});

export interface OverlayFlags {
  /** vxlan (default) | host-gw | wireguard. */
  backend?: string;
  /** The underlay device; default: the one holding the node IP, else the default route's. */
  iface?: string;
  vxlanPort?: number;
  vni?: number;
  /** Masquerade pods' traffic to outside the cluster (default true). */
  ipMasq?: boolean;
  /** The cluster's pod ranges (`--cluster-cidr`); default: every podCIDR the Nodes name. */
  clusterCIDRs?: string[];
}

export function checkBackend(name: string | undefined): BackendType {
  const b = (name ?? 'vxlan') as BackendType;
  if (!BACKEND_TYPES.includes(b)) {
    throw new TwillError(
      ErrorCodes.BadConfig,
      `--backend: expected one of ${BACKEND_TYPES.join(', ')}, got "${name}"`,
    );
  }
  return b;
}

export function backendFor(flags: OverlayFlags): OverlayBackend {
  switch (checkBackend(flags.backend)) {
    case 'vxlan':
      return vxlanBackend({ vni: flags.vni, port: flags.vxlanPort });
    case 'host-gw':
      return hostGwBackend();
    case 'wireguard':
      return wireguardBackend();
  }
}

/** The underlay: the device holding the node IP (or `iface`), its address, prefix and MTU. */
export async function findUnderlay(ctx: NodeContext, iface?: string): Promise<Underlay> {
  const { netns } = ctx;
  const addrs = (await addrList({ netns, family: 4 })).filter((a) => a.scope === 'global');
  let a = iface
    ? addrs.find((x) => x.dev === iface)
    : ctx.nodeIP
      ? addrs.find((x) => x.address === ctx.nodeIP)
      : undefined;
  if (!a && !iface) {
    const dflt = (await routeList({ netns, family: 4 })).find((r) => r.dst === 'default');
    a = addrs.find((x) => x.dev === dflt?.dev);
  }
  if (!a) {
    throw new TwillError(
      ErrorCodes.BadConfig,
      `overlay: no underlay device found (${iface ? `--iface ${iface} has no IPv4 address` : `no device holds the node IP ${ctx.nodeIP ?? '(none)'} and there is no default route`})`,
    );
  }
  const link = await linkGet(a.dev, { netns });
  return { dev: a.dev, ip: a.address, prefixlen: a.prefixlen, mtu: link.mtu };
}

/** The remote leases among the Nodes (pure): every published lease but this node's. */
export function remoteLeases(nodes: KubeObject[], self: string): Lease[] {
  return nodes
    .filter((n) => n.metadata.name !== self)
    .map(leaseOfNode)
    .filter((l): l is Lease => l !== undefined)
    .sort((a, b) => a.nodeName.localeCompare(b.nodeName));
}

/** flannel's subnet.env, with twill's names (pure). */
export function subnetEnv(lease: Lease, mtu: number): string {
  return `TWILL_SUBNET=${lease.podCIDRs.join(',')}\nTWILL_MTU=${mtu}\nTWILL_BACKEND=${lease.backendType}\n`;
}

export interface OverlayComponent extends NodeComponent {
  readonly network: OverlayNetwork;
  /** Resolves once every change seen so far has been synced (for tests). */
  settled(): Promise<void>;
}

export async function startOverlay(ctx: NodeContext, flags: OverlayFlags): Promise<OverlayComponent> {
  const t0 = Date.now();
  const backend = backendFor(flags);
  const underlay = await findUnderlay(ctx, flags.iface);
  const dataDir = path.join(ctx.dataDir, 'overlay');
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });

  const informer = new Informer<KubeObject>(ctx.client, Resources.nodes);
  let wake: (() => void) | undefined;
  let dirty = true;
  informer.addEventHandler({
    onAdd: () => kick(),
    onUpdate: (o, n) => {
      // Heartbeats change only status: nothing for the overlay.
      if (
        JSON.stringify(o.metadata.annotations) !== JSON.stringify(n.metadata.annotations) ||
        JSON.stringify(podCIDRsOfNode(o)) !== JSON.stringify(podCIDRsOfNode(n)) ||
        o.metadata.deletionTimestamp !== n.metadata.deletionTimestamp
      )
        kick();
    },
    onDelete: () => kick(),
  });
  function kick() {
    dirty = true;
    wake?.();
  }
  informer.start();
  await informer.waitForSync();

  const podCIDRs = ctx.podCIDRs.filter((c) => !c.includes(':'));
  let network: OverlayNetwork;
  try {
    network = await backend.registerNetwork(
      { nodeName: ctx.nodeName, podCIDRs, underlay, netns: ctx.netns, dataDir },
      remoteLeases(informer.list(), ctx.nodeName),
    );
  } catch (err) {
    await informer.stop();
    throw err;
  }
  try {
    await publishLease(ctx, network.lease);
  } catch (err) {
    await informer.stop();
    await network.close(false);
    throw err;
  }
  fs.writeFileSync(path.join(dataDir, 'subnet.env'), subnetEnv(network.lease, network.mtu));
  log.info(
    {
      node: ctx.nodeName,
      backend: backend.type,
      underlay: underlay.dev,
      mtu: network.mtu,
      ms: Date.now() - t0,
    },
    'overlay network registered',
  );

  let stopped = false;
  let running = false;
  let masqScript = '';
  let mismatched = '';
  const syncOnce = async () => {
    dirty = false;
    const remotes = remoteLeases(informer.list(), ctx.nodeName);
    const r = await network.sync(remotes);
    // flannel does not mix backends either: a node on another backend gets nothing from this one.
    const other = remotes
      .filter((l) => l.backendType !== backend.type)
      .map((l) => `${l.nodeName} (${l.backendType})`);
    if (other.join() !== mismatched) {
      mismatched = other.join();
      if (other.length)
        log.error(
          { node: ctx.nodeName, backend: backend.type, others: other },
          'nodes on another overlay backend are not reachable from this one',
        );
    }
    if (flags.ipMasq !== false) {
      const script = renderMasq({
        podCIDRs,
        clusterCIDRs: flags.clusterCIDRs ?? [...podCIDRs, ...informer.list().flatMap(podCIDRsOfNode)],
      });
      if (script !== masqScript) {
        await nftApply(script, { tables: [MASQ_TABLE], netns: ctx.netns });
        masqScript = script;
      }
    }
    remoteNodes.set({ node: ctx.nodeName }, remotes.length - new Set(r.refused.map((x) => x.node)).size);
    for (const x of r.refused) log.error({ node: ctx.nodeName, remote: x.node }, x.reason);
    if (r.added || r.removed)
      log.info({ node: ctx.nodeName, added: r.added, removed: r.removed }, 'overlay synced');
  };
  // First sync before start returns: entries for every known node exist before any pod runs.
  await syncOnce();
  syncsTotal.inc({ result: 'ok' });

  const loop = (async () => {
    while (!stopped) {
      if (!dirty) {
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
        continue;
      }
      running = true;
      try {
        await syncOnce();
        syncsTotal.inc({ result: 'ok' });
      } catch (err) {
        syncsTotal.inc({ result: 'error' });
        log.warn({ node: ctx.nodeName, err: (err as Error).message }, 'overlay sync failed; retrying');
        dirty = true;
        await new Promise<void>((r) => {
          const t = setTimeout(r, 1000);
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
      } finally {
        running = false;
      }
    }
  })();

  return {
    name: 'overlay',
    network,
    podMTU: network.mtu,
    async settled() {
      while (!stopped && (dirty || running)) await new Promise((r) => setTimeout(r, 20));
    },
    async stop(opts) {
      stopped = true;
      wake?.();
      await informer.stop();
      await loop;
      await network.close(opts?.teardown === true);
      if (opts?.teardown) await nftDeleteTable(MASQ_TABLE, { netns: ctx.netns });
      if (opts?.teardown) fs.rmSync(path.join(dataDir, 'subnet.env'), { force: true });
    },
  };
}

/** Merge-patches the lease's annotations onto the Node, when they differ. */
async function publishLease(ctx: NodeContext, lease: Lease): Promise<void> {
  const want = leaseAnnotations(lease);
  const node = await ctx.client.get(Resources.nodes, undefined, ctx.nodeName);
  const have = node.metadata.annotations ?? {};
  if (Object.entries(want).every(([k, v]) => have[k] === v)) return;
  await ctx.client.patch(
    Resources.nodes,
    undefined,
    ctx.nodeName,
    { metadata: { annotations: want } },
    'merge',
  );
}

/** The factory src/node/components.ts lists first. */
export function overlayComponent(flags: OverlayFlags): NodeComponentFactory {
  checkBackend(flags.backend);
  return (ctx) => startOverlay(ctx, flags);
}
