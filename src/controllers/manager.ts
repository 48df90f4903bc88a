/**
 * The controller manager: leader election on the Lease kube-system/twill-controller-manager and, while this
 * process leads, the EndpointSlice/Endpoints and namespace controllers and the pod scheduler. Several `twill server` processes on one
 * etcd each call startControllers; one leads, the others stand by and take over within a lease duration
 * (15 s) when the leader dies, or at once when it stops cleanly (it releases the lease).
 */
import { ApiClient, Resources, isAlreadyExists } from '../client/rest.js';
import { logger } from '../util/log.js';
import { EndpointSliceController } from './endpointslice/controller.js';
import { NamespaceController } from './namespace/controller.js';
import { LeaderElector } from './leader/election.js';
import { SchedulerController } from './scheduler/controller.js';
import { NodeLifecycleController } from './nodelifecycle/controller.js';
import { LoadBalancerController } from './loadbalancer/controller.js';

const log = logger('controller-manager');

export const LeaseNamespace = 'kube-system';
export const LeaseName = 'twill-controller-manager';

export interface ControllerManagerOptions {
  client: ApiClient;
  /** Unique per process: host name, pid, port. */
  identity: string;
  /** Leader election timings (defaults: 15 s lease, 10 s renew deadline, 2 s retry), for tests. */
  leaseDurationSeconds?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Retry backoff of the EndpointSlice controller (default 1 s base). */
  endpointSliceBackoffMs?: number;
  /** Node lifecycle: a node silent this long is deleted and its podCIDR reclaimed (default 24 h; 0: never). */
  nodeReclaimGracePeriodMs?: number;
  /** Node lifecycle: a node silent this long turns Ready Unknown (default 40 s). */
  nodeMonitorGracePeriodMs?: number;
  /** `--lb-pool`: LoadBalancer ingress addresses (none: LoadBalancer Services stay pending). */
  lbPools?: string[];
}

export interface ControllerManager {
  /** True while this process leads and runs the controllers. */
  isLeader(): boolean;
  stop(): Promise<void>;
}

export async function startControllers(opts: ControllerManagerOptions): Promise<ControllerManager> {
  const { client } = opts;
  let running:
    | {
        slices: EndpointSliceController;
        namespaces: NamespaceController;
        scheduler: SchedulerController;
        nodes: NodeLifecycleController;
        lb?: LoadBalancerController;
      }
    | undefined;
  let starting: Promise<void> | undefined;

  const startAll = async () => {
    const slices = new EndpointSliceController({ client, baseBackoffMs: opts.endpointSliceBackoffMs });
    const namespaces = new NamespaceController({ client });
    const scheduler = new SchedulerController({ client });
    const nodes = new NodeLifecycleController({
      client,
      reclaimGracePeriodMs: opts.nodeReclaimGracePeriodMs,
      monitorGracePeriodMs: opts.nodeMonitorGracePeriodMs,
    });
    const lb = opts.lbPools?.length ? new LoadBalancerController({ client, pools: opts.lbPools }) : undefined;
    running = { slices, namespaces, scheduler, nodes, lb };
    await Promise.all([slices.start(), namespaces.start(), scheduler.start(), nodes.start(), lb?.start()]);
    log.info({ identity: opts.identity }, 'controllers running');
  };
  const stopAll = async () => {
    const r = running;
    running = undefined;
    // Stopping the informers first also releases a start that is still waiting for its first list.
    if (r)
      await Promise.all([
        r.slices.stop(),
        r.namespaces.stop(),
        r.scheduler.stop(),
        r.nodes.stop(),
        r.lb?.stop(),
      ]);
    await starting?.catch(() => undefined);
  };

  // The lease lives in kube-system; the API server creates it at start, this only covers older data dirs.
  await client
    .create(Resources.namespaces, undefined, { metadata: { name: LeaseNamespace } })
    .catch((err) => {
      if (!isAlreadyExists(err))
        log.warn({ err: (err as Error).message }, 'cannot ensure namespace kube-system');
    });

  const elector = new LeaderElector({
    client,
    namespace: LeaseNamespace,
    name: LeaseName,
    identity: opts.identity,
    leaseDurationSeconds: opts.leaseDurationSeconds,
    renewDeadlineMs: opts.renewDeadlineMs,
    retryPeriodMs: opts.retryPeriodMs,
    onStartedLeading: () => {
      starting = startAll();
      return starting;
    },
    onStoppedLeading: () => stopAll(),
    onNewLeader: (id) => log.info({ leader: id, me: opts.identity }, 'new leader'),
  });
  elector.start();
  return {
    isLeader: () => elector.isLeader() && running !== undefined,
    stop: async () => {
      await elector.stop();
      await stopAll();
    },
  };
}
