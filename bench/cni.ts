/**
 * bench/cni: twill-cni with twill-ipam against the reference bridge with host-local (Debian's
 * containernetworking-plugins in /usr/lib/cni), in the same run, on the same machine.
 *
 * Everything happens in a node namespace of its own (`twill-t-bench-<rand>`): each plugin pair gets its own
 * bridge and subnet there (198.51.100.0/24 for the reference, 203.0.113.0/24 for twill), so the host is never
 * touched. Plugins are exec'd as a runtime execs them — CNI env, the config on stdin — under
 * `nsenter --net=<node>`, and the time of each ADD and each DEL is the exec's wall time from spawn to exit.
 * The bare cost of that exec (`nsenter … /bin/true`) is measured too and printed as the floor both pay.
 *
 * 1. Latency: K sequential ADD+DEL cycles per pair on one pod namespace made once and reused (a new
 *    containerID per cycle), pairs interleaved cycle by cycle so that machine noise falls on both alike.
 * 2. Throughput: two pods on each bridge, `iperf3 -s -1` in one, `iperf3 -c <ip> -t 5 -J` in the other.
 * 3. Pod create → Ready (./pods.ts): N pods created at once on one node through the API, the agent running
 *    them with the reference conflist (bridge + host-local) and with its own (twill-cni + twill-ipam +
 *    twill-portmap); p50/p99 of each pod's time and the time until all are Ready.
 *
 *   node dist/bench/cni.js [--count 200] [--seconds 5] [--pods 100] [--parts plugins,pods]
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { netnsAdd, netnsDelete, netnsExec } from '../src/linux/netns.js';
import { type ReadyFigures, podsToReady } from './pods.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}

const COUNT = Number(arg('count', '200'));
const SECONDS = Number(arg('seconds', '5'));
if (!Number.isInteger(COUNT) || COUNT < 1) throw new Error(`--count must be a positive integer`);
if (!Number.isInteger(SECONDS) || SECONDS < 1 || SECONDS > 60) throw new Error(`--seconds must be 1..60`);
const PODS = Number(arg('pods', '100'));
if (!Number.isInteger(PODS) || PODS < 1 || PODS > 250) throw new Error(`--pods must be 1..250`);
const PARTS = arg('parts', 'plugins,pods').split(',');

// dist/bench/cni.js → the repo root, where bin/twill-cni and bin/twill-ipam live.
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CNI_PATH = [path.join(repo, 'bin'), '/usr/lib/cni'].join(':');
const id = crypto.randomBytes(3).toString('hex');
const node = `twill-t-bench-${id}`;
const nodePath = `/var/run/netns/${node}`;
const nsPath = (ns: string) => `/var/run/netns/${ns}`;

interface Pair {
  label: string;
  plugin: string; // file to exec
  conf: Record<string, unknown>;
  dataDir: string;
  pods: string[];
}

function pairs(): Pair[] {
  const mk = (
    label: string,
    type: string,
    file: string,
    ipam: string,
    bridge: string,
    subnet: string,
  ): Pair => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `twill-bench-cni-${label}-`));
    return {
      label,
      plugin: file,
      dataDir,
      pods: [`twill-t-bench-${id}-${label}a`, `twill-t-bench-${id}-${label}b`],
      // The same options for both: what a node's pod network typically asks for.
      conf: {
        cniVersion: '1.0.0',
        name: `twbench${label}`,
        type,
        bridge,
        isGateway: true,
        isDefaultGateway: true,
        ipam: { type: ipam, dataDir, ranges: [[{ subnet }]] },
      },
    };
  };
  return [
    mk('ref', 'bridge', '/usr/lib/cni/bridge', 'host-local', `twbr${id}`, '198.51.100.0/24'),
    mk(
      'twill',
      'twill-cni',
      path.join(repo, 'bin', 'twill-cni'),
      'twill-ipam',
      `twtw${id}`,
      '203.0.113.0/24',
    ),
  ];
}

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Execs argv inside the node namespace with env and stdin; resolves with its exit, output and wall time. */
function execInNode(argv: string[], env: Record<string, string>, stdin: string): Promise<Outcome> {
  const t0 = performance.now();
  const child = spawn('nsenter', [`--net=${nodePath}`, ...argv], {
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  // A program that exits without reading its stdin (the floor's /bin/true) closes the pipe first: EPIPE is
  // not a failure of the plugin.
  child.stdin.on('error', () => undefined);
  child.stdin.end(stdin);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  // Bounded: a plugin that hangs fails the bench instead of stalling it.
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

async function cni(
  p: Pair,
  command: 'ADD' | 'DEL',
  containerID: string,
  netns: string,
  prevResult?: unknown,
): Promise<{ ms: number; result: any }> {
  const conf = prevResult ? { ...p.conf, prevResult } : p.conf;
  const out = await execInNode(
    [p.plugin],
    {
      TWILL_LOG_LEVEL: 'silent',
      CNI_COMMAND: command,
      CNI_CONTAINERID: containerID,
      CNI_NETNS: nsPath(netns),
      CNI_IFNAME: 'eth0',
      CNI_PATH,
    },
    JSON.stringify(conf),
  );
  if (out.code !== 0) {
    throw new Error(`${p.label} ${command} ${containerID} exited ${out.code}: ${out.stdout}${out.stderr}`);
  }
  return { ms: out.ms, result: command === 'ADD' ? JSON.parse(out.stdout) : undefined };
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

interface Latency {
  add: number[];
  del: number[];
}

async function latency(ps: Pair[]): Promise<Map<string, Latency>> {
  const lat = new Map(ps.map((p) => [p.label, { add: [] as number[], del: [] as number[] }]));
  for (let i = 0; i < COUNT; i++) {
    for (const p of ps) {
      const containerID = `bench-${p.label}-${i}`;
      const add = await cni(p, 'ADD', containerID, p.pods[0]);
      const del = await cni(p, 'DEL', containerID, p.pods[0], add.result);
      lat.get(p.label)!.add.push(add.ms);
      lat.get(p.label)!.del.push(del.ms);
    }
  }
  return lat;
}

async function floor(n: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) ms.push((await execInNode(['/bin/true'], {}, '')).ms);
  return ms.sort((a, b) => a - b);
}

/** Waits (bounded) until something listens on TCP port in the pod namespace. */
async function listening(ns: string, port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const out = await netnsExec(ns, ['ss', '-Hltn', `sport = :${port}`]);
    if (out.trim() !== '') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`iperf3 server in ${ns} did not listen on ${port}`);
}

/** iperf3 from pods[1] to pods[0] over the pair's bridge; Gbit/s as the receiver counted it. */
async function throughput(p: Pair): Promise<number> {
  const results: any[] = [];
  try {
    for (const [i, ns] of p.pods.entries())
      results.push((await cni(p, 'ADD', `bench-iperf-${i}`, ns)).result);
    const serverIP = (results[0].ips[0].address as string).split('/')[0];
    const server = spawn('ip', ['netns', 'exec', p.pods[0], 'iperf3', '-s', '-1', '-p', '5201'], {
      stdio: 'ignore',
    });
    try {
      await listening(p.pods[0], 5201);
      const out = await new Promise<string>((resolve, reject) => {
        const client = spawn(
          'ip',
          ['netns', 'exec', p.pods[1], 'iperf3', '-c', serverIP, '-p', '5201', '-t', String(SECONDS), '-J'],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let stdout = '';
        client.stdout.on('data', (d) => (stdout += d));
        client.stderr.resume();
        const timer = setTimeout(() => client.kill('SIGKILL'), (SECONDS + 15) * 1000);
        client.on('error', reject);
        client.on('close', (code) => {
          clearTimeout(timer);
          if (code === 0) resolve(stdout);
          else reject(new Error(`iperf3 client in ${p.pods[1]} exited ${code}: ${stdout.slice(0, 500)}`));
        });
      });
      const json = JSON.parse(out);
      if (json.error) throw new Error(`iperf3: ${json.error}`);
      return json.end.sum_received.bits_per_second / 1e9;
    } finally {
      if (server.exitCode === null) server.kill('SIGKILL');
    }
  } finally {
    for (const [i, ns] of p.pods.entries()) {
      if (results[i]) await cni(p, 'DEL', `bench-iperf-${i}`, ns, results[i]);
    }
  }
}

async function main(): Promise<void> {
  if (PARTS.includes('plugins')) await pluginsBench();
  if (PARTS.includes('pods')) await podsBench();
}

async function podsBench(): Promise<void> {
  process.env.TWILL_LOG_LEVEL ??= 'warn';
  const runs: ReadyFigures[] = [];
  const variants = [
    { label: 'bridge+host-local', reference: true, thick: false },
    { label: "twill plugins, exec'd", reference: false, thick: false },
    { label: 'twill plugins, thick', reference: false, thick: true },
  ];
  for (const [i, v] of variants.entries()) {
    runs.push(await podsToReady({ ...v, pods: PODS, subnetOctet: 201 + i, repo }));
  }
  const f = (n: number, d = 1) => n.toFixed(d);
  console.log(
    `bench/cni: pod create → Ready, ${PODS} pods created at once on one node (twill agent, node namespace), ${os.cpus().length} cores`,
  );
  console.log(['conflist', 'p50 ms', 'p99 ms', 'all Ready s'].join('\t'));
  for (const r of runs)
    console.log([r.label, f(pct(r.ms, 50)), f(pct(r.ms, 99)), f(r.allReadyMs / 1000, 2)].join('\t'));
  const ref = runs[0];
  for (const tw of runs.slice(1)) {
    console.log(
      [
        `${tw.label} / ref`,
        `${f(pct(tw.ms, 50) / pct(ref.ms, 50), 2)}x`,
        `${f(pct(tw.ms, 99) / pct(ref.ms, 99), 2)}x`,
        `${f(tw.allReadyMs / ref.allReadyMs, 2)}x`,
      ].join('\t'),
    );
  }
}

async function pluginsBench(): Promise<void> {
  const ps = pairs();
  let lat: Map<string, Latency>;
  const gbps = new Map<string, number>();
  let execFloor: number[];
  try {
    await netnsAdd(node);
    await netnsExec(node, ['ip', 'link', 'set', 'lo', 'up']);
    for (const p of ps) for (const ns of p.pods) await netnsAdd(ns);
    // One warm-up cycle each, so that first-time costs (bridge creation, page cache) are not in the figures.
    for (const p of ps) {
      const add = await cni(p, 'ADD', `bench-warmup-${p.label}`, p.pods[0]);
      await cni(p, 'DEL', `bench-warmup-${p.label}`, p.pods[0], add.result);
    }
    execFloor = await floor(20);
    lat = await latency(ps);
    for (const p of ps) gbps.set(p.label, await throughput(p));
  } finally {
    for (const p of ps) {
      for (const ns of p.pods) await netnsDelete(ns);
      fs.rmSync(p.dataDir, { recursive: true, force: true });
    }
    await netnsDelete(node); // takes both bridges (and any veth left behind) with it
  }

  const f = (n: number, d = 1) => n.toFixed(d);
  const s = (label: string, k: keyof Latency) => [...lat.get(label)![k]].sort((a, b) => a - b);
  console.log(
    `bench/cni: ${COUNT} sequential ADD+DEL cycles per plugin pair, iperf3 ${SECONDS} s, ${os.cpus().length} cores; ` +
      `exec floor (nsenter /bin/true) p50 ${f(pct(execFloor, 50))} ms`,
  );
  console.log(['pair', 'ADD p50 ms', 'ADD p99 ms', 'DEL p50 ms', 'DEL p99 ms', 'iperf3 Gbit/s'].join('\t'));
  const names: Record<string, string> = { ref: 'bridge+host-local', twill: 'twill-cni+twill-ipam' };
  for (const p of ps) {
    const add = s(p.label, 'add');
    const del = s(p.label, 'del');
    console.log(
      [
        names[p.label],
        f(pct(add, 50)),
        f(pct(add, 99)),
        f(pct(del, 50)),
        f(pct(del, 99)),
        f(gbps.get(p.label)!, 2),
      ].join('\t'),
    );
  }
  const r = (k: keyof Latency, q: number) => pct(s('twill', k), q) / pct(s('ref', k), q);
  console.log(
    [
      'twill/ref',
      `${f(r('add', 50), 2)}x`,
      `${f(r('add', 99), 2)}x`,
      `${f(r('del', 50), 2)}x`,
      `${f(r('del', 99), 2)}x`,
      `${f(gbps.get('twill')! / gbps.get('ref')!, 2)}x`,
    ].join('\t'),
  );
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
