/**
 * The overlay conformance test, run against every backend for real: `twill up --nodes 2 --backend B` (node
 * namespaces on an underlay bridge), a netexec pod pinned to each node, TCP, UDP and HTTP between them by pod
 * IP in both directions with the client's own address seen by the server (no NAT), the lease each node
 * published on its Node, the backend's kernel entries; then a Node is deleted and its entries leave the other.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  kubectl,
  removeCluster,
  run,
  startTwill,
  tempDir,
  twillBin,
  waitFor,
} from '../../test/e2e/harness.js';
import { Annotations } from './lease.js';
import { vtepMac } from './vxlan.js';
import { wireguardDevName } from './wireguard.js';
import { startNetexec } from '../netexec/netexec.js';

interface Node {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { podCIDR?: string };
  status: { addresses?: Array<{ type: string; address: string }> };
}

const CASES = [
  // podMTU: the underlay's 1500 less the backend's encapsulation (flannel's subnet.env MTU), which pods get.
  { backend: 'vxlan', cluster: 'ovl1', underlay: '172.31.241', podMTU: 1450 },
  { backend: 'host-gw', cluster: 'ovl2', underlay: '172.31.240', podMTU: 1500 },
  { backend: 'wireguard', cluster: 'ovl3', underlay: '172.31.239', podMTU: 1420 },
] as const;

const scrub = removeCluster;

/** A netexec pod (TCP 8080, HTTP 8081, UDP 8082) pinned to a node; returns it once Running with an IP. */
async function netexecOn(kubeconfig: string, name: string, node: string): Promise<any> {
  await kubectl(kubeconfig, [
    'run',
    name,
    '--image=agnhost',
    '--restart=Never',
    `--overrides=${JSON.stringify({ spec: { nodeName: node } })}`,
    '--',
    process.execPath,
    twillBin,
    'netexec',
    '--tcp',
    '8080',
    '--http',
    '8081',
    '--udp',
    '8082',
  ]);
  return waitFor(
    `pod ${name} on ${node} to run`,
    async () => {
      const pod = JSON.parse(await kubectl(kubeconfig, ['get', 'pod', name, '-o', 'json']));
      return pod.status?.phase === 'Running' && pod.status.podIP && pod;
    },
    40_000,
  );
}

/** Runs argv inside a pod's namespace. */
const inPod = (netns: string, argv: string[]) =>
  run('ip', ['netns', 'exec', netns, ...argv], { timeoutMs: 15_000 });

async function podNetns(cluster: string, node: string): Promise<string> {
  const all = (await run('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]);
  const ns = all.filter((n) => new RegExp(`^twill-${cluster}-${node}-[0-9a-f]{8}$`).test(n));
  assert.equal(ns.length, 1, `one pod namespace on ${node}: ${ns.join(' ')}`);
  return ns[0];
}

/** From inside `from`, reach `to` on TCP, UDP and HTTP; returns the client address the server saw. */
async function reach(fromNs: string, toIP: string): Promise<string> {
  await waitFor(
    `tcp ${toIP}:8080 from ${fromNs}`,
    async () =>
      (await inPod(fromNs, [process.execPath, twillBin, 'connect', `${toIP}:8080`, '--timeout', '1s']))
        .code === 0,
    15_000,
  );
  const udp = await inPod(fromNs, [
    process.execPath,
    twillBin,
    'connect',
    `${toIP}:8082`,
    '--protocol',
    'udp',
    '--timeout',
    '2s',
  ]);
  assert.equal(udp.code, 0, `udp ${toIP}:8082 from ${fromNs}: ${udp.stderr}`);
  const http = await inPod(fromNs, [
    process.execPath,
    '-e',
    `fetch('http://${toIP}:8081/clientip',{signal:AbortSignal.timeout(3000)}).then(r=>r.text()).then(t=>process.stdout.write(t))`,
  ]);
  assert.equal(http.code, 0, http.stderr);
  return http.stdout.replace(/:\d+$/, '');
}

const nodeCmd = (cluster: string, node: string, argv: string[]) =>
  run('ip', ['netns', 'exec', `twill-${cluster}-${node}`, ...argv]);

for (const c of CASES) {
  test(
    `overlay conformance, ${c.backend}: pods on two nodes reach each other by IP, no NAT; a deleted node's entries go`,
    { timeout: 180_000 },
    async () => {
      const dir = tempDir(`overlay-${c.backend}`);
      let twill: Awaited<ReturnType<typeof startTwill>> | undefined;
      try {
        twill = await startTwill({
          dataDir: dir,
          extraArgs: [
            '--nodes',
            '2',
            '--backend',
            c.backend,
            '--cluster-name',
            c.cluster,
            '--underlay-cidr',
            `${c.underlay}.0/24`,
            '--cluster-cidr',
            '10.241.0.0/16',
            '--service-cidr',
            '10.91.0.0/16',
          ],
        });
        const kc = twill.kubeconfig;
        // Each node publishes its lease before it runs pods.
        const nodes = await waitFor(
          'both nodes with a published lease',
          async () => {
            const items = JSON.parse(await kubectl(kc, ['get', 'nodes', '-o', 'json'])).items as Node[];
            return (
              items.length === 2 &&
              items.every((n) => n.metadata.annotations?.[Annotations.backendType] === c.backend) &&
              items.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
            );
          },
          60_000,
        );
        for (const [i, n] of nodes.entries()) {
          const a = n.metadata.annotations!;
          const ip = `${c.underlay}.${11 + i}`;
          assert.equal(a[Annotations.publicIP], ip);
          const data = JSON.parse(a[Annotations.backendData]);
          if (c.backend === 'vxlan') assert.deepEqual(data, { VNI: 1, VtepMAC: vtepMac(ip) });
          if (c.backend === 'host-gw') assert.equal(data, null);
          if (c.backend === 'wireguard') {
            assert.match(data.PublicKey, /^[A-Za-z0-9+/]{43}=$/);
            // The private key stays in the node's data dir, readable by root only, and is published nowhere.
            const keyFile = `${dir}/nodes/${n.metadata.name}/overlay/wireguard/private.key`;
            assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
            const priv = fs.readFileSync(keyFile, 'utf8').trim();
            assert.ok(!JSON.stringify(n).includes(priv));
            const pub = await run('wg', ['pubkey'], { input: priv + '\n' });
            assert.equal(pub.stdout.trim(), data.PublicKey);
          }
        }

        const a = await netexecOn(kc, 'a', 'node-1');
        const b = await netexecOn(kc, 'b', 'node-2');
        assert.notEqual(a.status.hostIP, b.status.hostIP);
        const nsA = await podNetns(c.cluster, 'node-1');
        const nsB = await podNetns(c.cluster, 'node-2');
        const eth0 = (await inPod(nsA, ['ip', 'link', 'show', 'eth0'])).stdout;
        assert.match(eth0, new RegExp(`mtu ${c.podMTU} `), `pod eth0 on ${c.backend}: ${eth0}`);
        // Both directions, and the server sees the client pod's own address (pod-to-pod is never masqueraded).
        assert.equal(await reach(nsA, b.status.podIP), a.status.podIP);
        assert.equal(await reach(nsB, a.status.podIP), b.status.podIP);

        // Egress outside the cluster (the host's own underlay address) leaves as the node (ipMasq).
        const outside = await startNetexec({
          tcpPorts: [],
          udpPorts: [],
          httpPort: 0,
          host: `${c.underlay}.1`,
        });
        try {
          const seen = await inPod(nsA, [
            process.execPath,
            '-e',
            `fetch('http://${c.underlay}.1:${outside.httpPort}/clientip',{signal:AbortSignal.timeout(3000)}).then(r=>r.text()).then(t=>process.stdout.write(t))`,
          ]);
          assert.equal(seen.stdout.replace(/:\d+$/, ''), `${c.underlay}.11`, seen.stderr);
        } finally {
          await outside.close();
        }

        // The backend's entries for node-2 on node-1.
        const cidr2 = nodes[1].spec.podCIDR!;
        const gw2 = cidr2.replace(/\.0\/\d+$/, '.0');
        const routes = async () =>
          (await nodeCmd(c.cluster, 'node-1', ['ip', '-4', 'route', 'show', 'proto', '77'])).stdout;
        if (c.backend === 'vxlan') {
          assert.match(await routes(), new RegExp(`^${cidr2} via ${gw2} dev twill\\.1 onlink`, 'm'));
          const neigh = (await nodeCmd(c.cluster, 'node-1', ['ip', 'neigh', 'show', 'dev', 'twill.1']))
            .stdout;
          assert.match(neigh, new RegExp(`^${gw2} lladdr ${vtepMac(`${c.underlay}.12`)} PERMANENT`, 'm'));
          const fdb = (await nodeCmd(c.cluster, 'node-1', ['bridge', 'fdb', 'show', 'dev', 'twill.1']))
            .stdout;
          assert.match(
            fdb,
            new RegExp(`^${vtepMac(`${c.underlay}.12`)} dst ${c.underlay}\\.12 self permanent`, 'm'),
          );
          const link = (await nodeCmd(c.cluster, 'node-1', ['ip', '-d', 'link', 'show', 'twill.1'])).stdout;
          assert.match(link, /mtu 1450 /);
          assert.match(link, /vxlan id 1 local 172\.31\.241\.11 dev eth0 .*dstport 4789 nolearning/);
        }
        if (c.backend === 'host-gw') {
          assert.match(await routes(), new RegExp(`^${cidr2} via ${c.underlay}\\.12 dev eth0`, 'm'));
          // A node that joins from another segment is refused: no route to it is written.
          await kubectl(
            kc,
            ['create', '-f', '-'],
            JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'far' } }),
          );
          await kubectl(kc, [
            'annotate',
            'node',
            'far',
            `${Annotations.backendType}=host-gw`,
            `${Annotations.publicIP}=198.51.100.9`,
            `${Annotations.backendData}=null`,
          ]);
          const far = JSON.parse(await kubectl(kc, ['get', 'node', 'far', '-o', 'json'])) as Node;
          assert.ok(far.spec.podCIDR);
          await waitFor(
            'the refusal in the log',
            async () => /node far \(198\.51\.100\.9\) is not on this node's L2 segment/.test(twill!.stderr()),
            5_000,
          );
          assert.doesNotMatch(await routes(), new RegExp(far.spec.podCIDR!.replace(/\./g, '\\.')));
        }
        if (c.backend === 'wireguard') {
          const dev = wireguardDevName('node-1', `twill-${c.cluster}-node-1`);
          assert.match(await routes(), new RegExp(`^${cidr2} dev ${dev} `, 'm'));
          const show = (await nodeCmd(c.cluster, 'node-1', ['wg', 'show', dev, 'dump'])).stdout
            .trim()
            .split('\n');
          assert.equal(show.length, 2, show.join('\n'));
          const peer = show[1].split('\t');
          assert.equal(
            peer[0],
            JSON.parse(nodes[1].metadata.annotations![Annotations.backendData]).PublicKey,
          );
          assert.equal(peer[2], `${c.underlay}.12:51820`);
          assert.equal(peer[3], cidr2);
          // Traffic went through the tunnel: a handshake happened and bytes were received.
          assert.ok(Number(peer[4]) > 0, 'latest handshake');
          assert.ok(Number(peer[5]) > 0, 'bytes received');
        }

        // Node leave: deleting node-2 removes its entries on node-1.
        await kubectl(kc, ['delete', 'node', 'node-2', '--wait=false']);
        await waitFor(
          'node-1 to drop node-2',
          async () => {
            const r = await routes();
            if (r.includes(cidr2)) return false;
            if (c.backend === 'vxlan') {
              const neigh = (await nodeCmd(c.cluster, 'node-1', ['ip', 'neigh', 'show', 'dev', 'twill.1']))
                .stdout;
              const fdb = (await nodeCmd(c.cluster, 'node-1', ['bridge', 'fdb', 'show', 'dev', 'twill.1']))
                .stdout;
              return !neigh.includes(gw2) && !fdb.includes(`${c.underlay}.12`);
            }
            if (c.backend === 'wireguard') {
              const dev = wireguardDevName('node-1', `twill-${c.cluster}-node-1`);
              const show = (await nodeCmd(c.cluster, 'node-1', ['wg', 'show', dev, 'peers'])).stdout.trim();
              return show === '';
            }
            return true;
          },
          5_000,
        );
        assert.equal(await twill.stop(), 0);
        twill = undefined;
      } finally {
        await twill?.stop();
        await scrub(c.cluster, dir);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  );
}
