/**
 * The node agent (twill's kubelet): registers its Node, learns the podCIDR, and runs the pods bound to it.
 *
 * A pod is a sandbox — a network namespace `twill-<node>-<uid first 8>` attached by the CNI conflist through
 * ./cni.ts exactly as a runtime attaches one (containerID = the pod UID, ifName eth0) — plus one process per
 * container started with `ip netns exec`, which also bind-mounts /etc/netns/<ns>/ as a pause container's
 * view would. Each pod has one key in a work queue; informer events and process exits only enqueue it, and
 * one sync at a time per pod converges the world: tear down a sandbox whose pod is gone or recreated, terminate
 * a pod being deleted (SIGTERM, grace period, SIGKILL, CNI DEL, namespace gone, then the API delete with grace
 * 0 that ends a graceful delete), else make the sandbox, (re)start containers as restartPolicy and the
 * crash-loop backoff allow, and write the status if it changed.
 *
 * At start, before any pod is synced: namespaces named for this node that no pod owns are emptied and removed,
 * their attachments deleted, and CNI GC runs with the attachments of the pods that remain, so an agent killed
 * mid-ADD leaks no address. Processes left by a previous agent in a live pod's namespace are killed and the
 * containers started again (their restart counts go on from the stored status).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { conflist } from '../cni/install/install.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Informer } from '../client/informer.js';
import { type ApiClient, Resources, isNotFound, objectKey } from '../client/rest.js';
import { WorkQueue, runWorkers } from '../client/workqueue.js';
import { run } from '../linux/exec.js';
import * as bridgeFuncs from '../cni/bridge/plugin.js';
import { ipamPlugin } from '../cni/ipam/plugin.js';
import * as portmapFuncs from '../cni/portmap/portmap.js';
import { SOCKET_ENV, startThickServer } from '../cni/thick/server.js';
import { netnsAdd, netnsDelete, netnsExists, netnsKillAll } from '../linux/netns.js';
import type { KubeObject } from '../model/types.js';
import { logger } from '../util/log.js';
import {
  type NodeComponent,
  type NodeComponentFactory,
  startComponents,
  stopComponents,
} from './components.js';
import {
  type HostAlias,
  type PodDNSSpec,
  hostsFile,
  podResolverConfig,
  removePodEtcFiles,
  resolvConfText,
  writePodEtcFiles,
} from './etcfiles.js';
import { ContainerProbes, type Probe, type ProbeKind } from './probe.js';
import { CniRuntime, type NetworkConfigList, type RuntimeConf, loadDefaultConfList } from './cni.js';
import { podCIDRFileText, podCIDRsOf, registerNode, updateNodeStatus, writeFileAtomic } from './node.js';
import {
  type ContainerView,
  type PodView,
  type RestartPolicy,
  podPhase,
  podStatus,
  restartBackoffMs,
  shouldRestart,
} from './status.js';

const log = logger('agent');

export interface AgentOptions {
  client: ApiClient;
  nodeName: string;
  /** State: CNI result cache, container logs, IPAM reservations (in the conflist the agent writes). */
  dataDir: string;
  /** CNI_PATH: one directory or several (twill-cni and twill-ipam, the reference plugins). */
  cniBinDir: string | string[];
  /** Where the conflist is read from (and written to when there is none). */
  cniConfDir: string;
  /** The file twill-ipam reads the podCIDRs from; default <dataDir>/cni/podcidr. */
  podCIDRFile?: string;
  /** The node's address: status.addresses InternalIP, pods' hostIP, hostNetwork pods' podIP. */
  nodeIP?: string;
  /** Bridge of the conflist the agent writes when there is none; default twill0. */
  bridge?: string;
  /** ipMasq of that conflist; default false. */
  ipMasq?: boolean;
  /** Node heartbeat; default 10 s, as the kubelet's nodeStatusUpdateFrequency. */
  heartbeatMs?: number;
  /**
   * The node's network namespace (`twill up --nodes`): CNI plugins, and with them the bridge and the pods'
   * host-side veths, and hostNetwork pods' processes run in it; pod sandboxes are named `<netns>-<uid8>`.
   * Undefined: the namespace the agent runs in (a real host).
   */
  netns?: string;
  /**
   * What runs beside the pods on this node (overlay, Services dataplane, NetworkPolicy): started in order once
   * the Node has its podCIDRs and before any pod is synced; see ./components.ts.
   */
  components?: NodeComponentFactory[];
  /**
   * Serve twill's plugins' requests in-process over `<dataDir>/cni/twill.sock` (src/cni/thick/); default true.
   * False: every plugin exec runs the plugin itself.
   */
  thickPlugin?: boolean;
  /** The cluster DNS address(es) for ClusterFirst pods (the kubelet's --cluster-dns); default 10.96.0.10. */
  clusterDNS?: string[];
  /** The cluster domain (--cluster-domain); default cluster.local. */
  clusterDomain?: string;
  /** The node's resolver config for dnsPolicy Default (the kubelet's --resolv-conf); default /etc/resolv.conf. */
  resolvConf?: string;
}

export interface Agent {
  readonly nodeName: string;
  readonly podCIDRs: string[];
  /** The namespace a pod's sandbox lives in. */
  netnsFor(pod: KubeObject): string;
  /**
   * Stops watching and heartbeats and ends the container processes (SIGTERM, then SIGKILL after 2 s); the
   * sandboxes stay, so a restarted agent takes its pods over. With `teardown`, the node components also remove
   * their kernel state (`twill up` on exit).
   */
  stop(opts?: { teardown?: boolean }): Promise<void>;
}

/**
 * The netns of a pod: found by `twill down` and by a restarted agent from the node name alone. Inside a node
 * namespace (`nodeNetns`) the pod's is named after it, so that clusters on one machine never share names.
 */
export function podNetnsName(nodeName: string, uid: string, nodeNetns?: string): string {
  return `${nodeNetns ?? `twill-${nodeName}`}-${uid.replace(/-/g, '').slice(0, 8)}`;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The conflist the agent writes when the conf dir has none: install-cni's list (twill-cni with twill-ipam on the
 * podCIDR, then twill-portmap for hostPorts) at cniVersion 1.1.0, since the agent runs GC and STATUS (which
 * Debian's reference portmap, speaking up to 1.0.0, could not be chained for).
 */
export function defaultConfList(o: {
  bridge: string;
  ipMasq: boolean;
  ipamDataDir: string;
  podCIDRFile: string;
  /** Pods' interface MTU (the overlay's); default: the plugin's (the bridge's or 1500). */
  mtu?: number;
}) {
  return conflist({
    bridge: o.bridge,
    mtu: o.mtu,
    ipMasq: o.ipMasq,
    portmap: true,
    cniVersion: '1.1.0',
    ipam: { dataDir: o.ipamDataDir, podCIDRFile: o.podCIDRFile },
  });
}

/**
 * How `twill run --net` set up a pod's network, recorded on the Pod: `bridge` (the CNI network, also what a pod
 * without the annotation gets), `host` (spec.hostNetwork), `none` (a namespace with only loopback, no CNI ADD)
 * or `container:<pod>` (the namespace of that pod, in the same Kubernetes namespace and on the same node).
 */
export const NetworkAnnotation = 'twill.dev/network';

export type NetworkMode =
  { kind: 'bridge' } | { kind: 'host' } | { kind: 'none' } | { kind: 'container'; pod: string };

export function networkMode(pod: KubeObject): NetworkMode {
  if ((pod.spec as PodSpec | undefined)?.hostNetwork) return { kind: 'host' };
  const a = pod.metadata.annotations?.[NetworkAnnotation];
  if (a === 'none') return { kind: 'none' };
  if (a?.startsWith('container:') && a.length > 'container:'.length) {
    return { kind: 'container', pod: a.slice('container:'.length) };
  }
  return { kind: 'bridge' };
}

/**
 * The `portMappings` capability argument, as containerd builds it from the pod's ports: every container port
 * with a hostPort, protocol in lower case, hostIP when given.
 */
export function portMappings(
  pod: KubeObject,
): Array<{ hostPort: number; containerPort: number; protocol: string; hostIP?: string }> {
  const out: Array<{ hostPort: number; containerPort: number; protocol: string; hostIP?: string }> = [];
  for (const c of ((pod.spec as PodSpec | undefined)?.containers ?? []) as ContainerSpec[]) {
    for (const p of c.ports ?? []) {
      if (!p.hostPort || p.hostPort <= 0) continue;
      out.push({
        hostPort: p.hostPort,
        containerPort: p.containerPort,
        protocol: (p.protocol ?? 'TCP').toLowerCase(),
        ...(p.hostIP ? { hostIP: p.hostIP } : {}),
      });
    }
  }
  return out;
}

/** A container's argv: command + args (no image entrypoint exists here: twill runs host binaries). */
export function containerArgv(c: { command?: string[]; args?: string[] }): string[] {
  return [...(c.command ?? []), ...(c.args ?? [])];
}

interface ContainerSpec {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath?: string } } }>;
  ports?: Array<{
    name?: string;
    containerPort: number;
    hostPort?: number;
    protocol?: string;
    hostIP?: string;
  }>;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
}

interface PodSpec {
  nodeName?: string;
  hostNetwork?: boolean;
  restartPolicy?: RestartPolicy;
  terminationGracePeriodSeconds?: number;
  hostname?: string;
  subdomain?: string;
  dnsPolicy?: string;
  dnsConfig?: PodDNSSpec['dnsConfig'];
  hostAliases?: HostAlias[];
  containers?: ContainerSpec[];
}

interface RunningContainer {
  view: ContainerView;
  proc?: ChildProcess;
  exited?: Promise<void>;
  /** The probes of the current run (./probe.ts). */
  probes?: ContainerProbes;
  /** When the next start may happen (crash-loop backoff). */
  notBefore: number;
}

interface PodRuntime {
  uid: string;
  key: string;
  hostNetwork: boolean;
  netns?: string;
  /** The namespace is another pod's (`container:<pod>`): never deleted with this pod. */
  sharedNetns?: boolean;
  /** No CNI attachment (`none`, `container:<pod>`). */
  noCni?: boolean;
  podIPs: string[];
  sandboxReady: boolean;
  startTime: string;
  containers: Map<string, RunningContainer>;
  lastStatus?: string;
  /** Set when a terminal phase was reached and the sandbox was released. */
  finished: boolean;
}

const nowIso = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

/** Values of env valueFrom.fieldRef the agent knows without more API reads. */
function fieldRefValue(
  pod: KubeObject,
  rt: PodRuntime,
  nodeIP: string | undefined,
  fieldPath: string,
): string {
  const spec = (pod.spec ?? {}) as PodSpec;
  switch (fieldPath) {
    case 'metadata.name':
      return pod.metadata.name ?? '';
    case 'metadata.namespace':
      return pod.metadata.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata.uid ?? '';
    case 'spec.nodeName':
      return spec.nodeName ?? '';
    case 'status.podIP':
      return rt.podIPs[0] ?? '';
    case 'status.podIPs':
      return rt.podIPs.join(',');
    case 'status.hostIP':
    case 'status.hostIPs':
      return nodeIP ?? '';
    default:
      return '';
  }
}

/** Signals a process group; a group that is gone already is fine. */
function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const bridgePlugin = {
  add: bridgeFuncs.cmdAdd,
  del: bridgeFuncs.cmdDel,
  check: bridgeFuncs.cmdCheck,
  gc: bridgeFuncs.cmdGC,
  status: bridgeFuncs.cmdStatus,
};
const portmapPlugin = {
  add: portmapFuncs.cmdAdd,
  del: portmapFuncs.cmdDel,
  check: portmapFuncs.cmdCheck,
  gc: portmapFuncs.cmdGC,
  status: portmapFuncs.cmdStatus,
};

export async function startAgent(opts: AgentOptions): Promise<Agent> {
  const { client, nodeName } = opts;
  const dataDir = path.resolve(opts.dataDir);
  const podCIDRFile = opts.podCIDRFile ?? path.join(dataDir, 'cni', 'podcidr');
  const binDirs = Array.isArray(opts.cniBinDir) ? opts.cniBinDir : [opts.cniBinDir];
  // The thick plugin: twill's plugins, exec'd as any plugin, hand their requests to this process.
  const thick =
    opts.thickPlugin === false
      ? undefined
      : await startThickServer({
          socketPath: path.join(dataDir, 'cni', 'twill.sock'),
          plugins: { 'twill-cni': bridgePlugin, 'twill-ipam': ipamPlugin, 'twill-portmap': portmapPlugin },
          netns: opts.netns,
        });
  const cni = new CniRuntime({
    binDirs,
    cacheDir: path.join(dataDir, 'cni', 'cache'),
    netns: opts.netns,
    extraEnv: thick ? { [SOCKET_ENV]: thick.socketPath } : {},
  });
  const logDir = path.join(dataDir, 'pods');
  const clusterDNS = opts.clusterDNS ?? ['10.96.0.10'];
  const clusterDomain = opts.clusterDomain ?? 'cluster.local';
  const nsPattern = new RegExp(`^${escapeRe(opts.netns ?? `twill-${nodeName}`)}-[0-9a-f]{8}$`);
  const podNetns = (uid: string) => podNetnsName(nodeName, uid, opts.netns);
  let stopped = false;

  // 1. The Node and its podCIDRs.
  let node = await registerNode(client, nodeName);
  for (let i = 0; podCIDRsOf(node).length === 0; i++) {
    if (i % 20 === 0) log.info({ node: nodeName }, 'waiting for the Node to get a podCIDR');
    await sleep(500);
    node = await client.get(Resources.nodes, undefined, nodeName);
  }
  const podCIDRs = podCIDRsOf(node);
  writeFileAtomic(podCIDRFile, podCIDRFileText(nodeName, podCIDRs));

  // 2. The node components (overlay, Services, NetworkPolicy), before any pod needs them; the overlay's MTU
  // sets the pods' (flannel's subnet.env).
  let components: NodeComponent[];
  try {
    components = await startComponents(opts.components ?? [], {
      client,
      nodeName,
      node,
      podCIDRs,
      nodeIP: opts.nodeIP,
      netns: opts.netns,
      dataDir,
    });
  } catch (err) {
    await thick?.close();
    throw err;
  }
  const podMTUs = components.map((c) => c.podMTU).filter((m): m is number => m !== undefined);
  const podMTU = podMTUs.length > 0 ? Math.min(...podMTUs) : undefined;

  // 2b. The network config: the conf dir's first, or ours.
  fs.mkdirSync(opts.cniConfDir, { recursive: true });
  if (!loadDefaultConfList(opts.cniConfDir)) {
    const conf = defaultConfList({
      bridge: opts.bridge ?? 'twill0',
      ipMasq: opts.ipMasq ?? false,
      ipamDataDir: path.join(dataDir, 'cni', 'networks'),
      podCIDRFile,
      mtu: podMTU,
    });
    writeFileAtomic(path.join(opts.cniConfDir, '10-twill.conflist'), JSON.stringify(conf, null, 2) + '\n');
  }
  const network: NetworkConfigList = loadDefaultConfList(opts.cniConfDir)!;

  // 3. Ready once the network plugin says it can serve ADDs (CNI STATUS), as the kubelet's NetworkReady.
  let networkReady = { ready: true, reason: 'KubeletReady', message: 'twill agent is posting ready status' };
  try {
    await cni.status(network);
  } catch (err) {
    networkReady = {
      ready: false,
      reason: 'KubeletNotReady',
      message: `container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: ${(err as Error).message}`,
    };
  }
  const heartbeat = () => updateNodeStatus(client, nodeName, { nodeIP: opts.nodeIP, ...networkReady });
  await heartbeat();
  const heartbeatTimer = setInterval(() => {
    heartbeat().catch((err) => log.warn({ err: (err as Error).message }, 'node status update failed'));
  }, opts.heartbeatMs ?? 10_000);
  heartbeatTimer.unref();

  // 4. Pods bound to this node.
  const runtimes = new Map<string, PodRuntime>();
  const queue = new WorkQueue({ baseDelayMs: 500, maxDelayMs: 30_000 });
  const informer = new Informer<KubeObject>(client, Resources.pods, {
    fieldSelector: `spec.nodeName=${nodeName}`,
  });
  informer.addEventHandler({
    onAdd: (p) => queue.add(objectKey(p.metadata)),
    onUpdate: (_o, p) => queue.add(objectKey(p.metadata)),
    onDelete: (p) => queue.add(objectKey(p.metadata)),
  });
  informer.start();
  await informer.waitForSync();

  const runtimeConf = (pod: KubeObject, netns: string): RuntimeConf => ({
    containerID: pod.metadata.uid!,
    netns: `/var/run/netns/${netns}`,
    ifName: 'eth0',
    // What the kubelet passes (pkg/kubelet/dockershim network plugin / CRI runtimes), for plugins that use it.
    args: [
      ['IgnoreUnknown', '1'],
      ['K8S_POD_NAMESPACE', pod.metadata.namespace ?? ''],
      ['K8S_POD_NAME', pod.metadata.name ?? ''],
      ['K8S_POD_INFRA_CONTAINER_ID', pod.metadata.uid!],
      ['K8S_POD_UID', pod.metadata.uid!],
    ],
    capabilityArgs: { portMappings: portMappings(pod) },
  });

  /** CNI DEL for an attachment (from its cache record when the pod object is gone) and the namespace. */
  async function releaseSandbox(containerID: string, netns: string): Promise<void> {
    const cached = cni.cached(network, { containerID, ifName: 'eth0', netns: '' });
    await cni.del(network, {
      containerID,
      ifName: 'eth0',
      netns: netnsExists(netns) ? `/var/run/netns/${netns}` : '',
      args: cached?.cniArgs,
      capabilityArgs: cached?.capabilityArgs,
    });
    await netnsDelete(netns);
    removePodEtcFiles(netns);
  }

  /** hosts and resolv.conf for the pod's namespace (./etcfiles.ts). */
  function writeEtcFiles(pod: KubeObject, netns: string, podIPs: string[]): void {
    const spec = (pod.spec ?? {}) as PodSpec;
    const dnsPod: PodDNSSpec = {
      namespace: pod.metadata.namespace ?? 'default',
      name: pod.metadata.name ?? '',
      hostNetwork: spec.hostNetwork,
      hostname: spec.hostname,
      subdomain: spec.subdomain,
      dnsPolicy: spec.dnsPolicy,
      dnsConfig: spec.dnsConfig,
      hostAliases: spec.hostAliases,
    };
    let nodeResolv = '';
    try {
      nodeResolv = fs.readFileSync(opts.resolvConf ?? '/etc/resolv.conf', 'utf8');
    } catch {
      // No node resolver config: Default gives an empty one.
    }
    const resolver = podResolverConfig(dnsPod, { resolvConf: nodeResolv, clusterDNS, clusterDomain });
    writePodEtcFiles(netns, {
      hosts: hostsFile(dnsPod, podIPs, clusterDomain),
      resolvConf: resolvConfText(resolver),
    });
  }

  // 5. What a previous agent left behind.
  const livePods = informer.list();
  const liveNs = new Map(livePods.map((p) => [podNetns(p.metadata.uid!), p]));
  const existing = fs.existsSync('/var/run/netns')
    ? fs.readdirSync('/var/run/netns').filter((n) => nsPattern.test(n))
    : [];
  for (const ns of existing) {
    if (liveNs.has(ns)) {
      await netnsKillAll(ns);
      continue;
    }
    await netnsKillAll(ns);
    const att = cni.cachedAttachments().find((a) => a.netns === `/var/run/netns/${ns}`);
    try {
      if (att) await releaseSandbox(att.containerId, ns);
      else {
        await netnsDelete(ns);
        removePodEtcFiles(ns);
      }
      log.info({ netns: ns }, 'removed the sandbox of a pod that is gone');
    } catch (err) {
      log.warn({ netns: ns, err: (err as Error).message }, 'could not remove a stale sandbox');
    }
  }
  const valid = livePods
    .filter((p) => !(p.spec as PodSpec).hostNetwork)
    .map((p) => ({ containerID: p.metadata.uid!, ifname: 'eth0' }));
  for (const err of await cni.gc(network, valid)) log.warn({ err: err.message }, 'CNI GC');

  // --- one pod's sync ---

  async function ensureSandbox(pod: KubeObject, rt: PodRuntime): Promise<void> {
    if (rt.sandboxReady) return;
    if (rt.hostNetwork) {
      rt.podIPs = opts.nodeIP ? [opts.nodeIP] : [];
      rt.sandboxReady = true;
      return;
    }
    const mode = networkMode(pod);
    if (mode.kind === 'container') {
      // Join the other pod's namespace once it has one (its sync makes it; this one is retried until then).
      const other = runtimes.get(`${pod.metadata.namespace}/${mode.pod}`);
      if (!other?.sandboxReady || !other.netns) {
        throw new Error(`the namespace of pod ${mode.pod} (--net container:${mode.pod}) is not ready`);
      }
      rt.netns = other.netns;
      rt.sharedNetns = true;
      rt.noCni = true;
      rt.podIPs = other.podIPs;
      rt.sandboxReady = true;
      return;
    }
    const netns = podNetns(rt.uid);
    rt.netns = netns;
    if (mode.kind === 'none') {
      if (!netnsExists(netns)) await netnsAdd(netns);
      await run(['ip', 'link', 'set', 'lo', 'up'], { netns });
      rt.noCni = true;
      rt.podIPs = [];
      writeEtcFiles(pod, netns, []);
      rt.sandboxReady = true;
      return;
    }
    const conf = runtimeConf(pod, netns);
    let result = netnsExists(netns) ? cni.cachedResult(network, conf) : undefined;
    if (!result) {
      if (!netnsExists(netns)) await netnsAdd(netns);
      // A pod's loopback is up, as CRI runtimes bring it up (the loopback plugin) before the network's ADD.
      await run(['ip', 'link', 'set', 'lo', 'up'], { netns });
      try {
        result = await cni.add(network, conf);
      } catch (err) {
        // As the kubelet: a failed sandbox is torn down (DEL is idempotent) and made again on the next sync.
        await cni.del(network, conf).catch(() => undefined);
        await netnsDelete(netns).catch(() => undefined);
        throw err;
      }
    }
    rt.podIPs = (result.ips ?? []).map((ip) => ip.address.split('/')[0]);
    writeEtcFiles(pod, netns, rt.podIPs);
    rt.sandboxReady = true;
  }

  function startContainer(pod: KubeObject, rt: PodRuntime, spec: ContainerSpec, rc: RunningContainer): void {
    const argv = containerArgv(spec);
    if (argv.length === 0) {
      rc.view.state = {
        kind: 'waiting',
        reason: 'CreateContainerError',
        message: 'no command: twill runs host binaries and has no image entrypoint',
      };
      return;
    }
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOSTNAME: pod.metadata.name,
    };
    for (const e of spec.env ?? []) {
      const ref = e.valueFrom?.fieldRef?.fieldPath;
      env[e.name] = ref ? fieldRefValue(pod, rt, opts.nodeIP, ref) : (e.value ?? '');
    }
    const dir = path.join(logDir, `${pod.metadata.namespace}_${pod.metadata.name}_${rt.uid}`, spec.name);
    fs.mkdirSync(dir, { recursive: true });
    const out = fs.openSync(path.join(dir, `${rc.view.restartCount}.log`), 'a');
    const inNs = rt.hostNetwork ? opts.netns : rt.netns;
    const full = inNs ? ['ip', 'netns', 'exec', inNs, ...argv] : argv;
    const startedAt = nowIso();
    const id = `twill://${rt.uid.slice(0, 8)}-${spec.name}-${rc.view.restartCount}`;
    let proc: ChildProcess;
    try {
      // Its own process group, so SIGTERM/SIGKILL reach whatever it forks.
      proc = spawn(full[0], full.slice(1), {
        env,
        cwd: spec.workingDir || undefined,
        detached: true,
        stdio: ['ignore', out, out],
      });
    } finally {
      fs.closeSync(out);
    }
    rc.proc = proc;
    rc.view.state = { kind: 'running', startedAt, id };
    rc.probes?.stop();
    rc.probes = undefined;
    if (spec.livenessProbe || spec.readinessProbe || spec.startupProbe) {
      const probes = new ContainerProbes(
        { startup: spec.startupProbe, liveness: spec.livenessProbe, readiness: spec.readinessProbe },
        Date.now(),
        () => ({
          // The kubelet probes the pod IP; a hostNetwork pod without a nodeIP is this host.
          podIP: rt.podIPs[0] ?? '127.0.0.1',
          enter: inNs ? ['ip', 'netns', 'exec', inNs] : [],
          ports: spec.ports,
          env,
        }),
        () => queue.add(rt.key),
        (kind, message) => livenessKill(pod, rt, spec, rc, proc, kind, message),
      );
      rc.probes = probes;
      probes.start();
    }
    rc.exited = new Promise<void>((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null, err?: Error) => {
        if (rc.proc !== proc) return resolve();
        rc.proc = undefined;
        rc.probes?.stop();
        rc.probes = undefined;
        const signum = signal ? (os.constants.signals[signal] ?? 0) : 0;
        const exitCode = code ?? (signum ? 128 + signum : 128);
        rc.view.state = {
          kind: 'terminated',
          exitCode: err ? 128 : exitCode,
          ...(signum ? { signal: signum } : {}),
          reason: exitCode === 0 && !err ? 'Completed' : err ? 'StartError' : 'Error',
          startedAt,
          finishedAt: nowIso(),
          id,
        };
        resolve();
        queue.add(rt.key);
      };
      proc.once('exit', (code, signal) => done(code, signal));
      proc.once('error', (err) => done(null, null, err));
    });
    log.info({ pod: rt.key, container: spec.name, pid: proc.pid }, 'container started');
  }

  /**
   * A liveness or startup probe failed: the kubelet kills the container (its grace period, or the probe's
   * terminationGracePeriodSeconds) and restartPolicy decides whether it runs again.
   */
  function livenessKill(
    pod: KubeObject,
    rt: PodRuntime,
    spec: ContainerSpec,
    rc: RunningContainer,
    proc: ChildProcess,
    kind: ProbeKind,
    message: string,
  ): void {
    const probe = kind === 'startup' ? spec.startupProbe : spec.livenessProbe;
    const grace =
      probe?.terminationGracePeriodSeconds ?? (pod.spec as PodSpec).terminationGracePeriodSeconds ?? 30;
    log.info(
      { pod: rt.key, container: spec.name, probe: kind, message: message.slice(0, 200) },
      `Container ${spec.name} failed ${kind} probe, will be restarted`,
    );
    killGroup(proc.pid, 'SIGTERM');
    const timer = setTimeout(() => {
      if (rc.proc === proc) killGroup(proc.pid, 'SIGKILL');
    }, grace * 1000);
    timer.unref();
  }

  async function stopContainers(rt: PodRuntime, graceMs: number): Promise<void> {
    for (const c of rt.containers.values()) {
      c.probes?.stop();
      c.probes = undefined;
    }
    const live = [...rt.containers.values()].filter((c) => c.proc);
    for (const c of live) killGroup(c.proc!.pid, 'SIGTERM');
    const all = Promise.all(live.map((c) => c.exited));
    const timedOut = await Promise.race([all.then(() => false), sleep(graceMs).then(() => true)]);
    if (timedOut) {
      for (const c of live) killGroup(c.proc?.pid, 'SIGKILL');
      await Promise.race([all, sleep(5_000)]);
    }
    // The group may hold children the container forked and left behind.
    for (const c of live) killGroup(c.proc?.pid, 'SIGKILL');
  }

  async function teardown(rt: PodRuntime, graceMs: number): Promise<void> {
    await stopContainers(rt, graceMs);
    if (rt.netns && !rt.sharedNetns) {
      await netnsKillAll(rt.netns);
      if (rt.noCni) {
        await netnsDelete(rt.netns);
        removePodEtcFiles(rt.netns);
      } else await releaseSandbox(rt.uid, rt.netns);
    }
    rt.sandboxReady = false;
  }

  async function writeStatus(pod: KubeObject, rt: PodRuntime): Promise<void> {
    for (const c of rt.containers.values()) {
      c.view.started = c.probes && c.view.state.kind === 'running' ? c.probes.started : undefined;
      c.view.ready = c.probes && c.view.state.kind === 'running' ? c.probes.ready : undefined;
    }
    const view: PodView = {
      restartPolicy: ((pod.spec as PodSpec).restartPolicy ?? 'Always') as RestartPolicy,
      sandboxReady: rt.sandboxReady,
      podIPs: rt.podIPs,
      hostIP: opts.nodeIP,
      startTime: rt.startTime,
      containers: [...rt.containers.values()].map((c) => c.view),
    };
    const status = podStatus(view, pod.status as Record<string, unknown>, nowIso());
    // Transition times aside, is there anything new to say?
    const text = JSON.stringify(status, (k, v) => (k === 'lastTransitionTime' ? undefined : v));
    if (text === rt.lastStatus) return;
    await client.patch(
      Resources.pods,
      pod.metadata.namespace,
      pod.metadata.name!,
      { metadata: { uid: rt.uid }, status },
      'merge',
      'status',
    );
    rt.lastStatus = text;
  }

  async function syncPod(key: string): Promise<void> {
    if (stopped) return;
    const pod = informer.get(key);
    const rt = runtimes.get(key);
    if (rt && (!pod || pod.metadata.uid !== rt.uid)) {
      // The pod is gone (deleted with grace 0 by someone else) or was recreated under its name.
      await teardown(rt, 0);
      runtimes.delete(key);
      if (pod) queue.add(key);
      return;
    }
    if (!pod) return;
    const spec = (pod.spec ?? {}) as PodSpec;
    let r = rt;
    if (!r) {
      const old = (pod.status ?? {}) as {
        startTime?: string;
        containerStatuses?: Array<{ name: string; restartCount?: number }>;
      };
      r = {
        uid: pod.metadata.uid!,
        key,
        hostNetwork: spec.hostNetwork === true,
        podIPs: [],
        sandboxReady: false,
        startTime: old.startTime ?? nowIso(),
        containers: new Map(),
        finished: false,
      };
      for (const c of spec.containers ?? []) {
        const prev = old.containerStatuses?.find((s) => s.name === c.name);
        // A previous agent ran it (its process was killed at start): this start is a restart.
        const restartCount = prev ? (prev.restartCount ?? 0) + 1 : 0;
        r.containers.set(c.name, {
          view: {
            name: c.name,
            image: c.image,
            restartCount,
            state: { kind: 'waiting', reason: 'ContainerCreating' },
          },
          notBefore: 0,
        });
      }
      runtimes.set(key, r);
    }

    if (pod.metadata.deletionTimestamp) {
      const grace = (pod.metadata.deletionGracePeriodSeconds ?? 30) * 1000;
      await teardown(r, grace);
      runtimes.delete(key);
      try {
        await client.delete(Resources.pods, pod.metadata.namespace, pod.metadata.name!, {
          gracePeriodSeconds: 0,
          preconditions: { uid: r.uid },
        });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      log.info({ pod: key }, 'pod terminated');
      return;
    }
    if (r.finished) return;

    try {
      await ensureSandbox(pod, r);
    } catch (err) {
      for (const c of r.containers.values()) {
        c.view.state = { kind: 'waiting', reason: 'ContainerCreating', message: (err as Error).message };
      }
      await writeStatus(pod, r).catch(() => undefined);
      throw err;
    }

    const policy = spec.restartPolicy ?? 'Always';
    let wakeIn = Infinity;
    for (const c of spec.containers ?? []) {
      const rc = r.containers.get(c.name);
      if (!rc || rc.proc) continue;
      const s = rc.view.state;
      if (s.kind === 'terminated') {
        if (!shouldRestart(policy, s.exitCode)) continue;
        if (!rc.notBefore) rc.notBefore = Date.now() + restartBackoffMs(rc.view.restartCount);
        const wait = rc.notBefore - Date.now();
        if (wait > 0) {
          rc.view.lastTerminated = s;
          rc.view.state = {
            kind: 'waiting',
            reason: 'CrashLoopBackOff',
            message: `back-off ${Math.round(restartBackoffMs(rc.view.restartCount) / 1000)}s restarting failed container=${c.name} pod=${pod.metadata.name}_${pod.metadata.namespace}(${r.uid})`,
          };
          wakeIn = Math.min(wakeIn, wait);
          continue;
        }
        rc.view.lastTerminated = s;
        rc.view.restartCount++;
      } else if (s.kind === 'waiting' && s.reason === 'CrashLoopBackOff') {
        const wait = rc.notBefore - Date.now();
        if (wait > 0) {
          wakeIn = Math.min(wakeIn, wait);
          continue;
        }
        rc.view.restartCount++;
      } else if (s.kind === 'waiting' && s.reason === 'CreateContainerError') continue;
      rc.notBefore = 0;
      startContainer(pod, r, c, rc);
    }
    if (wakeIn !== Infinity) queue.addAfter(key, wakeIn);

    const phase = podPhase({
      restartPolicy: policy,
      sandboxReady: true,
      podIPs: r.podIPs,
      containers: [...r.containers.values()].map((c) => c.view),
    });
    if ((phase === 'Succeeded' || phase === 'Failed') && !r.finished) {
      // The kubelet releases a finished pod's sandbox (and with it the address); the status keeps the IPs.
      if (r.netns && !r.sharedNetns) {
        if (r.noCni) {
          await netnsKillAll(r.netns);
          await netnsDelete(r.netns);
          removePodEtcFiles(r.netns);
        } else await releaseSandbox(r.uid, r.netns);
      }
      r.finished = true;
    }
    await writeStatus(pod, r);
  }

  const workers = runWorkers(
    queue,
    4,
    syncPod,
    (key, err, dropped) => log.warn({ pod: key, err: (err as Error).message, dropped }, 'pod sync failed'),
    1_000_000,
  );

  return {
    nodeName,
    podCIDRs,
    netnsFor: (pod) => podNetns(pod.metadata.uid!),
    async stop(stopOpts) {
      if (stopped) return;
      stopped = true;
      clearInterval(heartbeatTimer);
      await informer.stop();
      queue.shutDown();
      await workers;
      await Promise.all([...runtimes.values()].map((rt) => stopContainers(rt, 2_000)));
      await stopComponents(components, stopOpts);
      await thick?.close();
    },
  };
}
