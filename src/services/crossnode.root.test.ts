/**
 * Services across two nodes joined by the overlay (`twill up --nodes 2`, vxlan; cluster svc3, underlay
 * 172.31.234.0/24). Three netexec endpoints pinned with spec.nodeName — web-1 on node-1, web-2 and web-3 on
 * node-2 — and a client pod on each node. A ClusterIP spreads each client's connections over the endpoints of
 * both nodes; a NodePort from the host and from the other node, and a LoadBalancer IP, reach an endpoint on
 * the other node; an endpoint removed on the other node stops getting new connections within a second (TCP)
 * and its UDP flow is flushed; externalTrafficPolicy Local keeps the client's address; hairpin, no-endpoint
 * reject and affinity work across nodes; `kubectl expose` resolves by name in pods on both nodes (cluster DNS
 * with its upstream stubbed on loopback).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  httpGetsFrom,
  udpHostnamesFrom,
  forwardDnsToStub,
  kubectl,
  run,
  startTwill,
  tempDir,
  twillBin,
  waitFor,
  type TwillProcess,
  removeCluster,
} from '../../test/e2e/harness.js';
import { startStubUpstream, type StubUpstream } from '../dns/stub.js';

const CLUSTER = 'svc3';
const UNDERLAY = '172.31.234.0/24';
const NODE_IPS = { 'node-1': '172.31.234.11', 'node-2': '172.31.234.12' } as const;
type NodeName = keyof typeof NODE_IPS;
const HOST_IP = '172.31.234.1';
const LB_POOL = '203.0.113.32/28';
/** twill up's default; host-gw and wireguard pass this file too (change it here to run them). */
const BACKEND = 'vxlan';
const PLACEMENT: Record<string, NodeName> = {
  'web-1': 'node-1',
  'web-2': 'node-2',
  'web-3': 'node-2',
  'client-1': 'node-1',
  'client-2': 'node-2',
};

let twill: TwillProcess | undefined;
let stub: StubUpstream | undefined;
let dir = '';
const k = (...args: string[]) => kubectl(twill!.kubeconfig, args);
const pods: Record<string, any> = {};
const hostRoutes: string[] = [];
const nodeNetns = (node: NodeName) => `twill-${CLUSTER}-${node}`;
/** A pod's network namespace: twill-<cluster>-<node>-<uid8>. */
const podNetns = (name: string) =>
  `${nodeNetns(PLACEMENT[name]!)}-${String(pods[name].metadata.uid).slice(0, 8)}`;

async function scrub(): Promise<void> {
  for (const r of hostRoutes.splice(0)) await run('ip', ['route', 'del', r]);
  await removeCluster(CLUSTER, dir);
}

/** A netexec pod bound to a node (spec.nodeName, as a user pinning it would). */
async function podOn(name: string, node: NodeName): Promise<any> {
  await k(
    'run',
    name,
    '--image=agnhost',
    '--restart=Never',
    `--overrides=${JSON.stringify({ spec: { nodeName: node } })}`,
    '--',
    process.execPath,
    twillBin,
    'netexec',
    '--http',
    '8081',
    '--udp',
    '8082',
  );
  return waitFor(
    `pod ${name} running`,
    async () => {
      const pod = JSON.parse(await k('get', 'pod', name, '-o', 'json'));
      return pod.status?.phase === 'Running' && pod.status.podIP && pod;
    },
    40_000,
  );
}

const counts = (names: string[]) =>
  names.reduce<Record<string, number>>((m, n) => ((m[n] = (m[n] ?? 0) + 1), m), {});

async function svc(name: string): Promise<any> {
  return JSON.parse(await k('get', 'svc', name, '-o', 'json'));
}

async function rules(node: NodeName): Promise<string> {
  return (await run('ip', ['netns', 'exec', nodeNetns(node), 'nft', 'list', 'table', 'ip', 'twill-services']))
    .stdout;
}

/** `twill exec default/POD -- argv`. */
const execIn = (pod: string, argv: string[]) =>
  run(
    process.execPath,
    [twillBin, 'exec', `default/${pod}`, '--kubeconfig', twill!.kubeconfig, '--', ...argv],
    {
      timeoutMs: 60_000,
    },
  );

/** `twill connect` from a netns: exit code, message (REFUSED / TIMEOUT) and how long it took. */
async function connectFrom(netns: string, target: string) {
  const started = Date.now();
  const r = await run('ip', [
    'netns',
    'exec',
    netns,
    process.execPath,
    twillBin,
    'connect',
    target,
    '--timeout',
    '3s',
  ]);
  return { code: r.code, stderr: r.stderr.trim(), ms: Date.now() - started };
}

before(async () => {
  dir = tempDir('services-xn');
  await scrub();
  // Names outside the cluster zone go to a stub on loopback, never to the machine's resolver.
  stub = await startStubUpstream({ 'outside.example.': '198.51.100.8' });
  twill = await startTwill({
    dataDir: dir,
    timeoutMs: 60_000,
    extraArgs: [
      '--nodes',
      '2',
      '--cluster-name',
      CLUSTER,
      '--underlay-cidr',
      UNDERLAY,
      '--cluster-cidr',
      '10.234.0.0/16',
      '--service-cidr',
      '10.84.0.0/16',
      '--lb-pool',
      LB_POOL,
      '--backend',
      BACKEND,
    ],
  });
  // Names outside the cluster go to the stub, before any pod asks.
  await forwardDnsToStub(twill, stub.port);
  await waitFor(
    'two Ready nodes',
    async () => (await k('get', 'nodes')).split('\n').filter((l) => /\sReady\s/.test(l)).length === 2,
    60_000,
  );
  for (const node of JSON.parse(await k('get', 'nodes', '-o', 'json')).items)
    assert.equal(node.metadata.annotations['overlay.twill.dev/backend-type'], BACKEND);
  for (const [name, node] of Object.entries(PLACEMENT)) pods[name] = await podOn(name, node);
  for (const name of ['web-1', 'web-2', 'web-3']) {
    assert.equal(pods[name].spec.nodeName, PLACEMENT[name]);
    await k('label', 'pod', name, 'app=web');
  }
  await k('label', 'pod', 'web-2', 'only2=yes');
  for (const name of ['web-2', 'web-3']) await k('label', 'pod', name, 'side=node-2');
  await kubectl(
    twill.kubeconfig,
    ['apply', '-f', '-'],
    `
apiVersion: v1
kind: Service
metadata: { name: web }
spec:
  type: NodePort
  selector: { app: web }
  ports: [{ name: http, port: 81, targetPort: 8081, nodePort: 30881 }]
---
apiVersion: v1
kind: Service
metadata: { name: only2 }
spec:
  type: LoadBalancer
  selector: { only2: "yes" }
  ports: [{ name: http, port: 82, targetPort: 8081, nodePort: 30882 }]
---
apiVersion: v1
kind: Service
metadata: { name: local }
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: { app: web }
  ports: [{ name: http, port: 83, targetPort: 8081, nodePort: 30883 }]
---
apiVersion: v1
kind: Service
metadata: { name: empty }
spec:
  selector: { app: nobody }
  ports: [{ port: 80, targetPort: 8081 }]
---
apiVersion: v1
kind: Service
metadata: { name: sticky }
spec:
  selector: { app: web }
  sessionAffinity: ClientIP
  sessionAffinityConfig: { clientIP: { timeoutSeconds: 2 } }
  ports: [{ name: http, port: 85, targetPort: 8081 }]
---
apiVersion: v1
kind: Service
metadata: { name: udp }
spec:
  selector: { side: node-2 }
  ports: [{ name: dns, port: 53, protocol: UDP, targetPort: 8082 }]
`,
  );
  // Running comes before listening, and the overlay needs both leases: wait until client-1 on node-1 reaches
  // every endpoint by its pod address (web-2 and web-3 through the vxlan).
  for (const name of ['web-1', 'web-2', 'web-3']) {
    await waitFor(
      `${name} reachable from client-1`,
      async () => {
        const r = await run('ip', [
          'netns',
          'exec',
          podNetns('client-1'),
          process.execPath,
          twillBin,
          'connect',
          `${pods[name].status.podIP}:8081`,
          '--timeout',
          '1s',
        ]);
        return r.code === 0;
      },
      30_000,
    );
  }
  for (const node of ['node-1', 'node-2'] as const) {
    await waitFor(
      `${node} rules`,
      async () => {
        const t = await rules(node);
        return (
          /numgen random mod 3 vmap/.test(t) &&
          t.includes('tcp . 30882 : goto external-') &&
          t.includes('tcp . 30883 : goto external-')
        );
      },
      20_000,
    );
  }
});

after(async () => {
  try {
    await stub?.stop();
    if (twill) {
      const code = await twill.stop();
      if (code !== 0) process.stderr.write(twill.stderr());
    }
  } finally {
    await scrub();
  }
});

test(
  'ClusterIP from a pod on each node, and from each node, spreads 30 connections over the endpoints of both nodes',
  { timeout: 120_000 },
  async () => {
    const { clusterIP } = (await svc('web')).spec;
    assert.match(clusterIP, /^10\.84\./);
    // Pods on each node, and each node itself (what a hostNetwork pod would use: masqueraded, being outside
    // the cluster CIDR).
    const clients = {
      'client-1': podNetns('client-1'),
      'client-2': podNetns('client-2'),
      'node-1': nodeNetns('node-1'),
      'node-2': nodeNetns('node-2'),
    };
    for (const [client, netns] of Object.entries(clients)) {
      const names = await httpGetsFrom(netns, `http://${clusterIP}:81/hostname`, 30);
      const seen = counts(names);
      // Each endpoint gets some: with a uniform choice the chance that one of three gets none of 30 is 3·(2/3)^30 ≈ 1.5e-5.
      assert.deepEqual(
        Object.keys(seen).sort(),
        ['web-1', 'web-2', 'web-3'],
        `${client}: ${JSON.stringify(seen)}`,
      );
    }
  },
);

test(
  'a NodePort reached from the host and from the other node gets to an endpoint on the other node',
  { timeout: 60_000 },
  async () => {
    // only2's one endpoint, web-2, is on node-2; node-1's NodePort forwards across the overlay.
    assert.deepEqual(
      [...new Set(await httpGetsFrom(undefined, `http://${NODE_IPS['node-1']}:30882/hostname`, 6))],
      ['web-2'],
    );
    // From node-2 to node-1's NodePort: in at node-1, back out to node-2 (masqueraded, Cluster policy).
    assert.deepEqual(
      [...new Set(await httpGetsFrom(nodeNetns('node-2'), `http://${NODE_IPS['node-1']}:30882/hostname`, 6))],
      ['web-2'],
    );
    // And a NodePort of node-2 from node-1 over the endpoints of both nodes.
    const names = await httpGetsFrom(nodeNetns('node-1'), `http://${NODE_IPS['node-2']}:30881/hostname`, 30);
    assert.deepEqual(Object.keys(counts(names)).sort(), ['web-1', 'web-2', 'web-3'], JSON.stringify(names));
  },
);

test('a LoadBalancer IP answered on node-1 reaches the endpoint on node-2', { timeout: 60_000 }, async () => {
  const lbIP = await waitFor(
    'an ingress IP',
    async () => (await svc('only2')).status?.loadBalancer?.ingress?.[0]?.ip as string | undefined,
    15_000,
  );
  assert.match(lbIP, /^203\.0\.113\.(3[3-9]|4[0-6])$/);
  await waitFor(
    'node-1 rules for the LoadBalancer IP',
    async () => (await rules('node-1')).includes(`${lbIP} . tcp . 82 : goto external-`),
    15_000,
  );
  // The host reaches the LoadBalancer IP through node-1 (what a router in front of the nodes would do).
  await run('ip', ['route', 'add', `${lbIP}/32`, 'via', NODE_IPS['node-1']]);
  hostRoutes.push(`${lbIP}/32`);
  assert.deepEqual([...new Set(await httpGetsFrom(undefined, `http://${lbIP}:82/hostname`, 4))], ['web-2']);
});

test(
  'an endpoint removed on the other node gets no new connections within a second',
  { timeout: 60_000 },
  async (t) => {
    const { clusterIP } = (await svc('web')).spec;
    const gone = `dnat to ${pods['web-3'].status.podIP}:8081`;
    assert.ok((await rules('node-1')).includes(gone));
    const started = Date.now();
    await k('label', 'pod', 'web-3', 'app-');
    try {
      // How long until node-1 (the client's node, web-3 is on node-2) has no rule left to web-3; 100 ms polls.
      await waitFor('node-1 to drop web-3', async () => !(await rules('node-1')).includes(gone), 1000);
      t.diagnostic(`web-3 left node-1's rules ${Date.now() - started} ms after kubectl label started`);
      const left = Date.now() - started;
      await new Promise((r) => setTimeout(r, Math.max(0, 1000 - left)));
      const names = await httpGetsFrom(podNetns('client-1'), `http://${clusterIP}:81/hostname`, 20);
      assert.ok(
        names.every((n) => n === 'web-1' || n === 'web-2'),
        JSON.stringify(names),
      );
    } finally {
      await k('label', 'pod', 'web-3', 'app=web');
      for (const node of ['node-1', 'node-2'] as const)
        await waitFor(
          `web-3 back on ${node}`,
          async () => /numgen random mod 3 vmap/.test(await rules(node)),
          10_000,
        );
    }
  },
);

test(
  'externalTrafficPolicy Local from the other node: only the local endpoints answer, with the client’s address',
  { timeout: 60_000 },
  async () => {
    const toNode1 = await httpGetsFrom(nodeNetns('node-2'), `http://${NODE_IPS['node-1']}:30883/hostname`, 6);
    assert.deepEqual([...new Set(toNode1)], ['web-1']);
    const toNode2 = await httpGetsFrom(
      nodeNetns('node-1'),
      `http://${NODE_IPS['node-2']}:30883/hostname`,
      12,
    );
    assert.deepEqual(Object.keys(counts(toNode2)).sort(), ['web-2', 'web-3'], JSON.stringify(toNode2));
    for (const ip of await httpGetsFrom(
      nodeNetns('node-2'),
      `http://${NODE_IPS['node-1']}:30883/clientip`,
      2,
    ))
      assert.equal(ip.split(':')[0], NODE_IPS['node-2']);
    for (const ip of await httpGetsFrom(undefined, `http://${NODE_IPS['node-2']}:30883/clientip`, 2))
      assert.equal(ip.split(':')[0], HOST_IP);
    // A pod on node-2 to node-1's NodePort: node-2 does not DNAT another node's address, and its overlay
    // masquerades pod traffic leaving the cluster network (flannel's ipMasq), so node-1 sees node-2 — an
    // outside client — and answers with its own endpoint.
    const fromPod = await httpGetsFrom(
      podNetns('client-2'),
      `http://${NODE_IPS['node-1']}:30883/clientip`,
      2,
    );
    for (const ip of fromPod) assert.equal(ip.split(':')[0], NODE_IPS['node-2']);
    assert.deepEqual(
      [
        ...new Set(
          await httpGetsFrom(podNetns('client-2'), `http://${NODE_IPS['node-1']}:30883/hostname`, 6),
        ),
      ],
      ['web-1'],
    );
  },
);

test(
  'a Local LoadBalancer IP: pods on any node reach every endpoint, the host through node-1 only node-1’s',
  { timeout: 60_000 },
  async () => {
    const lbIP = await waitFor(
      'an ingress IP for local',
      async () => (await svc('local')).status?.loadBalancer?.ingress?.[0]?.ip as string | undefined,
      15_000,
    );
    for (const node of ['node-1', 'node-2'] as const)
      await waitFor(
        `${node} rules for ${lbIP}`,
        async () => (await rules(node)).includes(`${lbIP} . tcp . 83 : goto external-`),
        15_000,
      );
    // A pod's packet to an LB IP is caught by its own node's rules; kube-proxy sends pod traffic (the cluster
    // CIDR) to the service chain, as if it had gone out to the load balancer and come back: any endpoint.
    const names = await httpGetsFrom(podNetns('client-2'), `http://${lbIP}:83/hostname`, 30);
    assert.deepEqual(Object.keys(counts(names)).sort(), ['web-1', 'web-2', 'web-3'], JSON.stringify(names));
    // From outside, through node-1: node-1's endpoint only, with the client's address.
    await run('ip', ['route', 'add', `${lbIP}/32`, 'via', NODE_IPS['node-1']]);
    hostRoutes.push(`${lbIP}/32`);
    assert.deepEqual([...new Set(await httpGetsFrom(undefined, `http://${lbIP}:83/hostname`, 6))], ['web-1']);
    for (const ip of await httpGetsFrom(undefined, `http://${lbIP}:83/clientip`, 2))
      assert.equal(ip.split(':')[0], HOST_IP);
  },
);

test('hairpin across nodes: an endpoint reaches itself and the other node’s through its service', async () => {
  const { clusterIP } = (await svc('web')).spec;
  // (2/3)^30 to miss any one endpoint.
  const names = await httpGetsFrom(podNetns('web-2'), `http://${clusterIP}:81/hostname`, 30);
  assert.deepEqual(Object.keys(counts(names)).sort(), ['web-1', 'web-2', 'web-3'], JSON.stringify(names));
});

test('a service without endpoints refuses at once on both nodes', { timeout: 60_000 }, async () => {
  const { clusterIP } = (await svc('empty')).spec;
  for (const client of ['client-1', 'client-2']) {
    const r = await connectFrom(podNetns(client), `${clusterIP}:80`);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^REFUSED/);
    // Refused, not timed out: the answer came well before connect's 3 s deadline (most of it starting node).
    assert.ok(r.ms < 3000, `took ${r.ms} ms`);
  }
});

test(
  'sessionAffinity ClientIP sticks to one endpoint across nodes, then expires',
  { timeout: 60_000 },
  async () => {
    const { clusterIP } = (await svc('sticky')).spec;
    for (const node of ['node-1', 'node-2'] as const)
      await waitFor(`sticky on ${node}`, async () => /timeout 2s/.test(await rules(node)), 15_000);
    const client = pods['client-2'].status.podIP as string;
    const sets = async () =>
      (await run('ip', ['netns', 'exec', nodeNetns('node-2'), 'nft', 'list', 'sets', 'ip'])).stdout;
    // Twice: each time the kernel forgets the client after 2 s, and the next pick is random again.
    const picks: string[] = [];
    for (let round = 0; round < 2; round++) {
      const names = await httpGetsFrom(podNetns('client-2'), `http://${clusterIP}:85/hostname`, 10);
      assert.equal(new Set(names).size, 1, JSON.stringify(names));
      picks.push(names[0]!);
      assert.match(await sets(), new RegExp(`${client.replace(/\./g, '\\.')} (timeout|expires)`));
      await waitFor('the affinity entry to expire', async () => !(await sets()).includes(client), 6000);
    }
    for (const p of picks) assert.match(p, /^web-[123]$/);
  },
);

test(
  'kubectl expose: a pod on each node resolves the Service by name and reaches its endpoint on node-2',
  { timeout: 120_000 },
  async () => {
    // The selector is web-2's labels (kubectl expose pod copies them): one endpoint, on node-2.
    await k('expose', 'pod', 'web-2', '--name', 'byname', '--port', '84', '--target-port', '8081');
    const { clusterIP } = (await svc('byname')).spec;
    for (const node of ['node-1', 'node-2'] as const)
      await waitFor(
        `byname on ${node}`,
        async () => (await rules(node)).includes(`${clusterIP} . tcp . 84 :`),
        15_000,
      );
    for (const client of ['client-1', 'client-2']) {
      const g = await waitFor(
        `getent ahostsv4 byname in ${client}`,
        async () => {
          const r = await execIn(client, ['getent', 'ahostsv4', 'byname']);
          return r.code === 0 && r;
        },
        20_000,
      );
      assert.match(g.stdout, new RegExp(`^${clusterIP.replace(/\./g, '\\.')}\\s`, 'm'), g.stdout);
      // By name through the pod's resolver (getaddrinfo), then the ClusterIP, then the overlay.
      const script = `require('node:http').get('http://byname:84/hostname', { timeout: 3000 }, (res) => {
        let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => console.log(b.trim()));
      }).on('error', (e) => { console.log(e.code); process.exitCode = 1; });`;
      const r = await execIn(client, [process.execPath, '-e', script]);
      assert.equal(r.stdout.trim(), 'web-2', `${client}: ${r.stdout} ${r.stderr}`);
      // A name outside the cluster goes through the same kube-dns ClusterIP to the (stub) upstream.
      const outside = await execIn(client, ['getent', 'ahostsv4', 'outside.example']);
      assert.match(outside.stdout, /^198\.51\.100\.8\s/m, `${client}: ${outside.stdout} ${outside.stderr}`);
    }
  },
);

test(
  'UDP across nodes: the flow to an endpoint on the other node that goes away is flushed on the client’s node',
  { timeout: 60_000 },
  async () => {
    // Both endpoints (web-2, web-3) are on node-2; the client and its conntrack flow are on node-1.
    const { clusterIP } = (await svc('udp')).spec;
    const first = await waitFor(
      'udp answers',
      async () => {
        const a = await udpHostnamesFrom(podNetns('client-1'), clusterIP, 53, 3);
        return a.length === 3 && a;
      },
      15_000,
    );
    assert.equal(new Set(first).size, 1, JSON.stringify(first));
    const chosen = first[0]!;
    assert.match(chosen, /^web-[23]$/);
    const other = chosen === 'web-2' ? 'web-3' : 'web-2';
    await k('label', 'pod', chosen, 'side-');
    try {
      await waitFor(
        'node-1 to drop the endpoint',
        async () => /numgen random mod 1 vmap @dispatch-service-\S+udp\/dns/.test(await rules('node-1')),
        10_000,
      );
      await new Promise((r) => setTimeout(r, 300));
      // The same source port again: without the flush the old flow (UDP conntrack lives 30 s and more) would
      // still carry it to the removed pod, which is alive and would answer.
      assert.deepEqual(await udpHostnamesFrom(podNetns('client-1'), clusterIP, 53, 2), [other, other]);
    } finally {
      await k('label', 'pod', chosen, 'side=node-2');
    }
  },
);
