/**
 * bench/dns: twill's DNS against Knot DNS (knotd, one UDP worker) serving the same records, in the same run,
 * each pinned to the same core (taskset -c 1) with dnsperf on the other core (taskset -c 0):
 * - cluster names: 10,000 Services (A, ClusterIP) — twill from its kubernetes index (fed with 10,000 Services
 *   and 100,000 endpoints in EndpointSlices), Knot from a zone file with the same 10,000 A records;
 * - cached forwarded names: 10,000 names under example.test — twill through cache + forward to a stub upstream
 *   on loopback (the cache is warmed first), Knot authoritative for them from its zone file;
 * qps, avg and p99 latency (p99 from a second, verbose dnsperf run), loss; twill's memory with the 10,000
 * Services and 100,000 endpoints (RSS and heap after GC, against a bare process); and the delay from a Service
 * created through the real API to its name resolving (p50/p99) with twill's DNS fed by informers.
 *
 *   node dist/bench/dns.js [--seconds 10] [--clients 20] [--delay-samples 100]
 * Needs dnsperf and knot (scripts/setup --test). Everything listens on 127.0.0.1 only.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startDns } from '../src/dns/service.js';
import { startStubUpstream } from '../src/dns/stub.js';
import type { KubernetesPlugin } from '../src/dns/plugins/kubernetes/plugin.js';
import { service, slice } from '../src/dns/plugins/kubernetes/fixtures.js';
import { emptyMessage, encode, decode } from '../src/dns/codec/message.js';
import { Type } from '../src/dns/codec/constants.js';

const run = promisify(execFile);

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}

const SECONDS = Number(arg('seconds', '10'));
const CLIENTS = Number(arg('clients', '20'));
const DELAY_SAMPLES = Number(arg('delay-samples', '100'));
const SERVICES = 10_000;
const ENDPOINTS_PER_SERVICE = 10;
const NAMESPACES = 100;

const svcName = (i: number) => `svc-${i % (SERVICES / NAMESPACES)}`;
const nsName = (i: number) => `ns-${Math.floor(i / (SERVICES / NAMESPACES))}`;
const clusterIP = (i: number) => `10.95.${Math.floor(i / 250)}.${(i % 250) + 1}`;
const epIP = (i: number, j: number) =>
  `10.${245 + Math.floor(i / 65536) * 0}.${Math.floor((i * 10 + j) / 250) % 256}.${((i * 10 + j) % 250) + 1}`;

// ---------------- the twill server process (--serve) ----------------

async function serve(): Promise<void> {
  const up = await startStubUpstream(
    Object.fromEntries(
      Array.from({ length: SERVICES }, (_, i) => [`name-${i}.example.test`, `203.0.113.${(i % 250) + 1}`]),
    ),
    3600,
  );
  const corefile = `cluster.local {\n  kubernetes cluster.local\n}\nexample.test {\n  cache 3600 {\n    success 20000\n  }\n  forward . 127.0.0.1:${up.port}\n}\n`;
  (globalThis as { gc?: () => void }).gc?.();
  const before = process.memoryUsage();
  const dns = await startDns({ listen: '127.0.0.1:0', corefile });
  const k = dns.plugins().find((p) => p.name === 'kubernetes') as KubernetesPlugin;
  for (let i = 0; i < SERVICES; i++) {
    const ns = nsName(i);
    k.index.setNamespace(ns);
    k.index.setService(
      service(ns, svcName(i), { clusterIP: clusterIP(i), ports: [{ name: 'http', port: 80 }] }),
    );
    k.index.setEndpointSlice(
      slice(
        ns,
        svcName(i),
        `${svcName(i)}-abc`,
        'IPv4',
        Array.from({ length: ENDPOINTS_PER_SERVICE }, (_, j) => ({ ip: epIP(i, j) })),
        [{ name: 'http', port: 8080 }],
      ),
    );
  }
  (globalThis as { gc?: () => void }).gc?.();
  const after = process.memoryUsage();
  process.stdout.write(
    `READY ${dns.port} ${after.rss - before.rss} ${after.heapUsed - before.heapUsed} ${after.rss} ${JSON.stringify(k.index.stats())}\n`,
  );
  process.on(
    'SIGTERM',
    () =>
      void dns
        .stop()
        .then(() => up.stop())
        .then(() => process.exit(0)),
  );
}

// ---------------- the driver ----------------

interface PerfFigures {
  qps: number;
  avgMs: number;
  p99Ms: number;
  lossPct: number;
}

async function dnsperf(port: number, file: string): Promise<PerfFigures> {
  const base = [
    '-c',
    '0',
    'dnsperf',
    '-s',
    '127.0.0.1',
    '-p',
    String(port),
    '-d',
    file,
    '-c',
    String(CLIENTS),
    '-q',
    '200',
    '-t',
    '2',
  ];
  const { stdout } = await run('taskset', [...base, '-l', String(SECONDS)], { maxBuffer: 1 << 26 });
  const num = (re: RegExp) => Number(re.exec(stdout)?.[1] ?? NaN);
  const sent = num(/Queries sent:\s+(\d+)/);
  const lost = num(/Queries lost:\s+(\d+)/);
  // p99 from a shorter verbose run (-v prints each answer's latency); verbose output slows dnsperf a little.
  const v = await run('taskset', [...base, '-l', String(Math.max(2, Math.floor(SECONDS / 3))), '-v'], {
    maxBuffer: 1 << 28,
  });
  const lat = [...v.stdout.matchAll(/^> \S+ .* (\d+\.\d+)$/gm)]
    .map((m) => Number(m[1]) * 1000)
    .sort((a, b) => a - b);
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    avgMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    p99Ms: lat.length ? lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))] : NaN,
    lossPct: sent ? (100 * lost) / sent : NaN,
  };
}

function waitLine(child: ChildProcess, re: RegExp, what: string, ms = 120_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`${what} did not start: ${out}`)), ms);
    const on = (d: Buffer) => {
      out += d;
      const m = re.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m);
      }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.once('exit', (c) => reject(new Error(`${what} exited (${c}): ${out}`)));
  });
}

async function freePort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const p = s.address().port;
  s.close();
  return p;
}

async function startKnot(dir: string): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const soa = (z: string) =>
    `${z}. 5 IN SOA ns.dns.${z}. hostmaster.${z}. 1 7200 1800 86400 5\n${z}. 5 IN NS ns.dns.${z}.\nns.dns.${z}. 5 IN A 127.0.0.1\n`;
  let cl = soa('cluster.local');
  for (let i = 0; i < SERVICES; i++)
    cl += `${svcName(i)}.${nsName(i)}.svc.cluster.local. 5 IN A ${clusterIP(i)}\n`;
  let ex = soa('example.test');
  for (let i = 0; i < SERVICES; i++) ex += `name-${i}.example.test. 3600 IN A 203.0.113.${(i % 250) + 1}\n`;
  fs.writeFileSync(path.join(dir, 'cluster.local.zone'), cl);
  fs.writeFileSync(path.join(dir, 'example.test.zone'), ex);
  fs.writeFileSync(
    path.join(dir, 'knot.conf'),
    `server:\n  rundir: "${dir}"\n  listen: 127.0.0.1@${port}\n  udp-workers: 1\n  tcp-workers: 1\n  background-workers: 1\n` +
      `database:\n  storage: "${dir}"\n` +
      `log:\n  - target: stderr\n    any: warning\n` +
      `template:\n  - id: default\n    storage: "${dir}"\n    semantic-checks: off\n    journal-content: none\n    zonefile-sync: -1\n` +
      `zone:\n  - domain: cluster.local\n    file: cluster.local.zone\n  - domain: example.test\n    file: example.test.zone\n`,
  );
  const child = spawn('taskset', ['-c', '1', 'knotd', '-c', path.join(dir, 'knot.conf')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Ready when it answers.
  const end = Date.now() + 30_000;
  for (;;) {
    if (Date.now() > end) throw new Error('knotd did not answer');
    if (await probe(port, 'svc-0.ns-0.svc.cluster.local.')) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    port,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    },
  };
}

function probe(port: number, name: string, timeoutMs = 500): Promise<boolean> {
  const s = dgram.createSocket('udp4');
  const m = emptyMessage(Math.floor(Math.random() * 65536));
  m.questions.push({ name, type: Type.A, class: 1 });
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      s.close();
      resolve(false);
    }, timeoutMs);
    s.on('message', (b) => {
      clearTimeout(t);
      s.close();
      try {
        resolve(decode(b).answers.length > 0);
      } catch {
        resolve(false);
      }
    });
    s.send(encode(m), port, '127.0.0.1');
  });
}

async function delayFigures(): Promise<{ p50: number; p99: number }> {
  const { startTestControlPlane } = await import('../src/cli/testing.js');
  const { Resources } = await import('../src/client/rest.js');
  const tcp = await startTestControlPlane('twd-bench-');
  const dns = await startDns({
    listen: '127.0.0.1:0',
    corefile: 'cluster.local {\n kubernetes cluster.local\n}\n',
    client: tcp.client,
  });
  const delays: number[] = [];
  try {
    for (let i = 0; i < DELAY_SAMPLES; i++) {
      const start = performance.now();
      await tcp.client.create(Resources.services, 'default', {
        metadata: { name: `d${i}` },
        spec: { ports: [{ port: 80 }] },
      });
      const end = performance.now() + 5000;
      while (!(await probe(dns.port, `d${i}.default.svc.cluster.local.`, 200)) && performance.now() < end) {
        await new Promise((r) => setTimeout(r, 1));
      }
      delays.push(performance.now() - start);
    }
  } finally {
    await dns.stop();
    await tcp.stop();
  }
  delays.sort((a, b) => a - b);
  return {
    p50: delays[Math.floor(delays.length / 2)],
    p99: delays[Math.min(delays.length - 1, Math.floor(delays.length * 0.99))],
  };
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'twd-bench-dns-'));
  const self = fileURLToPath(import.meta.url);
  const clusterQ = path.join(dir, 'cluster.txt');
  const fwdQ = path.join(dir, 'forward.txt');
  fs.writeFileSync(
    clusterQ,
    Array.from({ length: SERVICES }, (_, i) => `${svcName(i)}.${nsName(i)}.svc.cluster.local A`).join('\n') +
      '\n',
  );
  fs.writeFileSync(
    fwdQ,
    Array.from({ length: SERVICES }, (_, i) => `name-${i}.example.test A`).join('\n') + '\n',
  );
  let twill: ChildProcess | undefined;
  let knot: Awaited<ReturnType<typeof startKnot>> | undefined;
  let echoProc: ChildProcess | undefined;
  try {
    const bare = spawn(
      'node',
      ['--expose-gc', '-e', 'gc(); console.log("BARE", process.memoryUsage().rss)'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const bareRss = Number((await waitLine(bare, /BARE (\d+)/, 'bare node'))[1]);
    twill = spawn('taskset', ['-c', '1', process.execPath, '--expose-gc', self, '--serve'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TWILL_LOG_LEVEL: 'warn' },
    });
    const m = await waitLine(twill, /READY (\d+) (-?\d+) (-?\d+) (\d+) (\{.*\})/, 'twill dns');
    const twillPort = Number(m[1]);
    knot = await startKnot(dir);
    echoProc = spawn('taskset', ['-c', '1', process.execPath, self, '--echo'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const echoPort = Number((await waitLine(echoProc, /READY (\d+)/, 'echo'))[1]);
    // Warm twill's cache with one pass over the forwarded names.
    await run(
      'dnsperf',
      ['-s', '127.0.0.1', '-p', String(twillPort), '-d', fwdQ, '-n', '1', '-c', '4', '-q', '50'],
      { maxBuffer: 1 << 26 },
    );
    const rows: [string, string, PerfFigures][] = [];
    for (const [label, file] of [
      ['cluster names', clusterQ],
      ['cached forwarded names', fwdQ],
    ] as const) {
      rows.push([label, 'twill', await dnsperf(twillPort, file)]);
      rows.push([label, 'knot', await dnsperf(knot.port, file)]);
    }
    rows.push(['(floor) any name', 'node udp echo', await dnsperf(echoPort, clusterQ)]);
    const delay = await delayFigures();
    const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
    process.stdout.write(
      `bench/dns: ${SERVICES} Services, ${SERVICES * ENDPOINTS_PER_SERVICE} endpoints; dnsperf ${SECONDS} s, ${CLIENTS} clients, on core 0; servers on core 1; ${os.cpus().length} cores\n`,
    );
    process.stdout.write('names\tserver\tqps\tavg ms\tp99 ms\tloss %\n');
    for (const [label, who, r] of rows)
      process.stdout.write(
        `${label}\t${who}\t${f(r.qps, 0)}\t${f(r.avgMs, 3)}\t${f(r.p99Ms, 3)}\t${f(r.lossPct, 2)}\n`,
      );
    for (const label of ['cluster names', 'cached forwarded names']) {
      const t = rows.find((r) => r[0] === label && r[1] === 'twill')![2];
      const k = rows.find((r) => r[0] === label && r[1] === 'knot')![2];
      process.stdout.write(`${label}: twill/knot qps ${(t.qps / k.qps).toFixed(2)}\n`);
    }
    process.stdout.write(
      `memory (twill, 10k Services + 100k endpoints): RSS ${(Number(m[4]) / 2 ** 20).toFixed(0)} MiB (bare node ${(bareRss / 2 ** 20).toFixed(0)} MiB), index heap ${(Number(m[3]) / 2 ** 20).toFixed(0)} MiB; ${m[5]}\n`,
    );
    process.stdout.write(
      `Service created in the API → name resolves (${DELAY_SAMPLES} samples): p50 ${f(delay.p50)} ms, p99 ${f(delay.p99)} ms\n`,
    );
  } finally {
    twill?.kill('SIGTERM');
    echoProc?.kill('SIGTERM');
    await knot?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The floor: a Node UDP responder that only echoes the query back as a response (QR set), no parsing, on the
 * same core; what twill's per-query work adds is the distance from it.
 */
function echo(): void {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => {
    m[2] |= 0x80;
    s.send(m, r.port, r.address);
  });
  s.bind(0, '127.0.0.1', () => process.stdout.write(`READY ${s.address().port}\n`));
}

if (process.argv.includes('--serve')) void serve();
else if (process.argv.includes('--echo')) echo();
else
  main().catch((err) => {
    process.stderr.write(`bench/dns: ${(err as Error).stack}\n`);
    process.exit(1);
  });
