/**
 * Node components: what runs beside the pod runtime on every node, each converging one part of the node's
 * kernel state from the API (the overlay backend, the Services dataplane, NetworkPolicy enforcement). The
 * agent starts them once the Node has its podCIDRs, in list order, and stops them in reverse order; a
 * component that fails to start stops the agent's start (what was started is stopped again).
 *
 * A component only talks to the API (through `client`) and to the kernel (through src/linux/, in `netns`).
 * It owns its own nftables table and its own links, and removes them in `stop()` only when `teardown` is
 * true: a stopped agent leaves the dataplane in place (a restarted agent takes it over, as kube-proxy and
 * flannel do), `twill down` removes it.
 */
import type { ApiClient } from '../client/rest.js';
import type { KubeObject } from '../model/types.js';

export interface NodeContext {
  client: ApiClient;
  nodeName: string;
  /** The Node as registered, with spec.podCIDRs set. */
  node: KubeObject;
  podCIDRs: string[];
  /** The node's own address (InternalIP); the underlay address on `twill up --nodes`. */
  nodeIP?: string;
  /**
   * The node's network namespace (`twill up --nodes`), or undefined on a real host (the agent's own
   * namespace). Every kernel change goes there.
   */
  netns?: string;
  /** The agent's state directory; a component keeps its files under `<dataDir>/<component name>/`. */
  dataDir: string;
}

export interface NodeComponent {
  readonly name: string;
  /** The largest MTU pods' interfaces may have on this node (the overlay's); the agent's conflist takes it. */
  readonly podMTU?: number;
  /** Stops watching; with `teardown`, also removes the kernel state the component made. */
  stop(opts?: { teardown?: boolean }): Promise<void>;
}

export type NodeComponentFactory = (ctx: NodeContext) => Promise<NodeComponent>;

/** Starts the factories in order; on a failure stops what started (reverse order) and rethrows. */
export async function startComponents(
  factories: NodeComponentFactory[],
  ctx: NodeContext,
): Promise<NodeComponent[]> {
  const started: NodeComponent[] = [];
  try {
    for (const f of factories) started.push(await f(ctx));
    return started;
  } catch (err) {
    await stopComponents(started);
    throw err;
  }
}

/** Stops components in reverse start order; every one is asked even when an earlier one fails. */
export async function stopComponents(
  components: NodeComponent[],
  opts?: { teardown?: boolean },
): Promise<void> {
  const errors: unknown[] = [];
  for (const c of [...components].reverse()) {
    try {
      await c.stop(opts);
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length > 0) throw errors[0];
}
