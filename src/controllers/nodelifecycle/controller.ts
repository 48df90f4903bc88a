/**
 * Node lifecycle: reclaims the podCIDR of a node that is gone. A node is alive while its agent renews its
 * Lease in kube-node-lease (src/overlay/nodelease.ts) or posts its Ready heartbeat; as
 * kube-controller-manager's node lifecycle controller does, liveness is judged from when *this controller saw*
 * the lease or heartbeat change (its own clock), never from the timestamps in them, so clock skew between
 * machines cannot expire a live node, and a controller that just took over gives every node a full period.
 *
 * A node silent for the monitor grace period (40 s) has its Ready condition set to Unknown
 * (NodeStatusUnknown, "Kubelet stopped posting node status.") so `kubectl get nodes` says NotReady, as
 * kube-controller-manager does; its agent's next heartbeat sets it back. A node that shows no sign of life for
 * the reclaim grace period is deleted — with preconditions on its uid
 * and resourceVersion, so a node that renewed in the meantime is never deleted — and the API's delete hook
 * releases its podCIDR (src/controllers/allocation); its Lease goes with it. flannel's subnet leases do the
 * same with a TTL (24 h); a restarted agent within the period finds its Node and gets the same podCIDR back.
 */
import { Informer } from '../../client/informer.js';
import { type ApiClient, Resources, isConflict, isNotFound } from '../../client/rest.js';
import type { KubeObject } from '../../model/types.js';
import { logger } from '../../util/log.js';

const log = logger('node-lifecycle');

export const NODE_LEASE_NAMESPACE = 'kube-node-lease';
/** flannel's subnet lease TTL. */
export const DEFAULT_RECLAIM_GRACE_MS = 24 * 3600 * 1000;

/** What says a node lives (pure): its lease's renewTime and holder, its Ready heartbeat. */
export function livenessSignal(node: KubeObject, lease: KubeObject | undefined): string {
  const ready = (
    (node.status as { conditions?: Array<{ type: string; lastHeartbeatTime?: string }> } | undefined)
      ?.conditions ?? []
  ).find((c) => c.type === 'Ready');
  const spec = (lease?.spec ?? {}) as { renewTime?: string; holderIdentity?: string };
  return `${node.metadata.uid}|${spec.holderIdentity ?? ''}|${spec.renewTime ?? ''}|${ready?.lastHeartbeatTime ?? ''}`;
}

export interface Observation {
  signal: string;
  /** When this controller saw the signal change (its clock). */
  atMs: number;
}

/**
 * Updates the observations and returns the nodes past the grace period (pure, given nowMs): a new node or a
 * changed signal starts a fresh period.
 */
export function expiredNodes(
  nodes: KubeObject[],
  leaseOf: (name: string) => KubeObject | undefined,
  seen: Map<string, Observation>,
  nowMs: number,
  graceMs: number,
): KubeObject[] {
  const out: KubeObject[] = [];
  const names = new Set<string>();
  for (const n of nodes) {
    const name = n.metadata.name!;
    names.add(name);
    const signal = livenessSignal(n, leaseOf(name));
    const prev = seen.get(name);
    if (!prev || prev.signal !== signal) {
      seen.set(name, { signal, atMs: nowMs });
      continue;
    }
    if (!n.metadata.deletionTimestamp && nowMs - prev.atMs >= graceMs) out.push(n);
  }
  for (const k of [...seen.keys()]) if (!names.has(k)) seen.delete(k);
  return out;
}

/** Nodes silent for at least ms whose Ready condition is not Unknown yet (pure; `seen` as expiredNodes left it). */
export function silentNodes(
  nodes: KubeObject[],
  seen: Map<string, Observation>,
  nowMs: number,
  ms: number,
): KubeObject[] {
  return nodes.filter((n) => {
    const o = seen.get(n.metadata.name!);
    const ready = (
      (n.status as { conditions?: Array<{ type: string; status: string }> } | undefined)?.conditions ?? []
    ).find((c) => c.type === 'Ready');
    return o && nowMs - o.atMs >= ms && ready && ready.status !== 'Unknown' && !n.metadata.deletionTimestamp;
  });
}

/** The Node's status with Ready Unknown, as kube-controller-manager writes it for a silent kubelet (pure). */
export function readyUnknown(
  status: Record<string, unknown> | undefined,
  now: string,
): Record<string, unknown> {
  const conditions = ((status?.conditions as Array<Record<string, unknown>> | undefined) ?? []).map((c) =>
    c.type === 'Ready'
      ? {
          ...c,
          status: 'Unknown',
          reason: 'NodeStatusUnknown',
          message: 'Kubelet stopped posting node status.',
          lastTransitionTime: now,
        }
      : c,
  );
  return { ...(status ?? {}), conditions };
}

export interface NodeLifecycleOptions {
  client: ApiClient;
  /** --node-monitor-grace-period: silent this long, the node's Ready turns Unknown (default 40 s). */
  monitorGracePeriodMs?: number;
  /** How long a node may show no sign of life before it is deleted and its podCIDR reclaimed; 0 disables. */
  reclaimGracePeriodMs?: number;
  /** How often to look; default a quarter of the grace period, between 200 ms and 10 s. */
  periodMs?: number;
}

export class NodeLifecycleController {
  private readonly nodes: Informer<KubeObject>;
  private readonly leases: Informer<KubeObject>;
  private readonly seen = new Map<string, Observation>();
  private timer?: NodeJS.Timeout;
  private busy = false;
  readonly graceMs: number;

  constructor(private readonly opts: NodeLifecycleOptions) {
    this.graceMs = opts.reclaimGracePeriodMs ?? DEFAULT_RECLAIM_GRACE_MS;
    this.nodes = new Informer(opts.client, Resources.nodes);
    this.leases = new Informer(opts.client, Resources.leases, { namespace: NODE_LEASE_NAMESPACE });
  }

  async start(): Promise<void> {
    if (this.graceMs <= 0) return;
    this.nodes.start();
    this.leases.start();
    await Promise.all([this.nodes.waitForSync(), this.leases.waitForSync()]);
    const period = this.opts.periodMs ?? Math.min(10_000, Math.max(200, this.graceMs / 4));
    this.timer = setInterval(() => void this.tick(), period);
    this.timer.unref();
    void this.tick();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([this.nodes.stop(), this.leases.stop()]);
  }

  private async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const expired = expiredNodes(
        this.nodes.list(),
        (name) => this.leases.getByName(NODE_LEASE_NAMESPACE, name),
        this.seen,
        Date.now(),
        this.graceMs,
      );
      for (const n of expired) await this.reclaim(n);
      const silent = silentNodes(
        this.nodes.list(),
        this.seen,
        Date.now(),
        this.opts.monitorGracePeriodMs ?? 40_000,
      );
      for (const n of silent) {
        const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
        await this.opts.client
          .updateStatus(Resources.nodes, undefined, {
            ...n,
            status: readyUnknown(n.status as Record<string, unknown>, now),
          })
          .then(() => log.info({ node: n.metadata.name }, 'node stopped posting status: Ready Unknown'))
          .catch((err) =>
            log.debug({ node: n.metadata.name, err: (err as Error).message }, 'cannot mark the node Unknown'),
          );
      }
    } finally {
      this.busy = false;
    }
  }

  private async reclaim(n: KubeObject): Promise<void> {
    const name = n.metadata.name!;
    // Read both again: a renewal the informers have not delivered yet still counts.
    const fresh = await this.opts.client.get(Resources.nodes, undefined, name).catch(() => undefined);
    const lease = await this.opts.client
      .get(Resources.leases, NODE_LEASE_NAMESPACE, name)
      .catch(() => undefined);
    if (!fresh || livenessSignal(fresh, lease) !== this.seen.get(name)?.signal) return;
    n = fresh;
    try {
      await this.opts.client.delete(Resources.nodes, undefined, name, {
        preconditions: { uid: n.metadata.uid, resourceVersion: n.metadata.resourceVersion },
      });
      log.info(
        { node: name, podCIDRs: (n.spec as { podCIDRs?: string[] })?.podCIDRs, graceMs: this.graceMs },
        'node gone past its grace period: deleted, podCIDR reclaimed',
      );
    } catch (err) {
      // Renewed or changed since we looked: alive after all.
      if (isConflict(err) || isNotFound(err)) return;
      log.warn({ node: name, err: (err as Error).message }, 'cannot delete an expired node');
      return;
    }
    this.seen.delete(name);
    await this.opts.client.delete(Resources.leases, NODE_LEASE_NAMESPACE, name).catch(() => undefined);
  }
}
