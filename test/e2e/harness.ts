/**
 * Test harness for end-to-end tests: a real `twill up` (or `twill server`) child process in a temp data dir,
 * and the real kubectl pointed at it. Everything it starts is stopped by stop(), which tests call in a
 * finally/after hook.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const twillBin = path.join(repoRoot, 'bin', 'twill');

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `twill-${prefix}-`));
}

export interface TwillProcess {
  url: string;
  kubeconfig: string;
  dataDir: string;
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** SIGTERM and wait for exit (SIGKILL after 10 s). */
  stop(): Promise<number | null>;
}

export async function startTwill(opts: {
  dataDir: string;
  store?: string;
  command?: 'up' | 'server';
  extraArgs?: string[];
  timeoutMs?: number;
}): Promise<TwillProcess> {
  const args = [
    twillBin,
    opts.command ?? 'up',
    '--data-dir',
    opts.dataDir,
    '--api-listen',
    '127.0.0.1:0',
    '--store',
    opts.store ?? 'sqlite',
  ];
  // DNS on a free loopback port, so that parallel clusters do not compete for 127.0.0.1:53.
  if ((opts.command ?? 'up') === 'up') args.push('--nodes', '0', '--dns-listen', '127.0.0.1:0');
  args.push(...(opts.extraArgs ?? []));
  const child = spawn(process.execPath, args, {
    env: { ...process.env, TWILL_LOG_LEVEL: process.env.TWILL_LOG_LEVEL ?? 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`twill did not come up in time; stderr:\n${err}`)),
      opts.timeoutMs ?? 30_000,
    );
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /API at (\S+);/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`twill exited with ${code} before it was ready; stderr:\n${err}`));
    });
  });
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
  return {
    url,
    kubeconfig: path.join(opts.dataDir, 'kubeconfig'),
    dataDir: opts.dataDir,
    child,
    stdout: () => out,
    stderr: () => err,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} timed out; stderr: ${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A command that exits without reading its stdin must not crash the test with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** The real kubectl against a twill cluster; rejects unless it exits 0 (use kubectlResult for failures). */
export async function kubectl(kubeconfig: string, args: string[], input?: string): Promise<string> {
  const r = await kubectlResult(kubeconfig, args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

export function kubectlResult(kubeconfig: string, args: string[], input?: string): Promise<RunResult> {
  return run('/usr/bin/kubectl', args, { env: { KUBECONFIG: kubeconfig, HOME: os.tmpdir() }, input });
}

/**
 * Removes whatever a `twill up --nodes` cluster left: `twill down` for its record, then any node or pod
 * namespace and the underlay bridge by name (for a run that died before it wrote its record).
 */
export async function removeCluster(cluster: string, dataDir: string): Promise<void> {
  await run(process.execPath, [twillBin, 'down', '--data-dir', dataDir, '--cluster-name', cluster]);
  const netns = (await run('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]);
  for (const ns of netns.filter((n) => n.startsWith(`twill-${cluster}-`)))
    await run('ip', ['netns', 'delete', ns]);
  await run('ip', ['link', 'delete', `twu-${cluster}`]);
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/**
 * `twill connect` to target until it succeeds: a pod is Running as soon as its process starts, before the
 * process listens (as on Kubernetes without a readiness probe), so a first attempt may be refused.
 */
export async function connectEventually(target: string, timeoutMs = 15_000): Promise<void> {
  let last = '';
  await waitFor(
    `twill connect ${target}`,
    async () => {
      const r = await run(process.execPath, [
        twillBin,
        'connect',
        target,
        '--protocol',
        'tcp',
        '--timeout',
        '1s',
      ]);
      last = r.stderr.trim();
      return r.code === 0;
    },
    timeoutMs,
  ).catch((err: Error) => {
    throw new Error(`${err.message} (last: ${last})`);
  });
}

/**
 * `kubectl run NAME` with twill's test workload (`twill netexec --tcp 8080 --http 8081`), then waits until the
 * pod is Running with an IP; returns the pod as the API has it.
 */
export async function runNetexecPod(kubeconfig: string, name: string, timeoutMs = 40_000): Promise<any> {
  await kubectl(kubeconfig, [
    'run',
    name,
    '--image=agnhost',
    '--restart=Never',
    '--',
    process.execPath,
    twillBin,
    'netexec',
    '--tcp',
    '8080',
    '--http',
    '8081',
  ]);
  return waitFor(
    `pod ${name} to run with an IP`,
    async () => {
      const pod = JSON.parse(await kubectl(kubeconfig, ['get', 'pod', name, '-o', 'json']));
      return pod.status?.phase === 'Running' && pod.status.podIP && pod;
    },
    timeoutMs,
  );
}

/**
 * Points a `twill up`'s cluster DNS at a stub upstream on loopback (the coredns ConfigMap, the kubernetes
 * plugin with ttl 7 in front of `forward . 127.0.0.1:<stubPort>`) and waits until the new Corefile is served;
 * returns the DNS port on 127.0.0.1. The reload shows on a cluster name's TTL (7, not the default 30): asking
 * an outside name before it would forward that name to the machine's resolver.
 */
export async function forwardDnsToStub(twill: TwillProcess, stubPort: number): Promise<string> {
  await kubectl(
    twill.kubeconfig,
    ['apply', '-f', '-'],
    `apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  Corefile: |
    .:53 {
        errors
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
            ttl 7
        }
        forward . 127.0.0.1:${stubPort}
    }
`,
  );
  const port = /DNS at 127\.0\.0\.1:(\d+)/.exec(twill.stdout())?.[1];
  if (!port) throw new Error(`twill up printed no DNS address: ${twill.stdout()}`);
  await waitFor(
    'the ConfigMap Corefile to be served (ttl 7)',
    async () =>
      /\s7\s+IN\s+A\s/.test(
        (
          await run('dig', [
            '@127.0.0.1',
            '-p',
            port,
            '+noall',
            '+answer',
            'kubernetes.default.svc.cluster.local',
          ])
        ).stdout,
      ),
    20_000,
  );
  return port;
}

/**
 * n HTTP GETs of `url`, each on a new connection, from inside `netns` (undefined: this namespace); each result
 * is the body, or `TIMEOUT` (3 s) / the error code (`ECONNREFUSED`, ...).
 */
export async function httpGetsFrom(netns: string | undefined, url: string, n: number): Promise<string[]> {
  const script = `
    const http = require('node:http');
    const get = () => new Promise((resolve) => {
      const req = http.get(${JSON.stringify(url)}, { agent: false, timeout: 3000 }, (res) => {
        let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => resolve(b.trim()));
      });
      req.on('timeout', () => { req.destroy(); resolve('TIMEOUT'); });
      req.on('error', (e) => resolve(e.code));
    });
    (async () => { const out = []; for (let i = 0; i < ${n}; i++) out.push(await get()); console.log(JSON.stringify(out)); })();
  `;
  const argv = [process.execPath, '-e', script];
  const r = netns
    ? await run('ip', ['netns', 'exec', netns, ...argv], { timeoutMs: 120_000 })
    : await run(argv[0], argv.slice(1), { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`HTTP client in ${netns ?? 'this namespace'} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as string[];
}

/**
 * From inside `netns`, from UDP source port 40000 (one conntrack flow), sends `hostname` to ip:port up to n
 * times, one after each answer; returns the answers (fewer when one does not come within 3 s).
 */
export async function udpHostnamesFrom(
  netns: string,
  ip: string,
  port: number,
  n: number,
): Promise<string[]> {
  const script = `
    const s = require('node:dgram').createSocket('udp4');
    const out = [];
    s.bind(40000, () => {
      let i = 0;
      const timer = setTimeout(() => { console.log(JSON.stringify(out)); process.exit(0); }, 3000);
      s.on('message', (m) => { out.push(String(m).trim()); if (++i === ${n}) { clearTimeout(timer); console.log(JSON.stringify(out)); process.exit(0); } else send(); });
      const send = () => s.send('hostname\\n', ${port}, ${JSON.stringify(ip)});
      send();
    });
  `;
  const r = await run('ip', ['netns', 'exec', netns, process.execPath, '-e', script], { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`UDP client in ${netns} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as string[];
}
