/**
 * bench/overlay: for each overlay backend, cross-node pod-to-pod iperf3 throughput against the underlay itself
 * (node namespace to node namespace, the same veths and bridge without the overlay) in the same run, and the
 * time from a node joining to full routing (p50/p99 over N joins).
 *
 * Each backend gets an in-process cluster of its own (src/overlay/testing.ts: control plane, node namespaces
 * `twill-ovlb-node-i` on the underlay 172.31.239.0/24, pods in 10.241.0.0/16), removed on exit, also on
 * failure. Throughput: a pod on node-2 runs `iperf3 -s`; `iperf3 -c <pod IP> -t S -J` runs in a pod's
 * namespace on node-1; the underlay figure is the same between the node namespaces' own addresses. Join: node-3's
 * agent is started (it registers its Node, gets a podCIDR, makes its devices, publishes its lease) and the
 * clock runs until node-1 and node-2 each route node-3's podCIDR and node-3 routes both of theirs (polled
 * every 5 ms in the three namespaces); then node-3 leaves (agent stopped with teardown, Node deleted) and
 * joins again.
 *
 *   node dist/bench/overlay.js [--backends vxlan,host-gw,wireguard] [--seconds 5] [--joins 20]
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import { Resources } from '../src/client/rest.js';
import type { KubeObject } from '../src/model/types.js';
import { run } from '../src/linux/exec.js';
import { startOverlayCluster, type OverlayCluster } from '../src/overlay/testing.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}
const BACKENDS = arg('backends', 'vxlan,host-gw,wireguard').split(',');
const SECONDS = Number(arg('seconds', '5'));
const JOINS = Number(arg('joins', '20'));
if (!Number.isInteger(SECONDS) || SECONDS < 1 || SECONDS > 60) throw new Error('--seconds must be 1..60');
if (!Number.isInteger(JOINS) || JOINS < 1 || JOINS > 200) throw new Error('--joins must be 1..200');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  ms: number,
  every = 50,
): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    await sleep(every);
  }
  throw new Error(`timed out: ${what}`);
}

/** iperf3 from clientNs to serverIP (an `iperf3 -s -1` already listening); Gbit/s as received. */
async function iperf(clientNs: string, serverIP: string): Promise<number> {
  const out = await new Promise<string>((resolve, reject) => {
    const c = spawn(
      'ip',
      ['netns', 'exec', clientNs, 'iperf3', '-c', serverIP, '-t', String(SECONDS), '-J'],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    let stdout = '';
    c.stdout.on('data', (d) => (stdout += d));
    const timer = setTimeout(() => c.kill('SIGKILL'), (SECONDS + 20) * 1000);
    c.on('error', reject);
    c.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`iperf3 -c ${serverIP} in ${clientNs} exited ${code}: ${stdout.slice(0, 300)}`));
    });
  });
  const json = JSON.parse(out);
  if (json.error) throw new Error(`iperf3: ${json.error}`);
  return json.end.sum_received.bits_per_second / 1e9;
}

async function listening(ns: string, port: number): Promise<void> {
  await until(
    `iperf3 -s in ${ns}`,
    async () => (await run(['ss', '-Hltn', `sport = :${port}`], { netns: ns })).trim() !== '',
    10_000,
  );
}

async function pod(
  c: OverlayCluster,
  name: string,
  node: string,
  command: string[],
): Promise<{ ip: string; ns: string }> {
  const p: KubeObject = await c.client.create<KubeObject>(Resources.pods, 'default', {
    metadata: { name },
    spec: { nodeName: node, restartPolicy: 'Never', containers: [{ name, image: 'x', command }] },
  });
  const uid = p.metadata.uid!.replace(/-/g, '').slice(0, 8);
  const ip = await until(
    `pod ${name}`,
    async () => ((await c.client.get(Resources.pods, 'default', name)).status as { podIP?: string })?.podIP,
    40_000,
  );
  const nodeNs = c.topo.record.nodes.find((n) => n.name === node)!.netns;
  return { ip, ns: `${nodeNs}-${uid}` };
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

async function routesCIDRs(ns: string): Promise<string> {
  return run(['ip', '-4', 'route', 'show', 'proto', '77'], { netns: ns });
}

interface Row {
  backend: string;
  underlay: number;
  pods: number;
  joins: number[];
  /** Of which the agent's start (Node registered, podCIDR, devices, lease published). */
  started: number[];
  /** The rest: from the agent's start returning to routes everywhere (the overlay's own part). */
  after: number[];
}

async function benchBackend(backend: string): Promise<Row> {
  const c = await startOverlayCluster({
    cluster: 'ovlb',
    underlayCIDR: '172.31.239.0/24',
    nodes: 3,
    backend,
  });
  try {
    const [n1, n2, n3] = c.topo.record.nodes;
    const a1 = await c.startNode('node-1');
    const a2 = await c.startNode('node-2');
    // Throughput: the underlay (node to node), then pod to pod across the overlay.
    const srvNode = spawn('ip', ['netns', 'exec', n2.netns, 'iperf3', '-s', '-1', '-p', '5201'], {
      stdio: 'ignore',
    });
    let underlay: number;
    try {
      await listening(n2.netns, 5201);
      underlay = await iperf(n1.netns, n2.ip);
    } finally {
      if (srvNode.exitCode === null) srvNode.kill('SIGKILL');
    }
    const server = await pod(c, 'iperf-server', 'node-2', ['iperf3', '-s', '-p', '5201']);
    const client = await pod(c, 'iperf-client', 'node-1', ['sleep', '3600']);
    await listening(server.ns, 5201);
    const pods = await iperf(client.ns, server.ip);

    // Joins.
    const joins: number[] = [];
    const started: number[] = [];
    const after: number[] = [];
    for (let i = 0; i < JOINS; i++) {
      const t0 = performance.now();
      const a3 = await c.startNode('node-3');
      started.push(performance.now() - t0);
      const cidr3 = a3.podCIDRs[0];
      for (;;) {
        const [r1, r2, r3] = await Promise.all([
          routesCIDRs(n1.netns),
          routesCIDRs(n2.netns),
          routesCIDRs(n3.netns),
        ]);
        if (
          r1.includes(cidr3) &&
          r2.includes(cidr3) &&
          r3.includes(a1.podCIDRs[0]) &&
          r3.includes(a2.podCIDRs[0])
        )
          break;
        if (performance.now() - t0 > 30_000) throw new Error(`join ${i}: node-3 not routed in 30 s`);
        await sleep(5);
      }
      joins.push(performance.now() - t0);
      after.push(joins[joins.length - 1] - started[started.length - 1]);
      await c.stopNode('node-3', { teardown: true });
      await c.client.delete(Resources.nodes, undefined, 'node-3');
      await c.client.delete(Resources.leases, 'kube-node-lease', 'node-3').catch(() => undefined);
      await until(
        'node-3 gone from node-1',
        async () => !(await routesCIDRs(n1.netns)).includes(cidr3),
        10_000,
        10,
      );
    }
    return {
      backend,
      underlay,
      pods,
      joins: joins.sort((x, y) => x - y),
      started: started.sort((x, y) => x - y),
      after: after.sort((x, y) => x - y),
    };
  } finally {
    await c.stop();
  }
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const b of BACKENDS) rows.push(await benchBackend(b));
  console.log(
    `bench/overlay: iperf3 ${SECONDS} s node-2 ← node-1, ${JOINS} joins of node-3 to a 2-node cluster, ${os.cpus().length} cores`,
  );
  console.log(
    [
      'backend',
      'underlay Gbit/s',
      'pod-to-pod Gbit/s',
      'pods/underlay',
      'join→routed p50 ms',
      'p99 ms',
      'agent start p50 ms',
      'after start p50/p99 ms',
    ].join('\t'),
  );
  for (const r of rows) {
    console.log(
      [
        r.backend,
        r.underlay.toFixed(2),
        r.pods.toFixed(2),
        `${(r.pods / r.underlay).toFixed(2)}x`,
        pct(r.joins, 50).toFixed(0),
        pct(r.joins, 99).toFixed(0),
        pct(r.started, 50).toFixed(0),
        `${pct(r.after, 50).toFixed(0)}/${pct(r.after, 99).toFixed(0)}`,
      ].join('\t'),
    );
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
