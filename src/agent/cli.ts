/**
 * `twill agent --node NAME`: one node agent in this network namespace, in the foreground until SIGTERM or
 * SIGINT. Credentials come from the kubeconfig as kubectl finds it (--kubeconfig, $KUBECONFIG, then
 * <data-dir>/kubeconfig, which `twill server` writes); --api overrides its server URL.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { loadKubeconfig, resolveKubeconfigPath } from '../client/kubeconfig.js';
import { ApiClient } from '../client/rest.js';
import { kubeconfigPath } from '../util/paths.js';
import { defaultDataDir } from '../util/paths.js';
import { ErrorCodes, TwillError } from '../util/errors.js';
import { startAgent } from './agent.js';
import { nodeComponents } from '../node/components.js';

/** bin/ of this checkout (twill-cni, twill-ipam), then the reference plugins of Debian's package. */
export function defaultCniBinDirs(): string[] {
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  return [path.join(repo, 'bin'), '/usr/lib/cni'];
}

export interface AgentFlags {
  node: string;
  api?: string;
  kubeconfig?: string;
  dataDir: string;
  cniBinDir?: string;
  cniConfDir?: string;
  podCidrFile?: string;
  nodeIp?: string;
  bridge: string;
  ipMasq?: boolean;
  clusterDns: string;
  clusterDomain: string;
  resolvConf: string;
  /** The overlay (src/overlay/): runs when either is given; --iface alone means vxlan. */
  backend?: string;
  iface?: string;
}

/** The ApiClient the flags name: the kubeconfig's credentials, its server unless --api is given. */
export function agentClient(o: Pick<AgentFlags, 'api' | 'kubeconfig' | 'dataDir'>): ApiClient {
  const file =
    o.kubeconfig || process.env.KUBECONFIG ? resolveKubeconfigPath(o.kubeconfig) : kubeconfigPath(o.dataDir);
  const cfg = loadKubeconfig({ kubeconfig: file });
  if (o.api && !/^https?:\/\//.test(o.api)) {
    throw new TwillError(ErrorCodes.BadConfig, `--api: expected an http:// or https:// URL, got "${o.api}"`);
  }
  return new ApiClient({
    server: o.api ?? cfg.server,
    caData: cfg.caData,
    token: cfg.token,
    insecureSkipTLSVerify: cfg.insecureSkipTLSVerify,
    userAgent: 'twill-agent',
  });
}

async function runAgent(o: AgentFlags): Promise<void> {
  const client = agentClient(o);
  const agent = await startAgent({
    client,
    nodeName: o.node,
    dataDir: o.dataDir,
    cniBinDir: o.cniBinDir ? o.cniBinDir.split(path.delimiter).filter(Boolean) : defaultCniBinDirs(),
    cniConfDir: o.cniConfDir ?? path.join(o.dataDir, 'cni', 'net.d'),
    podCIDRFile: o.podCidrFile,
    nodeIP: o.nodeIp,
    bridge: o.bridge,
    ipMasq: o.ipMasq,
    clusterDNS: o.clusterDns
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    clusterDomain: o.clusterDomain,
    resolvConf: o.resolvConf,
    components: nodeComponents({
      ...o,
      backend: o.backend ?? (o.iface !== undefined ? 'vxlan' : undefined),
    } as unknown as Record<string, unknown>),
  });
  process.stderr.write(`twill agent: node ${o.node}, podCIDRs ${agent.podCIDRs.join(',')}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      agent.stop().then(resolve, resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  client.close();
}

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('run a node agent: register the Node, take its podCIDR, run the pods bound to it')
    .requiredOption('--node <name>', 'the Node this agent registers and runs pods for')
    .option('--api <url>', 'API server URL (default: the kubeconfig’s)')
    .option(
      '--kubeconfig <file>',
      'kubeconfig with the credentials (default: $KUBECONFIG, <data-dir>/kubeconfig)',
    )
    .option('--data-dir <dir>', 'state: CNI cache and IPAM reservations, pod logs', defaultDataDir())
    .option('--cni-bin-dir <dirs>', 'CNI_PATH, colon-separated (default: twill’s bin/ and /usr/lib/cni)')
    .option('--cni-conf-dir <dir>', 'CNI config dir (default: <data-dir>/cni/net.d)')
    .option(
      '--pod-cidr-file <file>',
      'where the podCIDRs are written for twill-ipam (default: <data-dir>/cni/podcidr)',
    )
    .option('--node-ip <ip>', 'the node’s InternalIP (pods’ hostIP)')
    .option('--bridge <name>', 'bridge of the conflist written when the conf dir has none', 'twill0')
    .option('--ip-masq', 'masquerade pod traffic leaving the podCIDR (in the conflist written)')
    .option(
      '--cluster-dns <ips>',
      'cluster DNS address(es) for ClusterFirst pods, comma-separated',
      '10.96.0.10',
    )
    .option('--cluster-domain <domain>', 'the cluster domain in pods’ search paths', 'cluster.local')
    .option('--resolv-conf <file>', 'the node’s resolver config, for dnsPolicy Default', '/etc/resolv.conf')
    .option(
      '--backend <type>',
      'overlay to the other nodes: vxlan, host-gw or wireguard (default: none; vxlan when --iface is given)',
    )
    .option('--iface <dev>', 'the underlay device the overlay uses (default: the one holding --node-ip)')
    .action(async (o: AgentFlags) => runAgent(o));
}
