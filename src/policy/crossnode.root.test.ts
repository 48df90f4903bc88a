/**
 * Enforcement across nodes, for real: `twill up --nodes 2` (the vxlan overlay joins the nodes' pod networks)
 * with two pods per node in namespaces x and y. A connection
 * between nodes crosses the source node's table (egress) and the destination node's (ingress); the probe table
 * must equal the analysis table and the hand-written one, in both directions.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, test } from 'node:test';
import { netnsExec } from '../linux/netns.js';
import { findPodNetns } from './cli.js';
import {
  kubectl,
  run,
  startTwill,
  tempDir,
  twillBin,
  waitFor,
  type TwillProcess,
} from '../../test/e2e/harness.js';
import { Expect, containerPorts } from './fixtures.js';

const PODS = ['x/a', 'x/b', 'y/a', 'y/b'];
// a on node-1, b on node-2.
const nodeOf = (pod: string) => (pod.endsWith('/a') ? 'node-1' : 'node-2');
const KEYS = ['TCP/80', 'UDP/81'];
let twill: TwillProcess;

const apply = (objs: unknown[]) =>
  kubectl(twill.kubeconfig, ['apply', '-f', '-'], objs.map((o) => JSON.stringify(o)).join('\n'));

const np = (ns: string, name: string, spec: unknown) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { namespace: ns, name },
  spec,
});

async function twillJson(cmd: string): Promise<Record<string, Record<string, string>> & { pods?: unknown }> {
  const r = await run(
    process.execPath,
    [
      twillBin,
      cmd,
      '--kubeconfig',
      twill.kubeconfig,
      '--namespaces',
      'x,y',
      '--ports',
      '80,81',
      '--protocols',
      'tcp,udp',
      '-o',
      'json',
    ],
    { timeoutMs: 60_000 },
  );
  assert.equal(r.code, 0, `twill ${cmd}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

async function check(expected: Record<string, Expect>): Promise<void> {
  // The syncs of both nodes are well under a second; give them that before probing.
  await new Promise((r) => setTimeout(r, 1000));
  const [probe, analysis] = await Promise.all([twillJson('probe'), twillJson('reachability')]);
  assert.deepEqual(probe.pods, PODS);
  for (const key of KEYS) {
    const want = expected[key].rows();
    assert.deepEqual(analysis[key], want, `reachability ${key}`);
    assert.deepEqual(probe[key], want, `probe ${key}`);
  }
}

before(async () => {
  twill = await startTwill({
    dataDir: tempDir('twp2'),
    extraArgs: [
      '--nodes',
      '2',
      '--cluster-name',
      'pol2',
      '--underlay-cidr',
      '172.31.238.0/24',
      '--cluster-cidr',
      '10.243.128.0/17',
      '--service-cidr',
      '10.93.0.0/16',
      '--network-policy-deny',
      'reject',
    ],
    timeoutMs: 60_000,
  });
  const nodes = await waitFor(
    'two nodes with podCIDRs and addresses',
    async () => {
      const list = JSON.parse(await kubectl(twill.kubeconfig, ['get', 'nodes', '-o', 'json'])) as {
        items: {
          metadata: { name: string };
          spec: { podCIDR?: string };
          status: { addresses?: { type: string; address: string }[] };
        }[];
      };
      const ready = list.items.filter(
        (n) => n.spec.podCIDR && n.status.addresses?.some((a) => a.type === 'InternalIP'),
      );
      return ready.length === 2 && ready;
    },
    30_000,
  );
  // The overlay routes each node's podCIDR on the other before pods talk.
  for (const n of nodes)
    for (const other of nodes)
      if (other !== n)
        await waitFor(
          `${n.metadata.name} to route ${other.spec.podCIDR}`,
          async () =>
            (
              await netnsExec(`twill-pol2-${n.metadata.name}`, [
                'ip',
                '-4',
                'route',
                'show',
                other.spec.podCIDR!,
              ])
            ).trim() !== '',
          15_000,
        );
  await apply([
    ...['x', 'y'].map((n) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: n } })),
    ...PODS.map((ref) => {
      const [ns, name] = ref.split('/');
      return {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { namespace: ns, name, labels: { pod: name } },
        spec: {
          nodeName: nodeOf(ref),
          containers: [
            {
              name: 'cont',
              image: 'twill',
              command: [process.execPath, twillBin, 'netexec', '--tcp', '80,81', '--udp', '80,81'],
              ports: containerPorts(),
            },
          ],
        },
      };
    }),
  ]);
  await waitFor(
    'the servers to answer across nodes',
    async () => {
      const t = await twillJson('probe');
      return KEYS.every((k) => Object.values(t[k] ?? {}).every((row) => !row.includes('0')));
    },
    60_000,
  );
});

after(async () => {
  await twill?.stop();
  if (twill) {
    await run(process.execPath, [twillBin, 'down', '--data-dir', twill.dataDir, '--cluster-name', 'pol2']);
    fs.rmSync(twill.dataDir, { recursive: true, force: true });
  }
});

test('across nodes: ingress isolation on the destination node, egress on the source node, replies both ways', async () => {
  await apply([
    np('x', 'only-from-y-b', {
      podSelector: {},
      ingress: [
        {
          from: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } },
              podSelector: { matchLabels: { pod: 'b' } },
            },
          ],
        },
      ],
    }),
    np('y', 'a-only-to-x-b', {
      podSelector: { matchLabels: { pod: 'a' } },
      policyTypes: ['Egress'],
      egress: [
        {
          to: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'b' } } }],
          ports: [{ port: 80 }],
        },
      ],
    }),
  ]);
  // y/a (node-1) may only open TCP/80 to the b pods (node-2); x takes only y/b (node-2), so y/a -> x/b is
  // allowed by y/a's egress but denied by x/b's ingress on node-2. x/a, x/b -> y/* pass (replies come back
  // through x's ingress isolation as established traffic).
  const base = () => new Expect(true, PODS).deny('*', 'x/*').allow('y/b', 'x/*').deny('y/a', '*');
  await check({
    'TCP/80': base().allow('y/a', 'y/b'),
    'UDP/81': base(),
  });
});

/** `twill connect` from inside a pod: how it failed (agnhost's word) and how long it took. */
async function connectFrom(from: string, to: string, port: number): Promise<{ outcome: string; ms: number }> {
  const get = async (ref: string) => {
    const [ns, name] = ref.split('/');
    return JSON.parse(await kubectl(twill.kubeconfig, ['get', 'pod', '-n', ns, name, '-o', 'json']));
  };
  const [src, dst] = await Promise.all([get(from), get(to)]);
  const netns = findPodNetns(src)!;
  const start = Date.now();
  let outcome = 'OK';
  try {
    await netnsExec(netns, [
      process.execPath,
      twillBin,
      'connect',
      `${dst.status.podIP}:${port}`,
      '--timeout',
      '3s',
    ]);
  } catch (err) {
    outcome = /(TIMEOUT|REFUSED|OTHER|DNS):/.exec((err as Error).message)?.[1] ?? (err as Error).message;
  }
  return { outcome, ms: Date.now() - start };
}

test('--network-policy-deny reject: denied TCP connections are reset, bridged on one node and routed across', async () => {
  // y/a -> x/a: both on node-1 (bridged), denied by y/a's egress. x/a -> x/b: node-1 to node-2 (routed),
  // denied by x/b's ingress on node-2.
  for (const [from, to] of [
    ['y/a', 'x/a'],
    ['x/a', 'x/b'],
  ]) {
    // A reset (REFUSED), where a drop would wait out the timeout (TIMEOUT).
    const r = await connectFrom(from, to, 80);
    assert.equal(r.outcome, 'REFUSED', `${from} -> ${to} after ${r.ms} ms`);
  }
  assert.equal((await connectFrom('y/b', 'x/a', 80)).outcome, 'OK');
});
