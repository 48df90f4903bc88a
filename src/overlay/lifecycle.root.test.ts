/**
 * Node lifecycle for real, on an in-process cluster (./testing.ts): an agent killed and restarted keeps its
 * pods' connectivity and reconciles without touching entries that are right; a node deleted meanwhile is
 * removed on restart; a joining node is written on the others within a second; node leases are renewed,
 * never reclaimed while alive, and reclaimed (Node deleted, podCIDR free again) past the grace period.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Resources } from '../client/rest.js';
import type { KubeObject } from '../model/types.js';
import { run, twillBin, waitFor } from '../../test/e2e/harness.js';
import { startOverlayCluster, type OverlayCluster } from './testing.js';
import { vtepMac } from './vxlan.js';

const nodeRun = (c: OverlayCluster, node: string, argv: string[]) =>
  run('ip', ['netns', 'exec', c.topo.record.nodes.find((n) => n.name === node)!.netns, ...argv]);

async function netexecPod(c: OverlayCluster, name: string, node: string): Promise<KubeObject> {
  await c.client.create(Resources.pods, 'default', {
    metadata: { name },
    spec: {
      nodeName: node,
      restartPolicy: 'Never',
      containers: [
        { name, image: 'agnhost', command: [process.execPath, twillBin, 'netexec', '--tcp', '8080'] },
      ],
    },
  });
  return waitFor(
    `pod ${name} running`,
    async () => {
      const p = await c.client.get(Resources.pods, 'default', name);
      return (p.status as { phase?: string; podIP?: string })?.podIP ? p : undefined;
    },
    40_000,
  );
}

async function podNs(c: OverlayCluster, node: string): Promise<string> {
  const prefix = `${c.topo.record.nodes.find((n) => n.name === node)!.netns}-`;
  const all = (await run('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]);
  return all.find((n) => n.startsWith(prefix))!;
}

const tcp = (fromNs: string, ip: string) =>
  run('ip', [
    'netns',
    'exec',
    fromNs,
    process.execPath,
    twillBin,
    'connect',
    `${ip}:8080`,
    '--timeout',
    '1s',
  ]);

test(
  'agents racing get distinct subnets; agent kill and restart: connectivity stays, no entry flaps, a node deleted meanwhile is removed',
  { timeout: 180_000 },
  async () => {
    const c = await startOverlayCluster({ cluster: 'ovl4', underlayCIDR: '172.31.241.0/24', nodes: 3 });
    const monitors: Array<ReturnType<typeof spawn>> = [];
    try {
      // Three agents racing for subnets at once never get the same one.
      const [a1, a2, a3] = await Promise.all(['node-1', 'node-2', 'node-3'].map((n) => c.startNode(n)));
      assert.equal(new Set([a1, a2, a3].map((a) => a.podCIDRs[0])).size, 3);
      const cidr2 = a2.podCIDRs[0];
      const a = await netexecPod(c, 'a', 'node-1');
      const b = await netexecPod(c, 'b', 'node-2');
      const nsA = await podNs(c, 'node-1');
      const ipB = (b.status as { podIP: string }).podIP;
      await waitFor('a reaches b', async () => (await tcp(nsA, ipB)).code === 0, 15_000);
      const cidr3 = ((await c.client.get(Resources.nodes, undefined, 'node-3')).spec as { podCIDR: string })
        .podCIDR;
      await waitFor(
        'node-1 routes node-3',
        async () => (await nodeRun(c, 'node-1', ['ip', 'route'])).stdout.includes(cidr3),
        5_000,
      );

      // Watch node-1's neighbours, routes and FDB from here on.
      let events = '';
      const ns1 = c.topo.record.nodes[0].netns;
      for (const argv of [
        ['ip', 'monitor', 'neigh', 'route'],
        ['bridge', 'monitor', 'fdb'],
      ]) {
        const m = spawn('ip', ['netns', 'exec', ns1, ...argv], { stdio: ['ignore', 'pipe', 'ignore'] });
        m.stdout!.on('data', (d) => (events += d));
        monitors.push(m);
      }
      await new Promise((r) => setTimeout(r, 300));

      await c.stopNode('node-1'); // killed: no teardown
      // The kernel state stays: pod a's namespace still reaches b on node-2.
      assert.equal((await tcp(nsA, ipB)).code, 0, 'connectivity while node-1 has no agent');
      // node-3 leaves while node-1's agent is down.
      await c.stopNode('node-3', { teardown: true });
      await c.client.delete(Resources.nodes, undefined, 'node-3');

      const again = await c.startNode('node-1');
      assert.deepEqual(again.podCIDRs, a1.podCIDRs, 'the same podCIDR back');
      await waitFor(
        'node-1 to drop node-3',
        async () => !(await nodeRun(c, 'node-1', ['ip', 'route'])).stdout.includes(cidr3),
        5_000,
      );
      await waitFor(
        'a (restarted) reaches b',
        async () => (await tcp(await podNs(c, 'node-1'), ipB)).code === 0,
        20_000,
      );
      await new Promise((r) => setTimeout(r, 500));
      // Nothing about node-2 was deleted or rewritten on node-1; node-3's entries were deleted.
      const gw2 = cidr2.replace(/\/\d+$/, '');
      const lines = events.split('\n').filter(Boolean);
      const about2 = lines.filter(
        (l) =>
          l.includes(cidr2) ||
          l.startsWith(`${gw2} `) ||
          l.includes(` ${gw2} `) ||
          l.includes(vtepMac('172.31.241.12')),
      );
      assert.deepEqual(about2, [], `node-2's entries untouched:\n${events}`);
      assert.ok(
        lines.some((l) => l.startsWith('Deleted') && l.includes(cidr3)),
        `node-3's route deleted:\n${events}`,
      );
      assert.ok((a.status as { podIP: string }).podIP);
    } finally {
      for (const m of monitors) m.kill();
      await c.stop();
    }
  },
);

test(
  'a node that joins is routed on the others within a second; leases: renewed, kept while alive, reclaimed past the grace period',
  { timeout: 180_000 },
  async () => {
    const c = await startOverlayCluster({
      cluster: 'ovl5',
      underlayCIDR: '172.31.240.0/24',
      nodes: 2,
      reclaimGracePeriodMs: 3000,
      monitorGracePeriodMs: 1000,
      leaseRenewMs: 300,
      heartbeatMs: 300,
    });
    try {
      await c.startNode('node-1');
      const t0 = Date.now();
      const a2 = await c.startNode('node-2');
      const joined = Date.now();
      const cidr2 = a2.podCIDRs[0];
      await waitFor(
        'node-1 routes node-2',
        async () => (await nodeRun(c, 'node-1', ['ip', 'route'])).stdout.includes(cidr2),
        1_000,
      );
      const ms = Date.now() - joined;
      assert.ok(
        ms < 1000,
        `node-2 routed on node-1 ${ms} ms after its agent started (start took ${joined - t0} ms)`,
      );

      // The lease is renewed while the agent lives.
      const renew = async () =>
        (await c.client.get(Resources.leases, 'kube-node-lease', 'node-2')).spec as {
          renewTime: string;
          holderIdentity: string;
        };
      const r1 = await renew();
      assert.equal(r1.holderIdentity, 'node-2');
      await new Promise((r) => setTimeout(r, 800));
      assert.notEqual((await renew()).renewTime, r1.renewTime);
      // Alive past the grace period: never reclaimed.
      await new Promise((r) => setTimeout(r, 4000));
      const n2 = await c.client.get(Resources.nodes, undefined, 'node-2');
      assert.equal((n2.spec as { podCIDR: string }).podCIDR, cidr2);

      await assert.rejects(
        c.client.create(Resources.nodes, undefined, {
          metadata: { name: 'node-8' },
          spec: { podCIDR: cidr2, podCIDRs: [cidr2] },
        }),
        { httpCode: 422 },
      );
      // Restarted within the grace period: the same podCIDR back.
      await c.stopNode('node-2');
      await new Promise((r) => setTimeout(r, 1000));
      assert.deepEqual((await c.startNode('node-2')).podCIDRs, a2.podCIDRs);

      // Gone past the grace period: Node and Lease deleted, entries removed on node-1, podCIDR free again.
      await c.stopNode('node-2');
      const gone = Date.now();
      // First it turns NotReady (Ready Unknown, as kube-controller-manager marks a silent kubelet's node).
      const unknown = await waitFor(
        'node-2 Ready Unknown',
        async () => {
          const n = await c.client.get(Resources.nodes, undefined, 'node-2');
          const ready = (
            n.status as { conditions: Array<{ type: string; status: string; reason: string }> }
          ).conditions.find((x) => x.type === 'Ready')!;
          return ready.status === 'Unknown' && ready;
        },
        3_000,
      );
      assert.equal(unknown.reason, 'NodeStatusUnknown');
      await waitFor(
        'node-2 reclaimed',
        async () =>
          await c.client.get(Resources.nodes, undefined, 'node-2').then(
            () => false,
            () => true,
          ),
        10_000,
      );
      // The grace period runs from the last renewal (at most 300 ms before the stop).
      assert.ok(Date.now() - gone >= 2500, `not before the grace period (${Date.now() - gone} ms)`);
      await assert.rejects(c.client.get(Resources.leases, 'kube-node-lease', 'node-2'), { httpCode: 404 });
      await waitFor(
        'node-1 drops node-2',
        async () => !(await nodeRun(c, 'node-1', ['ip', 'route'])).stdout.includes(cidr2),
        2_000,
      );
      // The subnet is free again: a Node may now claim it (while node-2 held it, that was refused).
      const fresh = await c.client.create(Resources.nodes, undefined, {
        metadata: { name: 'node-9' },
        spec: { podCIDR: cidr2, podCIDRs: [cidr2] },
      });
      assert.equal((fresh.spec as { podCIDR: string }).podCIDR, cidr2);
    } finally {
      await c.stop();
    }
  },
);

test('host-gw refuses to start when a known node is not on its L2 segment', { timeout: 60_000 }, async () => {
  const c = await startOverlayCluster({
    cluster: 'ovl7',
    underlayCIDR: '172.31.239.0/24',
    nodes: 1,
    backend: 'host-gw',
  });
  try {
    await c.client.create(Resources.nodes, undefined, {
      metadata: {
        name: 'far',
        annotations: {
          'overlay.twill.dev/backend-type': 'host-gw',
          'overlay.twill.dev/public-ip': '198.51.100.9',
          'overlay.twill.dev/backend-data': 'null',
        },
      },
      spec: {},
    });
    await assert.rejects(c.startNode('node-1'), {
      code: 'TWILL_OVERLAY_NOT_ONE_SEGMENT',
      message:
        "host-gw: node far (198.51.100.9) is not on this node's L2 segment 172.31.239.0/24 (eth0); host-gw needs every node on one segment: use --backend vxlan",
    });
    // Nothing was written for it.
    assert.equal((await nodeRun(c, 'node-1', ['ip', 'route', 'show', 'proto', '77'])).stdout, '');
  } finally {
    await c.stop();
  }
});
