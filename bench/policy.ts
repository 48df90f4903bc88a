/**
 * bench/policy: NetworkPolicy enforcement cost, in one run.
 *
 * 1. Render and apply: 1,000 pods (20 namespaces × 50, ten `app` values per namespace) under 100 and 1,000
 *    policies (each selects one app and allows one app of another namespace on one port, plus an egress rule),
 *    all pods local to the node. For each: the pure render (ms), `nft -f` of the full table into a scratch
 *    namespace (ms), then one policy's port changed, synced as a full transaction and as a partial one (render +
 *    diff + apply), side by side.
 * 2. Throughput: two pods bridged in a node namespace (br_netfilter on in both runs), `iperf3 -t S` from one to
 *    the other with no table, then with the 1,000-policy table in force where the server is isolated and the
 *    client allowed — alternated twice, the best of each printed beside the other.
 *
 * Namespaces `twp-bench-<rand>-*`, addresses 10.243.0.0/16; everything is removed at the end.
 *
 *   node dist/bench/policy.js [--seconds 5]
 */
import crypto from 'node:crypto';
import { addrAdd } from '../src/linux/addr.js';
import { bridgeAdd, linkAddVeth, linkSetMaster, linkSetUp } from '../src/linux/link.js';
import { netnsAdd, netnsDelete, netnsExec, netnsKillAll } from '../src/linux/netns.js';
import { nftApply } from '../src/linux/nft.js';
import { sysctlWrite } from '../src/linux/sysctl.js';
import type { KubeObject } from '../src/model/types.js';
import {
  POLICY_TABLE,
  fullScript,
  partialScript,
  renderPolicies,
  renderTable,
} from '../src/policy/render.js';
import { stateFromObjects, type PolicyState } from '../src/policy/semantics.js';
import { modelNamespace, modelPod, policy } from '../src/policy/fixtures.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}
const SECONDS = Number(arg('seconds', '5'));
const NODE = 'bench';
const tag = crypto.randomBytes(3).toString('hex');
const nodeNs = `twp-bench-${tag}-n`;
const podNs = [`twp-bench-${tag}-a`, `twp-bench-${tag}-b`];

const NS_COUNT = 20;
const PODS_PER_NS = 50;

/** Pod i: namespace ns-(i/50), app-(i%10); the first two get the addresses of the iperf pods. */
function pods(): KubeObject[] {
  const out: KubeObject[] = [];
  for (let i = 0; i < NS_COUNT * PODS_PER_NS; i++) {
    const ns = `ns-${Math.floor(i / PODS_PER_NS)}`;
    const ip = i < 2 ? `10.243.0.${2 + i}` : `10.243.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
    out.push(
      modelPod(ns, `pod-${i}`, { ip, nodeName: NODE, labels: { app: `app-${i % 10}`, tier: `t${i % 3}` } }),
    );
  }
  return out;
}

function policies(n: number, variant = 0): KubeObject[] {
  const out: KubeObject[] = [];
  for (let k = 0; k < n; k++) {
    const ns = `ns-${k % NS_COUNT}`;
    out.push(
      policy(ns, `pol-${k}`, {
        podSelector: { matchLabels: { app: `app-${Math.floor(k / NS_COUNT) % 10}` } },
        ingress: [
          {
            from: [
              {
                namespaceSelector: {
                  matchLabels: { 'kubernetes.io/metadata.name': `ns-${(k + 1) % NS_COUNT}` },
                },
                podSelector: { matchLabels: { app: `app-${k % 10}` } },
              },
            ],
            ports: [{ port: k === 0 ? 8000 + variant : 8000 + (k % 100) }, { port: 'serve-80-tcp' }],
          },
        ],
        egress: [{ to: [{ ipBlock: { cidr: '10.243.0.0/16', except: [`10.243.9.${k % 250}/32`] } }] }],
      }),
    );
  }
  return out;
}

function state(nPolicies: number, variant = 0): PolicyState {
  const ns = Array.from({ length: NS_COUNT }, (_, i) => modelNamespace(`ns-${i}`));
  return stateFromObjects(policies(nPolicies, variant), pods(), ns);
}

/** iperf pods: ns-0/pod-0 (10.243.0.2, server) and ns-0/pod-1 (10.243.0.3, client), allowed by pol-x below. */
function iperfAllow(): KubeObject {
  return policy('ns-0', 'allow-iperf', {
    podSelector: { matchLabels: { app: 'app-0' } },
    ingress: [{ from: [{ podSelector: { matchLabels: { app: 'app-1' } } }], ports: [{ port: 5201 }] }],
  });
}

const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

async function timed<T>(fn: () => T | Promise<T>): Promise<[T, number]> {
  const t0 = process.hrtime.bigint();
  const v = await fn();
  return [v, ms(t0)];
}

async function setup(): Promise<void> {
  await netnsAdd(nodeNs);
  await bridgeAdd('twpbr0', { netns: nodeNs });
  await linkSetUp('twpbr0', { netns: nodeNs });
  await linkSetUp('lo', { netns: nodeNs });
  for (const [i, ns] of podNs.entries()) {
    await netnsAdd(ns);
    await linkAddVeth({ name: `twpv${i}`, peerName: 'eth0', peerNetns: ns }, { netns: nodeNs });
    await linkSetMaster(`twpv${i}`, 'twpbr0', { netns: nodeNs });
    await linkSetUp(`twpv${i}`, { netns: nodeNs });
    await addrAdd('eth0', `10.243.0.${2 + i}/24`, { netns: ns });
    await linkSetUp('eth0', { netns: ns });
    await linkSetUp('lo', { netns: ns });
  }
  await sysctlWrite('net/bridge/bridge-nf-call-iptables', '1', { netns: nodeNs });
}

async function teardown(): Promise<void> {
  for (const ns of [...podNs, nodeNs]) {
    await netnsKillAll(ns).catch(() => undefined);
    await netnsDelete(ns).catch(() => undefined);
  }
}

/** Gbit/s received, client pod b → server pod a. */
async function iperf(): Promise<number> {
  const server = netnsExec(podNs[0], ['iperf3', '-s', '-1', '-p', '5201']).catch(() => '');
  let out = '';
  for (let attempt = 0; attempt < 20 && !out; attempt++) {
    await new Promise((r) => setTimeout(r, 200));
    out = await netnsExec(podNs[1], [
      'iperf3',
      '-c',
      '10.243.0.2',
      '-p',
      '5201',
      '-t',
      String(SECONDS),
      '-J',
    ]).catch(() => '');
  }
  await server;
  if (!out) throw new Error('iperf3 did not connect');
  return (JSON.parse(out) as any).end.sum_received.bits_per_second / 1e9;
}

async function main(): Promise<void> {
  try {
    await setup();
    const apply = (text: string) => nftApply(text, { tables: [POLICY_TABLE], netns: nodeNs });
    const rows: string[][] = [
      [
        'policies',
        'render ms',
        'apply ms',
        'nft kB',
        'rules',
        '1 changed, full ms',
        '1 changed, partial ms',
        'partial B',
      ],
    ];
    for (const n of [100, 1000]) {
      const s = state(n);
      const changed = state(n, 1);
      const opts = { nodeName: NODE };
      const [table, renderMs] = await timed(() => renderTable(s, opts));
      const text = fullScript(table);
      const [, applyMs] = await timed(() => apply(text));
      const [, changedFullMs] = await timed(async () => apply(fullScript(renderTable(changed, opts))));
      await apply(text);
      let partialBytes = 0;
      const [, changedPartialMs] = await timed(async () => {
        const script = partialScript(table, renderTable(changed, opts))!;
        partialBytes = script.length;
        await apply(script);
      });
      const rules = text.split('\n').filter((l) => /\b(return|drop)\b/.test(l)).length;
      rows.push([
        String(n),
        renderMs.toFixed(1),
        applyMs.toFixed(1),
        (text.length / 1024).toFixed(0),
        String(rules),
        changedFullMs.toFixed(1),
        changedPartialMs.toFixed(1),
        String(partialBytes),
      ]);
    }
    for (const r of rows)
      process.stdout.write(
        r.map((c, i) => c.padStart(i === 0 ? 8 : Math.max(10, c.length))).join(' ') + '\n',
      );

    // Throughput: no table, then 1,000 policies + the allow for the iperf pods, alternated twice (this machine
    // is shared: alternating spreads the noise over both), the best of each.
    const none: number[] = [];
    const withPolicies: number[] = [];
    const s = state(1000);
    s.policies.push(...stateFromObjects([iperfAllow()], [], []).policies);
    const full = renderPolicies(s, { nodeName: NODE });
    for (let round = 0; round < 2; round++) {
      await apply('add table inet twill-policy\ndelete table inet twill-policy\n');
      none.push(await iperf());
      await apply(full);
      withPolicies.push(await iperf());
    }
    const a = Math.max(...none);
    const b = Math.max(...withPolicies);
    process.stdout.write(
      `iperf3 ${SECONDS}s pod→pod over the bridge (best of 2): no policies ${a.toFixed(2)} Gbit/s, ` +
        `1,000 policies ${b.toFixed(2)} Gbit/s (${((b / a) * 100).toFixed(0)}%)\n`,
    );
  } finally {
    await teardown();
  }
}

main().catch((err) => {
  process.stderr.write(`bench/policy: ${(err as Error).stack}\n`);
  process.exitCode = 1;
});
