/**
 * Pod create → Ready on one node, for bench/cni: a control plane in this process (memory store) and one agent
 * working for a node namespace of its own (`twill-t-bench-<rand>-pods`, as `twill up --nodes` runs it), N pods
 * created at once; each pod's time is from its create call's answer to the Ready condition seen on a watch.
 * Run with the reference conflist (bridge + host-local), then with the agent's own (twill-cni + twill-ipam +
 * twill-portmap) exec'd whole, then the same served by the agent (the thick plugin), all in the same run. Everything lives in the node
 * namespace and in temporary directories, removed on exit, also on failure.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { netnsAdd, netnsDelete, netnsExec, netnsKillAll } from '../src/linux/netns.js';

export interface ReadyFigures {
  label: string;
  ms: number[];
  allReadyMs: number;
}

export async function podsToReady(o: {
  label: string;
  pods: number;
  subnetOctet: number;
  reference: boolean;
  /** twill's plugins served in the agent (the thick plugin) rather than exec'd whole. */
  thick: boolean;
  repo: string;
}): Promise<ReadyFigures> {
  const { startControlPlane } = await import('../src/cli/controlplane.js');
  const { ApiClient, Resources } = await import('../src/client/rest.js');
  const { Informer } = await import('../src/client/informer.js');
  const { startAgent } = await import('../src/agent/agent.js');
  const id = crypto.randomBytes(3).toString('hex');
  const node = `twill-t-bench-${id}-pods`;
  const nodeName = `bench-${id}`;
  const podCIDR = `10.246.${o.subnetOctet}.0/24`;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `twill-bench-pods-${o.label}-`));
  const confDir = path.join(tmp, 'net.d');
  fs.mkdirSync(confDir, { recursive: true });
  if (o.reference) {
    fs.writeFileSync(
      path.join(confDir, '10-ref.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'ref',
        plugins: [
          {
            type: 'bridge',
            bridge: `twbp${id}`,
            isGateway: true,
            isDefaultGateway: true,
            ipam: { type: 'host-local', dataDir: path.join(tmp, 'ipam'), ranges: [[{ subnet: podCIDR }]] },
          },
        ],
      }),
    );
  }
  const cp = await startControlPlane({
    dataDir: path.join(tmp, 'cp'),
    apiListen: '127.0.0.1:0',
    store: 'memory',
    serviceCIDRs: ['10.94.0.0/16'],
    clusterCIDRs: [podCIDR],
    controllers: false,
  });
  const client = new ApiClient({ server: cp.url, caData: cp.caPem, token: cp.adminToken });
  let agent: Awaited<ReturnType<typeof startAgent>> | undefined;
  const informer = new Informer(client, Resources.pods, {});
  try {
    await netnsAdd(node);
    await netnsExec(node, ['ip', 'link', 'set', 'lo', 'up']);
    agent = await startAgent({
      client,
      nodeName,
      dataDir: path.join(tmp, 'agent'),
      cniBinDir: [path.join(o.repo, 'bin'), '/usr/lib/cni'],
      cniConfDir: confDir,
      bridge: `twbp${id}`,
      netns: node,
      thickPlugin: o.thick,
    });
    const created = new Map<string, number>();
    const ready = new Map<string, number>();
    let done!: () => void;
    const allReady = new Promise<void>((r) => (done = r));
    const seen = (p: { metadata: { name?: string }; status?: unknown }) => {
      const name = p.metadata.name!;
      const conds = (p.status as { conditions?: Array<{ type: string; status: string }> })?.conditions ?? [];
      if (!ready.has(name) && conds.some((c) => c.type === 'Ready' && c.status === 'True')) {
        ready.set(name, performance.now());
        if (ready.size === o.pods) done();
      }
    };
    informer.addEventHandler({ onAdd: seen, onUpdate: (_a, b) => seen(b) });
    informer.start();
    await informer.waitForSync();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: o.pods }, async (_, i) => {
        const name = `b${i}`;
        await client.create(Resources.pods, 'default', {
          metadata: { name, namespace: 'default' },
          spec: {
            nodeName,
            terminationGracePeriodSeconds: 1,
            containers: [{ name: 'c', image: 'twill', command: ['sleep', '3600'] }],
          },
        });
        created.set(name, performance.now());
      }),
    );
    const timeout = new Promise<never>((_, rej) =>
      setTimeout(
        () => rej(new Error(`${o.label}: not all ${o.pods} pods Ready within 10 min`)),
        600_000,
      ).unref(),
    );
    await Promise.race([allReady, timeout]);
    const allReadyMs = performance.now() - t0;
    const ms = [...created].map(([name, t]) => Math.max(0, ready.get(name)! - t)).sort((a, b) => a - b);
    return { label: o.label, ms, allReadyMs };
  } finally {
    await informer.stop();
    await agent?.stop();
    client.close();
    await cp.stop();
    for (const ns of fs.readdirSync('/var/run/netns').filter((n) => n.startsWith(`${node}-`))) {
      await netnsKillAll(ns);
      await netnsDelete(ns);
      fs.rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
    }
    await netnsDelete(node);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
