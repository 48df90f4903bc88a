/**
 * The twill command. Errors are one line on stderr and a non-zero exit; logs (JSON) go to stderr too.
 */
import { Command, Option } from 'commander';
import { defaultDataDir } from '../util/paths.js';
import { ErrorCodes, TwillError } from '../util/errors.js';
import { ApiError } from '../api/status.js';
import { ClientApiError } from '../client/rest.js';
import { DEFAULTS, startControlPlane } from './controlplane.js';
import { registerClientCommands } from './client-commands.js';
import { registerWorkloadCommands } from '../netexec/cli.js';
import { registerAgentCommand } from '../agent/cli.js';
import { registerPodCommands } from '../agent/pod-commands.js';
import { registerPolicyCommands } from '../policy/cli.js';
import { clusterDNSAddress } from '../dns/kubedns.js';
import { DEFAULT_DNS_LISTEN, checkListen, registerDnsCommand, startControlPlaneDns } from '../dns/cli.js';
import { installCni } from '../cni/install/install.js';
import { versionInfo } from '../api/discovery.js';
import { startLocalNodes, type LocalNodes } from '../node/cluster.js';
import { nodeComponents } from '../node/components.js';
import { checkBackend } from '../overlay/component.js';
import { parseGoDuration } from '../netexec/protocol.js';
import { startEtcdCluster, type EtcdCluster } from '../store/etcd-cluster.js';
import path from 'node:path';
import {
  DEFAULT_CLUSTER_NAME,
  DEFAULT_UNDERLAY_CIDR,
  checkClusterName,
  removeTopology,
} from '../node/topology.js';

function splitList(v: string): string[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function addControlPlaneOptions(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', 'where state, PKI and the kubeconfig live', defaultDataDir())
    .option('--api-listen <host:port>', 'address of the API server', DEFAULTS.apiListen)
    .option('--store <spec>', 'sqlite (default), or etcd://HOST:PORT[,HOST:PORT...]', 'sqlite')
    .option('--service-cidr <cidrs>', 'Service ClusterIP range(s), CIDR[,CIDR6]', DEFAULTS.serviceCIDR)
    .option(
      '--cluster-cidr <cidrs>',
      'pod range(s) split into node podCIDRs, CIDR[,CIDR6]',
      DEFAULTS.clusterCIDR,
    )
    .option('--service-node-port-range <min-max>', 'NodePort range', '30000-32767')
    .option(
      '--node-reclaim-grace-period <duration>',
      'how long a node may be gone (no lease renewal, no heartbeat) before it is deleted and its podCIDR reclaimed (0: never)',
      '24h',
    )
    .option(
      '--lb-pool <cidrs>',
      'LoadBalancer ingress addresses, CIDR[,CIDR6] (none: LoadBalancers stay pending)',
    );
}

function nodePortRange(s: string): { min: number; max: number } {
  const m = /^(\d+)-(\d+)$/.exec(s);
  if (!m || Number(m[1]) > Number(m[2]) || Number(m[2]) > 65535) {
    throw new TwillError(ErrorCodes.BadConfig, `--service-node-port-range: expected MIN-MAX, got "${s}"`);
  }
  return { min: Number(m[1]), max: Number(m[2]) };
}

function reclaimGrace(s: string): number {
  try {
    const ms = parseGoDuration(s);
    if (ms >= 0) return ms;
    throw new Error('negative');
  } catch {
    throw new TwillError(
      ErrorCodes.BadConfig,
      `--node-reclaim-grace-period: expected a duration such as 24h or 90s, got "${s}"`,
    );
  }
}

/** `twill up --etcd N`: a local N-member etcd cluster under <data-dir>/etcd (kept, and reused next time). */
async function startLocalEtcd(o: Record<string, string>): Promise<EtcdCluster | undefined> {
  if (o.etcd === undefined) return undefined;
  const n = Number(o.etcd);
  if (!Number.isInteger(n) || n < 1 || n > 7) {
    throw new TwillError(ErrorCodes.BadConfig, `--etcd: expected 1 to 7 members, got "${o.etcd}"`);
  }
  if (o.store !== 'sqlite') {
    throw new TwillError(
      ErrorCodes.BadConfig,
      '--etcd starts the store itself: it cannot be used with --store',
    );
  }
  const etcd = await startEtcdCluster({ members: n, dataDir: path.join(o.dataDir, 'etcd') });
  for (const m of etcd.members) {
    process.stdout.write(`twill: etcd member ${m.name} at ${m.clientUrl}, pid ${m.pid}, log ${m.logFile}\n`);
  }
  return etcd;
}

async function runControlPlane(
  o: Record<string, string>,
  extra: { nodes?: number; dnsListen?: string },
): Promise<void> {
  const nodes = extra.nodes ?? 0;
  if (!Number.isInteger(nodes) || nodes < 0 || nodes > 200) {
    throw new TwillError(ErrorCodes.BadConfig, `--nodes: expected 0 to 200, got "${o.nodes}"`);
  }
  if (nodes > 0) checkClusterName(o.clusterName);
  if (nodes > 0) checkBackend(o.backend);
  if (extra.dnsListen && extra.dnsListen !== 'off') checkListen(extra.dnsListen, '--dns-listen');
  const clusterDNS = clusterDNSAddress(splitList(o.serviceCidr)[0]);
  const etcd = await startLocalEtcd(o);
  let cp: Awaited<ReturnType<typeof startControlPlane>>;
  try {
    cp = await startControlPlane({
      dataDir: o.dataDir,
      apiListen: o.apiListen,
      store: etcd ? `etcd://${etcd.endpoints.map((e) => e.replace(/^https?:\/\//, '')).join(',')}` : o.store,
      serviceCIDRs: splitList(o.serviceCidr),
      clusterCIDRs: splitList(o.clusterCidr),
      nodePortRange: nodePortRange(o.serviceNodePortRange),
      nodeReclaimGracePeriodMs: reclaimGrace(o.nodeReclaimGracePeriod),
      lbPools: o.lbPool ? splitList(o.lbPool) : undefined,
    });
  } catch (err) {
    await etcd?.stop();
    throw err;
  }
  let dns: Awaited<ReturnType<typeof startControlPlaneDns>>;
  try {
    dns =
      extra.dnsListen === undefined
        ? undefined
        : await startControlPlaneDns(
            extra.dnsListen,
            { url: cp.url, caPem: cp.caPem, token: cp.adminToken },
            { clusterIP: clusterDNS },
          );
  } catch (err) {
    await cp.stop();
    await etcd?.stop();
    throw err;
  }
  const stopCp = async () => {
    await dns?.stop().catch((err: Error) => process.stderr.write(`twill: stopping DNS: ${err.message}\n`));
    await cp.stop();
    await etcd?.stop();
  };
  process.stdout.write(
    `twill: API at ${cp.url}; kubeconfig: ${cp.kubeconfigPath}\n  export KUBECONFIG=${cp.kubeconfigPath}\n`,
  );
  if (dns) process.stdout.write(`twill: DNS at ${dns.dns.address} (UDP and TCP)\n`);
  let local: LocalNodes | undefined;
  let stopping = false;
  const stopped = new Promise<void>((resolve) => {
    const stop = () => {
      if (stopping) return;
      stopping = true;
      // Nodes first (their pods' processes end, namespaces, bridge and routes go), then the control plane.
      (async () => {
        await starting.catch(() => undefined);
        await local
          ?.stop()
          .catch((err: Error) => process.stderr.write(`twill: removing the nodes: ${err.message}\n`));
        await stopCp();
      })().then(resolve, resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  const starting =
    nodes > 0
      ? startLocalNodes({
          server: cp.url,
          caPem: cp.caPem,
          token: cp.adminToken,
          dataDir: o.dataDir,
          nodes,
          cluster: o.clusterName,
          underlayCIDR: o.underlayCidr,
          components: nodeComponents(o),
          clusterDNS: [clusterDNS],
        }).then(async (l) => {
          local = l;
          if (stopping) return;
          for (const n of l.nodes) {
            process.stdout.write(
              `twill: node ${n.name} Ready: netns ${n.netns}, InternalIP ${n.ip}, podCIDRs ${n.podCIDRs.join(',')}\n`,
            );
          }
          // Pods cannot reach the host's loopback: they reach the DNS through the kube-dns Service, whose
          // endpoint is the host's underlay address.
          if (dns) {
            await dns.exposeTo(l.hostIP);
            process.stdout.write(
              `twill: DNS for pods at ${clusterDNS} (kube-system/kube-dns → ${l.hostIP})\n`,
            );
          }
        })
      : Promise.resolve();
  try {
    await starting;
  } catch (err) {
    await stopCp();
    throw err;
  }
  await stopped;
}

const program = new Command();
program
  .name('twill')
  .description('Container networking and service discovery: the Kubernetes network model, simpler to start')
  .showHelpAfterError();

addControlPlaneOptions(
  program.command('up').description('run a whole cluster on this machine in the foreground'),
)
  .addOption(new Option('--nodes <n>', 'node agents to start (0: control plane only)').default('1'))
  .option(
    '--cluster-name <name>',
    'names the node namespaces twill-<name>-<node> and the bridge twu-<name>',
    DEFAULT_CLUSTER_NAME,
  )
  .option(
    '--underlay-cidr <cidr>',
    'the nodes’ underlay subnet (host .1, node i .10+i)',
    DEFAULT_UNDERLAY_CIDR,
  )
  .option(
    '--etcd <members>',
    'start a local etcd cluster of this many members under <data-dir>/etcd and keep the cluster on it',
  )
  .option(
    '--backend <name>',
    'how pods on different nodes reach each other: vxlan, host-gw, wireguard',
    'vxlan',
  )
  .option('--network-policy-deny <drop|reject>', 'what packets NetworkPolicy denies get', 'drop')
  .option('--dns-listen <host:port>', 'cluster DNS address, UDP and TCP ("off": none)', DEFAULT_DNS_LISTEN)
  .action(async (o) => runControlPlane(o, { nodes: Number(o.nodes), dnsListen: o.dnsListen }));

program
  .command('down')
  .description('remove the node namespaces, pods, underlay bridge and host routes a twill up left behind')
  .option('--data-dir <dir>', 'the data dir of that twill up', defaultDataDir())
  .option(
    '--cluster-name <name>',
    'the cluster to remove when the data dir has no record',
    DEFAULT_CLUSTER_NAME,
  )
  .action(async (o) => {
    const removed = await removeTopology({ dataDir: o.dataDir, cluster: o.clusterName });
    for (const r of removed) process.stdout.write(`removed ${r}\n`);
  });

addControlPlaneOptions(
  program.command('server').description('run the API server and controllers (for clusters on etcd)'),
).action(async (o) => runControlPlane(o, {}));

program
  .command('version')
  .description('print the version')
  .action(() => {
    const v = versionInfo() as { gitVersion: string };
    process.stdout.write(`twill 0.1.0 (Kubernetes API ${v.gitVersion})\n`);
  });

program
  .command('install-cni')
  .description("install twill's CNI plugins and a network config list for a container runtime")
  .option('--bin-dir <dir>', 'where the runtime looks for plugins', '/opt/cni/bin')
  .option('--conf-dir <dir>', 'where the runtime reads network configs', '/etc/cni/net.d')
  .option('--bridge <name>', 'the bridge twill-cni creates', 'twill0')
  .option('--mtu <n>', 'MTU of pod interfaces')
  .option('--ip-masq', 'masquerade pod traffic leaving the pod network')
  .option('--no-portmap', 'do not chain twill-portmap (hostPorts)')
  .action((o) => {
    const written = installCni({
      binDir: o.binDir,
      confDir: o.confDir,
      bridge: o.bridge,
      mtu: o.mtu ? Number(o.mtu) : undefined,
      ipMasq: !!o.ipMasq,
      portmap: o.portmap,
    });
    for (const f of written) process.stdout.write(`${f}\n`);
  });

registerClientCommands(program);
registerWorkloadCommands(program);
registerAgentCommand(program);
registerPodCommands(program);
registerPolicyCommands(program);
registerDnsCommand(program);

program.parseAsync(process.argv).then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    let msg: string;
    if (err instanceof ApiError || err instanceof ClientApiError) {
      // As kubectl prints a Status from the server.
      msg = `Error from server (${err.reason}): ${err.message}`;
    } else if (err instanceof TwillError) msg = `${err.message} [${err.code}]`;
    else msg = (err as Error)?.message ?? String(err);
    process.stderr.write(`twill: ${msg}\n`);
    process.exit(1);
  },
);
