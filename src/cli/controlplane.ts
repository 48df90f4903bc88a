/**
 * The control plane in one process, what `twill up` and `twill server` run: the store, the API server with its
 * PKI and token, the allocation hooks (ClusterIPs, NodePorts, podCIDRs), the objects every cluster has from
 * the start (the kube-system, kube-public, kube-node-lease and default namespaces; the default/kubernetes
 * Service and its endpoints), a compactor that keeps store history bounded, and the controllers.
 * The admin kubeconfig is written only once the API answers.
 */
import fs from 'node:fs';
import os from 'node:os';
import type { Store } from '../store/types.js';
import { openStore } from '../store/index.js';
import { ensurePki, ensureTokens } from '../api/tls.js';
import { startApiServer } from '../api/server.js';
import type { ApiServer } from '../api/server.js';
import type { HookRegistry } from '../api/hooks.js';
import { ApiError } from '../api/status.js';
import { byResource } from '../model/registry.js';
import type { KubeObject } from '../model/types.js';
import { createServiceHooks, firstServiceIP } from '../controllers/allocation/services.js';
import { createNodeHooks } from '../controllers/allocation/nodes.js';
import { repairAllocations, startAllocationRepair } from '../controllers/allocation/repair.js';
import { writeKubeconfig } from '../client/kubeconfig.js';
import { ApiClient } from '../client/rest.js';
import { startControllers } from '../controllers/manager.js';
import { parsePools } from '../controllers/loadbalancer/controller.js';
import { kubeconfigPath } from '../util/paths.js';
import { logger } from '../util/log.js';
import { ErrorCodes, TwillError } from '../util/errors.js';

const log = logger('controlplane');

export interface ControlPlaneOptions {
  dataDir: string;
  /** HOST:PORT; port 0 picks a free one (tests). */
  apiListen: string;
  /** 'sqlite', 'memory', 'etcd://host:port,...' */
  store: string;
  serviceCIDRs: string[];
  clusterCIDRs: string[];
  nodePortRange?: { min: number; max: number };
  /** `--lb-pool`: LoadBalancer ingress addresses, one CIDR per family. */
  lbPools?: string[];
  /** Run the controllers (with leader election). Default true. */
  controllers?: boolean;
  /** Node lifecycle: how long a silent node keeps its podCIDR (default 24 h; 0: forever). */
  nodeReclaimGracePeriodMs?: number;
  /** Node lifecycle: how long a silent node stays Ready before it turns Unknown (default 40 s). */
  nodeMonitorGracePeriodMs?: number;
  /** How often the compactor runs, ms (default 5 minutes, as kube-apiserver compacts etcd). */
  compactIntervalMs?: number;
}

export interface ControlPlane {
  url: string;
  kubeconfigPath: string;
  adminToken: string;
  caPem: string;
  store: Store;
  api: ApiServer;
  stop(): Promise<void>;
}

export const DEFAULTS = {
  apiListen: '127.0.0.1:6443',
  serviceCIDR: '10.96.0.0/12',
  clusterCIDR: '10.244.0.0/16',
  nodePortRange: { min: 30000, max: 32767 },
};

export function parseHostPort(s: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(s);
  if (!m) throw new TwillError(ErrorCodes.BadConfig, `--api-listen: expected HOST:PORT, got "${s}"`);
  return { host: m[1] || '0.0.0.0', port: Number(m[2]) };
}

function ignoreExists(err: unknown): void {
  if (err instanceof ApiError && (err.code === 409 || err.reason === 'AlreadyExists')) return;
  throw err;
}

function isLoopback(ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.') || ip === 'localhost';
}

async function bootstrap(api: ApiServer, serviceIP: string, endpointIP: string, port: number): Promise<void> {
  const s = api.storage;
  const ns = byResource('', 'namespaces')!;
  for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
    await s.create({ rt: ns }, { metadata: { name } }).catch(ignoreExists);
  }
  const svc: KubeObject = {
    metadata: {
      name: 'kubernetes',
      namespace: 'default',
      labels: { component: 'apiserver', provider: 'kubernetes' },
    },
    spec: {
      type: 'ClusterIP',
      clusterIP: serviceIP,
      ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: port }],
      sessionAffinity: 'None',
    },
  };
  // Look first: creating it again would try to allocate its ClusterIP again, which the allocator refuses
  // before the store can say the name exists.
  const services = byResource('', 'services')!;
  const existing = await s
    .get({ rt: services, namespace: 'default', name: 'kubernetes' })
    .catch(() => undefined);
  if (!existing) await s.create({ rt: services, namespace: 'default' }, svc).catch(ignoreExists);
  // kube-apiserver maintains these itself (the endpoint reconciler): the API's own address. A loopback
  // address is no endpoint (Kubernetes validation refuses it, and no pod could reach it), so an API that
  // listens on loopback alone leaves the kubernetes Service without endpoints.
  if (isLoopback(endpointIP)) return;
  const family = endpointIP.includes(':') ? 'IPv6' : 'IPv4';
  const slice: KubeObject = {
    metadata: {
      name: 'kubernetes',
      namespace: 'default',
      labels: {
        'kubernetes.io/service-name': 'kubernetes',
        'endpointslice.kubernetes.io/managed-by': 'endpointslicemirroring-controller.k8s.io',
      },
    },
    addressType: family,
    endpoints: [{ addresses: [endpointIP], conditions: { ready: true } }],
    ports: [{ name: 'https', port, protocol: 'TCP' }],
  };
  await s
    .create({ rt: byResource('discovery.k8s.io', 'endpointslices')!, namespace: 'default' }, slice)
    .catch(ignoreExists);
  const endpoints: KubeObject = {
    metadata: {
      name: 'kubernetes',
      namespace: 'default',
      labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' },
    },
    subsets: [{ addresses: [{ ip: endpointIP }], ports: [{ name: 'https', port, protocol: 'TCP' }] }],
  };
  await s.create({ rt: byResource('', 'endpoints')!, namespace: 'default' }, endpoints).catch(ignoreExists);
}

/**
 * Compacts history older than one interval: each tick compacts to the revision seen at the previous tick, so
 * a watcher that fell behind by less than an interval can always resume (kube-apiserver's scheme).
 */
function startCompactor(store: Store, intervalMs: number): () => void {
  let last = 0;
  const timer = setInterval(() => {
    void (async () => {
      try {
        const current = await store.currentRevision();
        if (last > 0) await store.compact(last);
        last = current;
      } catch (err) {
        log.warn({ err }, 'compaction failed');
      }
    })();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  fs.mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const { host, port } = parseHostPort(opts.apiListen);
  if (opts.lbPools) parsePools(opts.lbPools); // a bad --lb-pool fails the start, not the first leadership
  const store = await openStore(opts.store, opts.dataDir);
  const cleanups: (() => Promise<void> | void)[] = [() => store.close()];
  const stopAll = async () => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        log.warn({ err }, 'shutdown step failed');
      }
    }
  };
  try {
    const serviceIP = firstServiceIP(opts.serviceCIDRs[0]);
    const pki = await ensurePki(opts.dataDir, [host, serviceIP]);
    const { adminToken, tokens } = ensureTokens(opts.dataDir);
    const hooks: HookRegistry = new Map();
    hooks.set(
      '/services',
      createServiceHooks(store, {
        serviceCIDRs: opts.serviceCIDRs,
        nodePortRange: opts.nodePortRange ?? DEFAULTS.nodePortRange,
      }),
    );
    hooks.set('/nodes', createNodeHooks(store, { clusterCIDRs: opts.clusterCIDRs }));
    const api = await startApiServer({
      store,
      host,
      port,
      tls: { certPem: pki.certPem, keyPem: pki.keyPem },
      tokens,
      hooks,
    });
    cleanups.push(() => api.close());
    // With a wildcard listen address the API's own endpoint is loopback: the host's uplink address is not for
    // cluster traffic (node agents that need another address publish their own route to the API).
    const endpointIP = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
    await bootstrap(api, serviceIP, endpointIP, api.port);
    await repairAllocations(store);
    // Again every few minutes: a server killed between an allocation and its object write leaks the item
    // until a repair sees that no object owns it.
    cleanups.push(startAllocationRepair(store));
    cleanups.push(startCompactor(store, opts.compactIntervalMs ?? 5 * 60_000));

    const url = api.url;
    const kcPath = kubeconfigPath(opts.dataDir);
    writeKubeconfig(kcPath, { server: url, caPem: pki.caPem, token: adminToken, clusterName: 'twill' });
    if (opts.controllers !== false) {
      const client = new ApiClient({
        server: url,
        caData: pki.caPem,
        token: adminToken,
        userAgent: 'twill-controller-manager',
      });
      const ctrl = await startControllers({
        client,
        identity: `${os.hostname()}_${process.pid}_${api.port}`,
        nodeReclaimGracePeriodMs: opts.nodeReclaimGracePeriodMs,
        nodeMonitorGracePeriodMs: opts.nodeMonitorGracePeriodMs,
        lbPools: opts.lbPools,
      });
      cleanups.push(() => ctrl.stop());
    }
    log.info({ url, kubeconfig: kcPath, store: store.kind }, 'control plane ready');
    return { url, kubeconfigPath: kcPath, adminToken, caPem: pki.caPem, store, api, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
