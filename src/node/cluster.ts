/**
 * `twill up --nodes N`: the topology of ./topology.ts plus one in-process agent per node namespace. The agents
 * run in the twill process (host namespace) and talk to the API on loopback; only what they start (CNI plugins,
 * pods' and hostNetwork processes) lives in the node namespaces.
 */
import path from 'node:path';
import { startAgent, type Agent } from '../agent/agent.js';
import type { NodeComponentFactory } from '../agent/components.js';
import { defaultCniBinDirs } from '../agent/cli.js';
import { ApiClient } from '../client/rest.js';
import { logger } from '../util/log.js';
import { createTopology, readRecord, removeTopology, type NodeNet } from './topology.js';

const log = logger('node');

export interface LocalNodes {
  nodes: Array<NodeNet & { podCIDRs: string[] }>;
  /** The host's address on the underlay: what node namespaces (and pods, through them) reach the host at. */
  hostIP: string;
  /** Stops the agents (their containers end) and removes the topology. */
  stop(): Promise<void>;
}

export async function startLocalNodes(o: {
  server: string;
  caPem: string;
  token: string;
  dataDir: string;
  nodes: number;
  cluster?: string;
  underlayCIDR?: string;
  /** Node components each agent runs (overlay, Services, NetworkPolicy); removed again on stop. */
  components?: NodeComponentFactory[];
  /** The cluster DNS address(es) pods' resolv.conf names (the kube-dns Service's ClusterIP). */
  clusterDNS?: string[];
}): Promise<LocalNodes> {
  // A crash left something behind: start from a clean host.
  if (readRecord(o.dataDir)) await removeTopology({ dataDir: o.dataDir });
  const topo = await createTopology({
    dataDir: o.dataDir,
    cluster: o.cluster,
    underlayCIDR: o.underlayCIDR,
    nodes: o.nodes,
  });
  const agents: Agent[] = [];
  const clients: ApiClient[] = [];
  const stop = async () => {
    await Promise.all(
      agents.map((a) =>
        a.stop({ teardown: true }).catch((err) => log.warn({ err: (err as Error).message }, 'agent stop')),
      ),
    );
    for (const c of clients) c.close();
    await topo.remove();
  };
  try {
    const nodes: LocalNodes['nodes'] = [];
    for (const n of topo.record.nodes) {
      const client = new ApiClient({
        server: o.server,
        caData: o.caPem,
        token: o.token,
        userAgent: `twill-agent/${n.name}`,
      });
      clients.push(client);
      const dataDir = path.join(o.dataDir, 'nodes', n.name);
      const agent = await startAgent({
        client,
        nodeName: n.name,
        dataDir,
        cniBinDir: defaultCniBinDirs(),
        cniConfDir: path.join(dataDir, 'cni', 'net.d'),
        nodeIP: n.ip,
        netns: n.netns,
        components: o.components,
        clusterDNS: o.clusterDNS,
      });
      agents.push(agent);
      await topo.addPodRoutes(n.name, agent.podCIDRs);
      nodes.push({ ...n, podCIDRs: agent.podCIDRs });
    }
    return { nodes, hostIP: topo.record.hostIP, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
