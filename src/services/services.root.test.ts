/**
 * The Services dataplane for real: `twill up --nodes 1` (cluster svc1, underlay 172.31.242.0/24), three
 * netexec pods behind Services, and connections from a client pod, from an endpoint pod itself and from the
 * host, through the node namespace's `ip twill-services` table.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  httpGetsFrom,
  udpHostnamesFrom,
  connectEventually,
  kubectl,
  run,
  runNetexecPod,
  startTwill,
  tempDir,
  twillBin,
  waitFor,
  type TwillProcess,
  removeCluster,
} from '../../test/e2e/harness.js';

const CLUSTER = 'svc1';
const UNDERLAY = '172.31.242.0/24';
const NODE_IP = '172.31.242.11';
const HOST_IP = '172.31.242.1';
const NODE_NETNS = `twill-${CLUSTER}-node-1`;
const LB_POOL = '203.0.113.0/28';

let twill: TwillProcess | undefined;
let dir = '';
const k = (...args: string[]) => kubectl(twill!.kubeconfig, args);
const pods: Record<string, any> = {};
const hostRoutes: string[] = [];

async function scrub(): Promise<void> {
  for (const r of hostRoutes) await run('ip', ['route', 'del', r]);
  await removeCluster(CLUSTER, dir);
}

/** The pod's network namespace: twill-<cluster>-<node>-<uid8>. */
const podNetns = (pod: any) => `${NODE_NETNS}-${String(pod.metadata.uid).slice(0, 8)}`;

/** `twill connect` from a netns; its exit code and message (REFUSED / TIMEOUT) and how long it took. */
async function connectFrom(netns: string, target: string, protocol = 'tcp') {
  const started = Date.now();
  const r = await run('ip', [
    'netns',
    'exec',
    netns,
    process.execPath,
    twillBin,
    'connect',
    target,
    '--protocol',
    protocol,
    '--timeout',
    '3s',
  ]);
  return { code: r.code, stderr: r.stderr.trim(), ms: Date.now() - started };
}

async function apply(yaml: string): Promise<void> {
  await kubectl(twill!.kubeconfig, ['apply', '-f', '-'], yaml);
}

async function svc(name: string): Promise<any> {
  return JSON.parse(await k('get', 'svc', name, '-o', 'json'));
}

/** Waits until the node's ruleset maps the ClusterIP:port (the proxier caught up). */
async function waitForRule(what: string, pattern: RegExp, timeoutMs = 15_000): Promise<void> {
  await waitFor(
    what,
    async () =>
      pattern.test(
        (await run('ip', ['netns', 'exec', NODE_NETNS, 'nft', 'list', 'table', 'ip', 'twill-services']))
          .stdout,
      ),
    timeoutMs,
  );
}

before(async () => {
  dir = tempDir('services');
  await scrub();
  twill = await startTwill({
    dataDir: dir,
    timeoutMs: 60_000,
    extraArgs: [
      '--nodes',
      '1',
      '--cluster-name',
      CLUSTER,
      '--underlay-cidr',
      UNDERLAY,
      '--cluster-cidr',
      '10.242.0.0/16',
      '--service-cidr',
      '10.92.0.0/16',
      '--lb-pool',
      LB_POOL,
    ],
  });
  await waitFor('node-1 Ready', async () => /\bReady\b/.test(await k('get', 'nodes', 'node-1')), 60_000);
  for (const name of ['web-1', 'web-2', 'web-3', 'client']) {
    pods[name] = await runNetexecPod(twill.kubeconfig, name);
  }
  for (const name of ['web-1', 'web-2', 'web-3']) await k('label', 'pod', name, 'app=web');
  // Running comes before listening: wait until each answers on its own address (the host routes to it).
  for (const name of ['web-1', 'web-2', 'web-3']) await connectEventually(`${pods[name].status.podIP}:8081`);
  await apply(`
apiVersion: v1
kind: Service
metadata: { name: web }
spec:
  type: NodePort
  selector: { app: web }
  ports:
  - { name: echo, port: 80, targetPort: 8080 }
  - { name: http, port: 81, targetPort: 8081 }
---
apiVersion: v1
kind: Service
metadata: { name: empty }
spec:
  selector: { app: nobody }
  ports: [{ port: 80, targetPort: 8080 }]
`);
  const web = await svc('web');
  await waitForRule('web with three endpoints', /numgen random mod 3/);
  assert.ok(web.spec.clusterIP.startsWith('10.92.'));
});

after(async () => {
  try {
    if (twill) {
      const code = await twill.stop();
      if (code !== 0) process.stderr.write(twill.stderr());
    }
  } finally {
    await scrub();
  }
});

test(
  'ClusterIP from a pod spreads new connections over all three endpoints',
  { timeout: 60_000 },
  async () => {
    const { clusterIP } = (await svc('web')).spec;
    const names = await httpGetsFrom(podNetns(pods.client), `http://${clusterIP}:81/hostname`, 30);
    const counts = new Map<string, number>();
    for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
    assert.deepEqual([...counts.keys()].sort(), ['web-1', 'web-2', 'web-3'], JSON.stringify(names));
    // The client keeps its own address (no masquerade between pods).
    const ips = await httpGetsFrom(podNetns(pods.client), `http://${clusterIP}:81/clientip`, 3);
    for (const ip of ips) assert.equal(ip.split(':')[0], pods.client.status.podIP);
    // The other service port goes to its own target port (the TCP echo on 8080).
    const echo = await connectFrom(podNetns(pods.client), `${clusterIP}:80`);
    assert.equal(echo.code, 0, echo.stderr);
  },
);

test('a port the ClusterIP does not define is refused at once', { timeout: 30_000 }, async () => {
  const { clusterIP } = (await svc('web')).spec;
  const r = await connectFrom(podNetns(pods.client), `${clusterIP}:82`);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^REFUSED/);
});

test(
  'a service without endpoints refuses connections at once instead of hanging',
  { timeout: 30_000 },
  async () => {
    const { clusterIP } = (await svc('empty')).spec;
    await waitForRule(
      'empty in no-endpoint-services',
      new RegExp(`${clusterIP.replace(/\./g, '\\.')} \\. tcp \\. 80 : goto reject-chain`),
    );
    const r = await connectFrom(podNetns(pods.client), `${clusterIP}:80`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^REFUSED/);
    // REFUSED, not TIMEOUT: the answer came before connect's 3 s deadline (most of the time is starting node).
    assert.ok(r.ms < 3000, `took ${r.ms} ms`);
  },
);

test(
  'NodePort from the host: reaches an endpoint, masqueraded (Cluster policy)',
  { timeout: 30_000 },
  async () => {
    const port = (await svc('web')).spec.ports.find((p: any) => p.name === 'http').nodePort;
    const names = await httpGetsFrom(undefined, `http://${NODE_IP}:${port}/hostname`, 6);
    for (const n of names) assert.match(n, /^web-[123]$/);
    const ips = await httpGetsFrom(undefined, `http://${NODE_IP}:${port}/clientip`, 2);
    for (const ip of ips) assert.notEqual(ip.split(':')[0], HOST_IP);
  },
);

test(
  'hairpin: a pod reaching itself through its service is masqueraded and answered',
  { timeout: 60_000 },
  async () => {
    const { clusterIP } = (await svc('web')).spec;
    const own = podNetns(pods['web-1']);
    // Each connection picks at random: ask until web-1 got its own connection (30 tries: (2/3)^30 to miss).
    const answers = await httpGetsFrom(own, `http://${clusterIP}:81/hostname`, 30);
    assert.ok(answers.includes('web-1'), JSON.stringify(answers));
    assert.ok(
      answers.every((a) => /^web-[123]$/.test(a)),
      JSON.stringify(answers),
    );
  },
);

test('externalTrafficPolicy Local: a NodePort keeps the client’s address', { timeout: 30_000 }, async () => {
  await apply(`
apiVersion: v1
kind: Service
metadata: { name: local }
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector: { app: web }
  ports: [{ name: http, port: 81, targetPort: 8081 }]
`);
  const port = (await svc('local')).spec.ports[0].nodePort;
  await waitForRule('local nodeport', new RegExp(`tcp \\. ${port} : goto external-`));
  const ips = await httpGetsFrom(undefined, `http://${NODE_IP}:${port}/clientip`, 3);
  for (const ip of ips) assert.equal(ip.split(':')[0], HOST_IP);
});

test('sessionAffinity ClientIP sticks to one endpoint, then expires', { timeout: 60_000 }, async () => {
  await apply(`
apiVersion: v1
kind: Service
metadata: { name: sticky }
spec:
  selector: { app: web }
  sessionAffinity: ClientIP
  sessionAffinityConfig: { clientIP: { timeoutSeconds: 2 } }
  ports: [{ name: http, port: 81, targetPort: 8081 }]
`);
  const { clusterIP } = (await svc('sticky')).spec;
  await waitForRule('sticky', /timeout 2s/);
  const names = await httpGetsFrom(podNetns(pods.client), `http://${clusterIP}:81/hostname`, 10);
  assert.equal(new Set(names).size, 1, JSON.stringify(names));
  assert.match(names[0], /^web-[123]$/);
  const sets = async () =>
    (await run('ip', ['netns', 'exec', NODE_NETNS, 'nft', 'list', 'sets', 'ip'])).stdout;
  assert.match(
    await sets(),
    new RegExp(`${pods.client.status.podIP.replace(/\./g, '\\.')} (timeout|expires)`),
  );
  // The kernel forgets the client after the timeout.
  await waitFor(
    'the affinity entry to expire',
    async () => !(await sets()).includes(pods.client.status.podIP),
    6000,
  );
});

test(
  'an endpoint taken out of the service gets no new connections within a second',
  { timeout: 60_000 },
  async () => {
    const { clusterIP } = (await svc('web')).spec;
    const started = Date.now();
    await k('label', 'pod', 'web-3', 'app-');
    const left = Date.now() - started;
    await new Promise((r) => setTimeout(r, Math.max(0, 1000 - left)));
    const names = await httpGetsFrom(podNetns(pods.client), `http://${clusterIP}:81/hostname`, 20);
    assert.ok(!names.includes('web-3'), JSON.stringify(names));
    assert.ok(
      names.every((n) => n === 'web-1' || n === 'web-2'),
      JSON.stringify(names),
    );
    await k('label', 'pod', 'web-3', 'app=web');
  },
);

test('LoadBalancer: an ingress IP from --lb-pool, answered on the node', { timeout: 60_000 }, async () => {
  await apply(`
apiVersion: v1
kind: Service
metadata: { name: lb }
spec:
  type: LoadBalancer
  selector: { app: web }
  ports: [{ name: http, port: 8000, targetPort: 8081 }]
`);
  const lbIP = await waitFor(
    'an ingress IP',
    async () => (await svc('lb')).status?.loadBalancer?.ingress?.[0]?.ip as string | undefined,
    15_000,
  );
  assert.match(lbIP, /^203\.0\.113\.([1-9]|1[0-4])$/);
  await waitForRule(
    'lb ingress',
    new RegExp(`${lbIP.replace(/\./g, '\\.')} \\. tcp \\. 8000 : goto external-`),
  );
  // The host reaches the LoadBalancer IP through the node (what a router in front of the nodes would do).
  await run('ip', ['route', 'add', `${lbIP}/32`, 'via', NODE_IP]);
  hostRoutes.push(`${lbIP}/32`);
  const names = await httpGetsFrom(undefined, `http://${lbIP}:8000/hostname`, 4);
  for (const n of names) assert.match(n, /^web-[123]$/);
});

/** A netexec pod answering UDP on 8082 (agnhost's `hostname` command), labelled for the udp Service. */
async function runUdpPod(name: string): Promise<any> {
  await k(
    'run',
    name,
    '--image=agnhost',
    '--restart=Never',
    '--labels=app=udp',
    '--',
    process.execPath,
    twillBin,
    'netexec',
    '--udp',
    '8082',
  );
  const pod = await waitFor(
    `pod ${name} running`,
    async () => {
      const p = JSON.parse(await k('get', 'pod', name, '-o', 'json'));
      return p.status?.phase === 'Running' && p.status.podIP && p;
    },
    40_000,
  );
  // Running comes before listening: wait until it answers on its own address.
  await waitFor(
    `${name} answering UDP`,
    async () =>
      (
        await run(process.execPath, [
          twillBin,
          'connect',
          `${pod.status.podIP}:8082`,
          '--protocol',
          'udp',
          '--timeout',
          '1s',
        ])
      ).code === 0,
    20_000,
  );
  return pod;
}

test(
  'UDP: the flow to an endpoint that goes away is flushed from conntrack, the next datagram goes elsewhere',
  { timeout: 90_000 },
  async () => {
    await runUdpPod('udp-1');
    await runUdpPod('udp-2');
    await apply(`
apiVersion: v1
kind: Service
metadata: { name: udp }
spec:
  selector: { app: udp }
  ports: [{ name: dns, port: 53, protocol: UDP, targetPort: 8082 }]
`);
    const { clusterIP } = (await svc('udp')).spec;
    await waitForRule('udp with two endpoints', /numgen random mod 2 vmap @dispatch-service-\S+udp\/dns/);
    const first = await waitFor(
      'udp answers',
      async () => {
        const a = await udpHostnamesFrom(podNetns(pods.client), clusterIP, 53, 3);
        return a.length === 3 && a;
      },
      15_000,
    );
    // One flow, one endpoint.
    assert.equal(new Set(first).size, 1, JSON.stringify(first));
    const chosen = first[0];
    assert.match(chosen, /^udp-[12]$/);
    await k('label', 'pod', chosen, 'app-');
    await waitForRule('udp with one endpoint', /numgen random mod 1 vmap @dispatch-service-\S+udp\/dns/);
    await new Promise((r) => setTimeout(r, 300));
    // The same source port again: without the flush the old flow (UDP's conntrack timeout is 30 s and more)
    // would still carry it to the removed pod, which is alive and would answer.
    const again = await udpHostnamesFrom(podNetns(pods.client), clusterIP, 53, 2);
    assert.deepEqual(again, [chosen === 'udp-1' ? 'udp-2' : 'udp-1', chosen === 'udp-1' ? 'udp-2' : 'udp-1']);
  },
);
