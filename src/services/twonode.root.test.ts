/**
 * Two nodes (`twill up --nodes 2`, cluster svc2, underlay 172.31.237.0/24), each with its own endpoint; what
 * needs no pod-to-pod path across nodes (crossnode.root.test.ts has endpoints reached across the overlay):
 * externalTrafficPolicy Local — each node's NodePort answers only with its own pods and keeps the client's
 * address, a node without a local endpoint drops — and a NodePort reached from the other node.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  httpGetsFrom,
  kubectl,
  run,
  startTwill,
  tempDir,
  twillBin,
  waitFor,
  type TwillProcess,
  removeCluster,
} from '../../test/e2e/harness.js';

const CLUSTER = 'svc2';
const NODE_IPS = { 'node-1': '172.31.237.11', 'node-2': '172.31.237.12' } as const;
const HOST_IP = '172.31.237.1';
let twill: TwillProcess | undefined;
let dir = '';
const k = (...args: string[]) => kubectl(twill!.kubeconfig, args);

async function scrub(): Promise<void> {
  await removeCluster(CLUSTER, dir);
}

/** A netexec pod bound to a node (spec.nodeName, as a user pinning it would). */
async function podOn(name: string, node: string, labels: string): Promise<any> {
  await k(
    'run',
    name,
    '--image=agnhost',
    '--restart=Never',
    `--labels=${labels}`,
    `--overrides=${JSON.stringify({ spec: { nodeName: node } })}`,
    '--',
    process.execPath,
    twillBin,
    'netexec',
    '--http',
    '8081',
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

async function podIP(name: string): Promise<string> {
  return JSON.parse(await k('get', 'pod', name, '-o', 'json')).status.podIP as string;
}

before(async () => {
  dir = tempDir('services-2n');
  await scrub();
  twill = await startTwill({
    dataDir: dir,
    timeoutMs: 60_000,
    extraArgs: [
      '--nodes',
      '2',
      '--cluster-name',
      CLUSTER,
      '--underlay-cidr',
      '172.31.237.0/24',
      '--cluster-cidr',
      '10.242.0.0/16',
      '--service-cidr',
      '10.92.0.0/16',
    ],
  });
  await waitFor(
    'two Ready nodes',
    async () => (await k('get', 'nodes')).split('\n').filter((l) => /\sReady\s/.test(l)).length === 2,
    60_000,
  );
  await podOn('a-1', 'node-1', 'app=web');
  await podOn('b-2', 'node-2', 'app=web');
  await kubectl(
    twill.kubeconfig,
    ['apply', '-f', '-'],
    `
apiVersion: v1
kind: Service
metadata: { name: local }
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector: { app: web }
  ports: [{ name: http, port: 81, targetPort: 8081, nodePort: 30981 }]
---
apiVersion: v1
kind: Service
metadata: { name: only1 }
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector: { only1: "yes" }
  ports: [{ name: http, port: 81, targetPort: 8081, nodePort: 30982 }]
`,
  );
  // only1 selects a-1 alone (on node-1).
  await k('label', 'pod', 'a-1', 'only1=yes');
  // A pod is Running before its process listens: wait until each answers on its node.
  for (const [node, pod] of [
    ['node-1', 'a-1'],
    ['node-2', 'b-2'],
  ] as const) {
    await waitFor(
      `${pod} listening`,
      async () => {
        const r = await run('ip', [
          'netns',
          'exec',
          `twill-${CLUSTER}-${node}`,
          process.execPath,
          twillBin,
          'connect',
          `${await podIP(pod)}:8081`,
          '--timeout',
          '1s',
        ]);
        return r.code === 0;
      },
      20_000,
    );
  }
  // Both nodes' rules know both services (a node only has its own pods as local endpoints).
  for (const node of ['node-1', 'node-2']) {
    await waitFor(
      `${node} rules`,
      async () => {
        const t = (
          await run('ip', [
            'netns',
            'exec',
            `twill-${CLUSTER}-${node}`,
            'nft',
            'list',
            'table',
            'ip',
            'twill-services',
          ])
        ).stdout;
        return t.includes('tcp . 30981 : goto external-') && /tcp \. 30982 : (goto external-|drop)/.test(t);
      },
      20_000,
    );
  }
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
  'externalTrafficPolicy Local on two nodes: each NodePort answers with its own pods, keeping the client address',
  { timeout: 60_000 },
  async () => {
    assert.deepEqual(
      [...new Set(await httpGetsFrom(undefined, `http://${NODE_IPS['node-1']}:30981/hostname`, 6))],
      ['a-1'],
    );
    assert.deepEqual(
      [...new Set(await httpGetsFrom(undefined, `http://${NODE_IPS['node-2']}:30981/hostname`, 6))],
      ['b-2'],
    );
    for (const ip of await httpGetsFrom(undefined, `http://${NODE_IPS['node-2']}:30981/clientip`, 2)) {
      assert.equal(ip.split(':')[0], HOST_IP);
    }
  },
);

test(
  'a node without a local endpoint drops its Local NodePort; the node with one answers',
  { timeout: 60_000 },
  async () => {
    assert.deepEqual(await httpGetsFrom(undefined, `http://${NODE_IPS['node-2']}:30982/hostname`, 1), [
      'TIMEOUT',
    ]);
    assert.deepEqual(await httpGetsFrom(undefined, `http://${NODE_IPS['node-1']}:30982/hostname`, 2), [
      'a-1',
      'a-1',
    ]);
  },
);

test(
  'a NodePort reached from the other node keeps that node’s address (Local policy)',
  { timeout: 60_000 },
  async () => {
    const out = await httpGetsFrom(
      `twill-${CLUSTER}-node-2`,
      `http://${NODE_IPS['node-1']}:30982/clientip`,
      2,
    );
    for (const ip of out) assert.equal(ip.split(':')[0], NODE_IPS['node-2']);
  },
);
