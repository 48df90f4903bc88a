/**
 * The truth-table suite, for real: `twill up --nodes 1`, namespaces x, y, z with pods a, b, c running
 * `twill netexec --tcp 80,81 --udp 80,81`, policies applied with the real kubectl, and for each step the table
 * `twill probe` measures from inside the pods equals the one `twill reachability` computes and the one written
 * here by hand. Each change must reach the node's nftables table within one second.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, test } from 'node:test';
import { nftListTable } from '../linux/nft.js';
import { netnsExec } from '../linux/netns.js';
import {
  kubectl,
  run,
  startTwill,
  tempDir,
  twillBin,
  waitFor,
  type TwillProcess,
} from '../../test/e2e/harness.js';
import { ALL_PODS, Expect, NAMESPACES, POD_NAMES, containerPorts } from './fixtures.js';
import { POLICY_TABLE } from './render.js';

const NODE_NETNS = 'twill-pol1-node-1';
const KEYS = ['TCP/80', 'TCP/81', 'UDP/80', 'UDP/81'];
let twill: TwillProcess;
const ips: Record<string, string> = {};

function podManifest(ns: string, name: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: ns, name, labels: { pod: name } },
    spec: {
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
}

// A stream of JSON objects: kubectl cannot validate a v1 List against twill's OpenAPI.
const apply = (objs: unknown[]) =>
  kubectl(twill.kubeconfig, ['apply', '-f', '-'], objs.map((o) => JSON.stringify(o)).join('\n'));

const np = (ns: string, name: string, spec: unknown) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { namespace: ns, name },
  spec,
});

async function tableJson(): Promise<string> {
  return JSON.stringify(await nftListTable(POLICY_TABLE, { netns: NODE_NETNS }));
}

/** Runs a change and asserts the node's table changed within one second of the API accepting it. */
async function changeWithinOneSecond(change: () => Promise<unknown>): Promise<void> {
  const before = await tableJson();
  await change();
  const start = Date.now();
  await waitFor('the policy table to change', async () => (await tableJson()) !== before, 5_000);
  const ms = Date.now() - start;
  assert.ok(ms < 1000, `the table changed ${ms} ms after the API write`);
}

async function twillJson(cmd: string): Promise<Record<string, unknown>> {
  const r = await run(
    process.execPath,
    [
      twillBin,
      cmd,
      '--kubeconfig',
      twill.kubeconfig,
      '--namespaces',
      NAMESPACES.join(','),
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
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** probe == reachability == expected, for every key (`expected` maps key → table). */
async function check(expected: Record<string, Expect>): Promise<void> {
  const [probe, analysis] = await Promise.all([twillJson('probe'), twillJson('reachability')]);
  assert.deepEqual(probe.pods, ALL_PODS);
  for (const key of KEYS) {
    const want = expected[key].rows();
    assert.deepEqual(analysis[key], want, `reachability ${key}`);
    assert.deepEqual(probe[key], want, `probe ${key}`);
  }
}

const all = (e: () => Expect) => Object.fromEntries(KEYS.map((k) => [k, e()]));

before(async () => {
  // The agent's info log carries the denials (the harness keeps warn and above by default).
  process.env.TWILL_LOG_LEVEL = 'info';
  twill = await startTwill({
    dataDir: tempDir('twp'),
    extraArgs: [
      '--nodes',
      '1',
      '--cluster-name',
      'pol1',
      '--underlay-cidr',
      '172.31.243.0/24',
      '--cluster-cidr',
      '10.243.0.0/16',
      '--service-cidr',
      '10.93.0.0/16',
    ],
    timeoutMs: 60_000,
  });
  await waitFor(
    'node-1 Ready',
    async () => (await kubectl(twill.kubeconfig, ['get', 'nodes'])).includes(' Ready'),
    30_000,
  );
  await apply([
    ...NAMESPACES.map((n) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: n } })),
    ...NAMESPACES.flatMap((ns) => POD_NAMES.map((p) => podManifest(ns, p))),
  ]);
  await waitFor(
    'the nine pods to run',
    async () => {
      const list = JSON.parse(await kubectl(twill.kubeconfig, ['get', 'pods', '-A', '-o', 'json'])) as {
        items: {
          metadata: { namespace: string; name: string };
          status: { phase?: string; podIP?: string };
        }[];
      };
      const running = list.items.filter((p) => p.status.phase === 'Running' && p.status.podIP);
      for (const p of running) ips[`${p.metadata.namespace}/${p.metadata.name}`] = p.status.podIP!;
      return running.length === 9;
    },
    60_000,
  );
  // Running comes when the process starts; wait until every server listens (probe from x/a sees 1s).
  await waitFor(
    'the servers to listen',
    async () => {
      const t = await twillJson('probe');
      return KEYS.every((k) =>
        Object.values(t[k] as Record<string, string>).every((row) => !row.includes('0')),
      );
    },
    30_000,
  );
});

after(async () => {
  await twill?.stop();
  // Whatever the run left (it removes its nodes on exit; this is for a crash).
  if (twill) {
    await run(process.execPath, [twillBin, 'down', '--data-dir', twill.dataDir, '--cluster-name', 'pol1']);
    fs.rmSync(twill.dataDir, { recursive: true, force: true });
  }
});

test('the namespace label kubernetes.io/metadata.name is set automatically', async () => {
  const labels = JSON.parse(
    await kubectl(twill.kubeconfig, ['get', 'ns', 'y', '-o', 'jsonpath={.metadata.labels}']),
  );
  assert.equal(labels['kubernetes.io/metadata.name'], 'y');
});

test('no policies: every pod reaches every other', async () => {
  await check(all(() => new Expect(true)));
});

test('deny-all ingress in x plus an allow from namespace y to x/a on a named port; replies pass conntrack', async () => {
  await changeWithinOneSecond(() =>
    apply([
      np('x', 'deny-all', { podSelector: {} }),
      np('x', 'allow-y', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [
          {
            from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }],
            ports: [{ port: 'serve-80-tcp' }],
          },
        ],
      }),
    ]),
  );
  // x/b -> y/a stays 1: its replies enter x/b, which is isolated, as an established connection.
  await check({
    'TCP/80': new Expect(true).deny('*', 'x/*').allow('y/*', 'x/a'),
    'TCP/81': new Expect(true).deny('*', 'x/*'),
    'UDP/80': new Expect(true).deny('*', 'x/*'),
    'UDP/81': new Expect(true).deny('*', 'x/*'),
  });
  // The node itself (where hostNetwork pods run) still reaches the isolated pods: pods cannot block their node.
  await netnsExec(NODE_NETNS, [process.execPath, twillBin, 'connect', `${ips['x/b']}:81`, '--timeout', '2s']);
});

test('policy update: namespaceSelector AND podSelector in one peer, an endPort range', async () => {
  await changeWithinOneSecond(() =>
    apply([
      np('x', 'allow-y', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [
          {
            from: [
              {
                namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } },
                podSelector: { matchLabels: { pod: 'b' } },
              },
            ],
            ports: [{ port: 80, endPort: 81 }],
          },
        ],
      }),
    ]),
  );
  await check({
    'TCP/80': new Expect(true).deny('*', 'x/*').allow('y/b', 'x/a'),
    'TCP/81': new Expect(true).deny('*', 'x/*').allow('y/b', 'x/a'),
    'UDP/80': new Expect(true).deny('*', 'x/*'),
    'UDP/81': new Expect(true).deny('*', 'x/*'),
  });
});

test('namespace and pod label changes take effect', async () => {
  await kubectl(twill.kubeconfig, ['delete', 'networkpolicy', '-n', 'x', 'deny-all', 'allow-y']);
  await changeWithinOneSecond(() =>
    apply([
      np('y', 'from-blue', {
        podSelector: {},
        ingress: [
          {
            from: [
              { namespaceSelector: { matchLabels: { team: 'blue' } } },
              { namespaceSelector: {}, podSelector: { matchLabels: { color: 'blue' } } },
            ],
          },
        ],
      }),
    ]),
  );
  await check(all(() => new Expect(true).deny('*', 'y/*')));
  await kubectl(twill.kubeconfig, ['label', 'ns', 'z', 'team=blue']);
  await changeWithinOneSecond(() =>
    kubectl(twill.kubeconfig, ['label', 'pod', '-n', 'x', 'c', 'color=blue']),
  );
  await check(all(() => new Expect(true).deny('*', 'y/*').allow('z/*', 'y/*').allow('x/c', 'y/*')));
});

test('egress: ports by protocol, ipBlock with except', async () => {
  await kubectl(twill.kubeconfig, ['delete', 'networkpolicy', '-n', 'y', 'from-blue']);
  await changeWithinOneSecond(() =>
    apply([
      np('z', 'a-out', {
        podSelector: { matchLabels: { pod: 'a' } },
        policyTypes: ['Egress'],
        egress: [
          { ports: [{ protocol: 'UDP', port: 81 }] },
          {
            to: [{ ipBlock: { cidr: '10.243.0.0/16', except: [`${ips['x/b']}/32`] } }],
            ports: [{ port: 80 }],
          },
        ],
      }),
    ]),
  );
  await check({
    'TCP/80': new Expect(true).deny('z/a', 'x/b'),
    'TCP/81': new Expect(true).deny('z/a', '*'),
    'UDP/80': new Expect(true).deny('z/a', '*'),
    'UDP/81': new Expect(true),
  });
});

test('explain names the deciding policy and rule', async () => {
  const r = await run(process.execPath, [
    twillBin,
    'explain',
    '--kubeconfig',
    twill.kubeconfig,
    '--from',
    'z/a',
    '--to',
    'x/b',
    '--port',
    '80/TCP',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    'z/a -> x/b TCP/80: denied\n' +
      '  egress (z/a): DENIED: no rule of z/a-out allows it\n' +
      '  ingress (x/b): allowed: no policy selects x/b for ingress\n',
  );
});

test('denials are recorded with pod names and direction: twill logs --denied and the agent log', async () => {
  // The probes of the egress case were denied z/a -> x/b TCP/80; probe once more so the record is fresh.
  await twillJson('probe');
  const r = await run(process.execPath, [twillBin, 'logs', '--denied', '--kubeconfig', twill.kubeconfig]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^z\/a -> x\/b TCP\/80 denied \(egress of z\/a\), \d+s ago$/m);
  assert.match(r.stdout, /^z\/a -> y\/a TCP\/81 denied \(egress of z\/a\), \d+s ago$/m);
  // The record keeps a minute: ingress denials into y from the previous case may still be in it; z/a's own
  // egress on UDP/81 is what the policy allows.
  assert.doesNotMatch(
    r.stdout,
    /^z\/a -> \S+ UDP\/81 denied \(egress of z\/a\)/m,
    "z/a's UDP/81 egress is allowed",
  );
  await waitFor(
    'the agent to log the denial',
    async () => twill.stderr().includes('z/a -> x/b TCP/80 denied (egress of z/a)'),
    15_000,
  );
});
