/**
 * The node's Lease, as the kubelet keeps it: `kube-node-lease/<node>` (coordination.k8s.io/v1), holder the
 * node, leaseDurationSeconds 40, renewTime moved every 10 s (a quarter of the duration), owned by the Node so
 * it goes with it. The node lifecycle controller (src/controllers/nodelifecycle/) reads it: a node whose lease
 * has not moved for the reclaim grace period is deleted, and its podCIDR with it. The renewer runs in every
 * agent as a node component; a stopped agent stops renewing, which is the whole signal.
 */
import type { NodeComponent, NodeComponentFactory, NodeContext } from '../agent/components.js';
import { Resources, isConflict, isNotFound } from '../client/rest.js';
import type { KubeObject } from '../model/types.js';
import { logger } from '../util/log.js';

const log = logger('overlay');

export const NODE_LEASE_NAMESPACE = 'kube-node-lease';
export const NODE_LEASE_DURATION_SECONDS = 40;

export interface NodeLeaseOptions {
  durationSeconds?: number;
  /** Default: a quarter of the duration (the kubelet's renewInterval). */
  renewIntervalMs?: number;
}

/** MicroTime as the API writes it: RFC 3339 with microseconds. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

/** The Lease object for a node (pure). */
export function nodeLeaseObject(node: KubeObject, durationSeconds: number, nowMs: number): KubeObject {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: node.metadata.name,
      namespace: NODE_LEASE_NAMESPACE,
      ownerReferences: [
        { apiVersion: 'v1', kind: 'Node', name: node.metadata.name!, uid: node.metadata.uid! },
      ],
    },
    spec: {
      holderIdentity: node.metadata.name,
      leaseDurationSeconds: durationSeconds,
      renewTime: microTime(nowMs),
    },
  };
}

/** Renews once: creates the Lease when missing, else moves renewTime (retried once on conflict). */
export async function renewNodeLease(ctx: NodeContext, durationSeconds: number): Promise<KubeObject> {
  const c = ctx.client;
  const name = ctx.nodeName;
  for (let attempt = 0; ; attempt++) {
    let lease: KubeObject;
    try {
      lease = await c.get(Resources.leases, NODE_LEASE_NAMESPACE, name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const node = await c.get(Resources.nodes, undefined, name);
      return c.create(
        Resources.leases,
        NODE_LEASE_NAMESPACE,
        nodeLeaseObject(node, durationSeconds, Date.now()),
      );
    }
    const spec = {
      ...(lease.spec as object),
      holderIdentity: name,
      leaseDurationSeconds: durationSeconds,
      renewTime: microTime(Date.now()),
    };
    try {
      return await c.update(Resources.leases, NODE_LEASE_NAMESPACE, { ...lease, spec });
    } catch (err) {
      if (!isConflict(err) || attempt >= 1) throw err;
    }
  }
}

export function nodeLeaseComponent(o: NodeLeaseOptions = {}): NodeComponentFactory {
  const duration = o.durationSeconds ?? NODE_LEASE_DURATION_SECONDS;
  const every = o.renewIntervalMs ?? (duration * 1000) / 4;
  return async (ctx): Promise<NodeComponent> => {
    await renewNodeLease(ctx, duration);
    const timer = setInterval(() => {
      renewNodeLease(ctx, duration).catch((err) =>
        log.warn({ node: ctx.nodeName, err: (err as Error).message }, 'node lease renewal failed'),
      );
    }, every);
    timer.unref();
    return {
      name: 'node-lease',
      async stop() {
        clearInterval(timer);
      },
    };
  };
}
