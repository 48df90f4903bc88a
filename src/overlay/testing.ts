/**
 * For the overlay's root tests and bench/overlay.ts: an in-process cluster whose nodes join and leave at
 * will — a control plane (10.241.0.0/16 pods, 10.91.0.0/16 Services), node namespaces on an underlay bridge
 * (src/node/topology.ts), and one agent per started node running the overlay and the node lease. Not used by
 * twill itself.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAgent, type Agent } from '../agent/agent.js';
import { defaultCniBinDirs } from '../agent/cli.js';
import type { NodeComponentFactory } from '../agent/components.js';
import { startControlPlane, type ControlPlane } from '../cli/controlplane.js';
import { ApiClient } from '../client/rest.js';
import { createTopology, removeTopology, type Topology } from '../node/topology.js';
import { overlayComponent } from './component.js';
import { nodeLeaseComponent } from './nodelease.js';

export interface OverlayCluster {
  cp: ControlPlane;
  client: ApiClient;
  topo: Topology;
  dataDir: string;
  agents: Map<string, Agent>;
  /** Starts node `node-i`'s agent (the node joins, or comes back). */
  startNode(name: string): Promise<Agent>;
  /** Stops its agent; the kernel state stays unless teardown. */
  stopNode(name: string, opts?: { teardown?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

export async function startOverlayCluster(o: {
  cluster: string;
  underlayCIDR: string;
  nodes: number;
  backend?: string;
  reclaimGracePeriodMs?: number;
  monitorGracePeriodMs?: number;
  leaseRenewMs?: number;
  heartbeatMs?: number;
}): Promise<OverlayCluster> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `twill-${o.cluster}-`));
  const cp = await startControlPlane({
    dataDir,
    apiListen: '127.0.0.1:0',
    store: 'sqlite',
    serviceCIDRs: ['10.91.0.0/16'],
    clusterCIDRs: ['10.241.0.0/16'],
    nodeReclaimGracePeriodMs: o.reclaimGracePeriodMs ?? 0,
    nodeMonitorGracePeriodMs: o.monitorGracePeriodMs,
  });
  const client = new ApiClient({ server: cp.url, caData: cp.caPem, token: cp.adminToken });
  let topo: Topology;
  try {
    await removeTopology({ dataDir, cluster: o.cluster });
    topo = await createTopology({
      dataDir,
      cluster: o.cluster,
      underlayCIDR: o.underlayCIDR,
      nodes: o.nodes,
    });
  } catch (err) {
    client.close();
    await cp.stop();
    throw err;
  }
  const agents = new Map<string, Agent>();
  const clients = new Map<string, ApiClient>();
  const components: NodeComponentFactory[] = [
    overlayComponent({ backend: o.backend ?? 'vxlan' }),
    nodeLeaseComponent({ durationSeconds: 40, renewIntervalMs: o.leaseRenewMs }),
  ];
  const stopNode = async (name: string, opts?: { teardown?: boolean }) => {
    await agents.get(name)?.stop(opts);
    agents.delete(name);
    clients.get(name)?.close();
    clients.delete(name);
  };
  return {
    cp,
    client,
    topo,
    dataDir,
    agents,
    async startNode(name) {
      const n = topo.record.nodes.find((x) => x.name === name);
      if (!n) throw new Error(`no ${name} in the topology`);
      const c = new ApiClient({
        server: cp.url,
        caData: cp.caPem,
        token: cp.adminToken,
        userAgent: `twill-agent/${name}`,
      });
      clients.set(name, c);
      const nodeDir = path.join(dataDir, 'nodes', name);
      const agent = await startAgent({
        client: c,
        nodeName: name,
        dataDir: nodeDir,
        cniBinDir: defaultCniBinDirs(),
        cniConfDir: path.join(nodeDir, 'cni', 'net.d'),
        nodeIP: n.ip,
        netns: n.netns,
        components,
        heartbeatMs: o.heartbeatMs,
      }).catch((err: unknown) => {
        c.close();
        clients.delete(name);
        throw err;
      });
      agents.set(name, agent);
      return agent;
    },
    stopNode,
    async stop() {
      for (const name of [...agents.keys()]) await stopNode(name, { teardown: true }).catch(() => undefined);
      await topo.remove().catch(() => undefined);
      client.close();
      await cp.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
