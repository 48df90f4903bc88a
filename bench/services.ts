/**
 * bench/services: the Services dataplane at 1, 1,000 and 10,000 Services of 10 endpoints each.
 *
 * Three namespaces of its own (`tws-bn` the node holding `ip twill-services`, `tws-bc` a client pod,
 * `tws-bs` a server pod holding the ten real endpoint addresses 10.243.2.2–11), joined by two veths through the
 * node, which routes; the host is never touched. Per size:
 *
 * - full sync: render every service (renderBase + renderService, as the proxier does) and apply the whole
 *   table in one `nft -f` — the first one (table created) and the median of three on an existing table;
 * - partial sync: 100 single-endpoint changes (an endpoint of a random other service removed, then added
 *   back), each rendered for that service alone, diffed and applied; p50/p99;
 * - connect latency of a new TCP connection from the client pod through the ClusterIP, against straight to an
 *   endpoint's pod IP (the peer), interleaved, p50/p99;
 * - iperf3 throughput through the ClusterIP against straight to the pod IP, in the same run.
 *
 * The sync steps are the proxier's own functions (src/services/render.ts) and nftApply, without the API and
 * informers in front (creating 10,000 Services through the API would measure the API, not the dataplane).
 * There is no kube-proxy on these machines to run beside it; its figures would come from another machine.
 *
 *   node dist/bench/services.js [--sizes 1,1000,10000] [--changes 100] [--connects 300] [--seconds 3]
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import { netnsAdd, netnsDelete, netnsExec } from '../src/linux/netns.js';
import { ipBatch } from '../src/linux/exec.js';
import { nftApply, nftDeleteTable } from '../src/linux/nft.js';
import {
  type RenderConfig,
  type Ruleset,
  deleteStaleText,
  emptyShared,
  fullSyncText,
  mergeInto,
  partialSyncText,
  renderBase,
  renderService,
} from '../src/services/render.js';
import { tableOf } from '../src/services/proxier.js';
import { service, slice } from '../src/services/testing.js';
import type { KubeObject } from '../src/model/types.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}
const SIZES = arg('sizes', '1,1000,10000').split(',').map(Number);
const CHANGES = Number(arg('changes', '100'));
const CONNECTS = Number(arg('connects', '300'));
const SECONDS = Number(arg('seconds', '3'));
if (SIZES.some((n) => !Number.isInteger(n) || n < 1 || n > 60_000)) throw new Error('--sizes: 1..60000 each');
if (!(CHANGES >= 1 && CHANGES <= 10_000)) throw new Error('--changes: 1..10000');
if (!(CONNECTS >= 1 && CONNECTS <= 10_000)) throw new Error('--connects: 1..10000');
if (!(SECONDS >= 1 && SECONDS <= 60)) throw new Error('--seconds: 1..60');

const NODE = 'tws-bn';
const CLIENT = 'tws-bc';
const SERVER = 'tws-bs';
const CLUSTER_IP = '10.93.0.1';
const ENDPOINTS = Array.from({ length: 10 }, (_, i) => `10.243.2.${i + 2}`);
const cfg: RenderConfig = {
  family: 'ip',
  nodeName: 'node-1',
  nodeIPs: ['10.243.1.1'],
  clusterCIDRs: ['10.0.0.0/8'],
  serviceCIDRs: ['10.93.0.0/16'],
};

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

async function topology(): Promise<void> {
  for (const ns of [NODE, CLIENT, SERVER]) {
    await netnsDelete(ns);
    await netnsAdd(ns);
  }
  await ipBatch(
    [
      ['link', 'set', 'lo', 'up'],
      ['link', 'add', 'bn-c', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', CLIENT],
      ['link', 'add', 'bn-s', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', SERVER],
      ['addr', 'add', '10.243.1.1/24', 'dev', 'bn-c'],
      ['addr', 'add', '10.243.2.1/24', 'dev', 'bn-s'],
      ['link', 'set', 'bn-c', 'up'],
      ['link', 'set', 'bn-s', 'up'],
      // The ClusterIPs must be routable (see src/services/README.md); nothing takes this route.
      ['route', 'add', '10.93.0.0/16', 'dev', 'bn-s'],
    ],
    { netns: NODE },
  );
  await netnsExec(NODE, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  await ipBatch(
    [
      ['link', 'set', 'lo', 'up'],
      ['addr', 'add', '10.243.1.2/24', 'dev', 'eth0'],
      ['link', 'set', 'eth0', 'up'],
      ['route', 'add', 'default', 'via', '10.243.1.1'],
    ],
    { netns: CLIENT },
  );
  await ipBatch(
    [
      ['link', 'set', 'lo', 'up'],
      ...ENDPOINTS.map((ip) => ['addr', 'add', `${ip}/24`, 'dev', 'eth0']),
      ['link', 'set', 'eth0', 'up'],
      ['route', 'add', 'default', 'via', '10.243.2.1'],
    ],
    { netns: SERVER },
  );
}

async function teardown(): Promise<void> {
  for (const ns of [CLIENT, SERVER, NODE]) await netnsDelete(ns);
}

/** Service i: ClusterIP 10.93.x.y, port 80 (and 5201 for iperf3 on service 0), ten endpoints. */
function objects(n: number): { services: KubeObject[]; slices: Map<string, KubeObject[]> } {
  const services: KubeObject[] = [];
  const slices = new Map<string, KubeObject[]>();
  for (let i = 0; i < n; i++) {
    const v = i + 1;
    const ip = `10.93.${v >> 8}.${v & 255}`;
    const ports = [{ name: 'http', port: 80 }, ...(i === 0 ? [{ name: 'iperf', port: 5201 }] : [])];
    services.push(service('bench', `s${i}`, { clusterIP: ip, ports }));
    // Other services' endpoints are addresses nothing answers on (never contacted).
    const eps =
      i === 0 ? ENDPOINTS : Array.from({ length: 10 }, (_, j) => `10.${244 + j}.${v >> 8}.${v & 255}`);
    slices.set(`bench/s${i}`, [
      slice(
        'bench',
        `s${i}`,
        [
          { name: 'http', port: 8080 },
          { name: 'iperf', port: 5201 },
        ],
        eps.map((ip) => ({ ip })),
      ),
    ]);
  }
  return { services, slices };
}

async function fullSync(services: KubeObject[], slices: Map<string, KubeObject[]>) {
  const t0 = process.hrtime.bigint();
  const frags = new Map<string, Ruleset>();
  const rs = renderBase(cfg);
  for (const s of services) {
    const key = `bench/${s.metadata.name}`;
    const f = renderService(s, slices.get(key) ?? [], cfg);
    frags.set(key, f);
    mergeInto(rs, f);
  }
  const text = fullSyncText(rs);
  const renderMs = ms(t0);
  await nftApply(text, { tables: [tableOf('ip')], netns: NODE });
  return { frags, totalMs: ms(t0), renderMs, bytes: text.length };
}

/** A child node process in the client pod: connect latencies (ms) to each target, interleaved. */
function connectLatencies(targets: string[], count: number): Promise<number[][]> {
  const script = `
    const net = require('node:net');
    const targets = ${JSON.stringify(targets)};
    const out = targets.map(() => []);
    const one = (t) => new Promise((resolve, reject) => {
      const [host, port] = t.split(':');
      const t0 = process.hrtime.bigint();
      const s = net.connect({ host, port: Number(port) }, () => {
        const d = Number(process.hrtime.bigint() - t0) / 1e6;
        s.destroy();
        resolve(d);
      });
      s.setTimeout(2000, () => { s.destroy(); reject(new Error('timeout ' + t)); });
      s.on('error', reject);
    });
    (async () => {
      for (let i = 0; i < ${count}; i++) for (let j = 0; j < targets.length; j++) out[j].push(await one(targets[j]));
      console.log(JSON.stringify(out));
    })().catch((e) => { console.error(e.message); process.exit(1); });
  `;
  return new Promise((resolve, reject) => {
    const c = spawn('ip', ['netns', 'exec', CLIENT, process.execPath, '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => c.kill('SIGKILL'), 120_000);
    c.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(out) as number[][]);
      else reject(new Error(`connect child exited ${code}: ${err}`));
    });
  });
}

/** A TCP echo server on 8080 and an iperf3 server on 5201 in the server pod; returns a stop function. */
function servers(): () => void {
  const echo = spawn(
    'ip',
    [
      'netns',
      'exec',
      SERVER,
      process.execPath,
      '-e',
      "require('node:net').createServer((s) => s.pipe(s)).listen(8080, '0.0.0.0')",
    ],
    { stdio: 'ignore' },
  );
  const iperf = spawn('ip', ['netns', 'exec', SERVER, 'iperf3', '-s', '-p', '5201'], { stdio: 'ignore' });
  return () => {
    echo.kill('SIGTERM');
    iperf.kill('SIGTERM');
  };
}

async function iperf(target: string): Promise<number> {
  const out = await new Promise<string>((resolve, reject) => {
    const c = spawn(
      'ip',
      ['netns', 'exec', CLIENT, 'iperf3', '-c', target, '-p', '5201', '-t', String(SECONDS), '-J'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let o = '';
    c.stdout.on('data', (d) => (o += d));
    const timer = setTimeout(() => c.kill('SIGKILL'), (SECONDS + 30) * 1000);
    c.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(o);
      else reject(new Error(`iperf3 to ${target} exited ${code}: ${o.slice(0, 300)}`));
    });
  });
  const json = JSON.parse(out);
  return json.end.sum_received.bits_per_second / 1e9;
}

async function waitListening(): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const out = await netnsExec(SERVER, ['ss', '-Hltn']);
    if (out.includes(':8080') && out.includes(':5201')) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('servers did not listen');
}

async function main(): Promise<void> {
  await topology();
  const stopServers = servers();
  const rows: string[][] = [];
  try {
    await waitListening();
    for (const n of SIZES) {
      await nftDeleteTable(tableOf('ip'), { netns: NODE });
      const { services, slices } = objects(n);
      const first = await fullSync(services, slices);
      const again: number[] = [];
      let state = first.frags;
      for (let i = 0; i < 3; i++) {
        const r = await fullSync(services, slices);
        again.push(r.totalMs);
        state = r.frags;
      }
      // Partial syncs: endpoint 9 of a random service other than 0 goes, then comes back.
      const partial: number[] = [];
      let stale: { chains: string[]; sets: string[]; maps: string[] } = { chains: [], sets: [], maps: [] };
      let i = 0;
      for (let c = 0; c < CHANGES; c++) {
        if (c % 2 === 0) i = n > 1 ? 1 + Math.floor(Math.random() * (n - 1)) : 0;
        const key = `bench/s${i}`;
        const sl = slices.get(key)![0] as KubeObject & { endpoints: unknown[] };
        const changed = c % 2 === 0 ? ({ ...sl, endpoints: sl.endpoints.slice(0, 9) } as KubeObject) : sl;
        const t0 = process.hrtime.bigint();
        const prev: Ruleset = {
          family: 'ip',
          chains: new Map(),
          ...emptyShared('ip'),
          udpEndpoints: new Map(),
        };
        const next: Ruleset = {
          family: 'ip',
          chains: new Map(),
          ...emptyShared('ip'),
          udpEndpoints: new Map(),
        };
        mergeInto(prev, state.get(key)!);
        const frag = renderService(services[i], [changed], cfg);
        mergeInto(next, frag);
        const diff = partialSyncText(prev, next);
        const text =
          deleteStaleText(
            'ip',
            stale.chains.filter((x) => !next.chains.has(x)),
            stale.sets.filter((x) => !next.sets.has(x)),
            stale.maps.filter((x) => !next.maps.has(x)),
          ) + diff.text;
        if (text) await nftApply(text, { tables: [tableOf('ip')], netns: NODE });
        partial.push(ms(t0));
        state.set(key, frag);
        stale = { chains: diff.staleChains, sets: diff.staleSets, maps: diff.staleMaps };
      }
      const [viaService, direct] = await connectLatencies(
        [`${CLUSTER_IP}:80`, `${ENDPOINTS[0]}:8080`],
        CONNECTS,
      );
      const gbitService = await iperf(CLUSTER_IP);
      const gbitDirect = await iperf(ENDPOINTS[0]);
      rows.push([
        String(n),
        first.totalMs.toFixed(0),
        pct(again, 50).toFixed(0),
        `${(first.bytes / 1e6).toFixed(1)} MB`,
        pct(partial, 50).toFixed(1),
        pct(partial, 99).toFixed(1),
        `${pct(viaService, 50).toFixed(3)} / ${pct(direct, 50).toFixed(3)}`,
        `${pct(viaService, 99).toFixed(3)} / ${pct(direct, 99).toFixed(3)}`,
        `${gbitService.toFixed(1)} / ${gbitDirect.toFixed(1)}`,
      ]);
      console.error(`bench/services: ${n} services done`);
    }
  } finally {
    stopServers();
    await teardown();
  }
  console.log(
    `bench/services: 10 endpoints per service, ${CHANGES} partial syncs, ${CONNECTS} connects per target, ` +
      `iperf3 ${SECONDS} s, ${os.cpus().length} cores; "A / B" is through the ClusterIP / straight to the pod IP`,
  );
  console.log(
    [
      'services',
      'full sync first ms',
      'full sync again ms',
      'nft text',
      'partial p50 ms',
      'partial p99 ms',
      'connect p50 ms',
      'connect p99 ms',
      'iperf3 Gbit/s',
    ].join('\t'),
  );
  for (const r of rows) console.log(r.join('\t'));
}

await main();
