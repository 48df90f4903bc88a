/**
 * Container probes as the kubelet runs them (pkg/kubelet/prober/worker.go, prober.go, results/).
 *
 * One worker per (container run, probe kind) ticks every periodSeconds. The state machine is pure
 * (`probeStep`): a probe is skipped during initialDelaySeconds, liveness and readiness are skipped until the
 * startup probe has succeeded, startup stops once it has; a result is only published after successThreshold
 * equal successes or failureThreshold equal failures in a row, and a published liveness or startup failure puts
 * the worker on hold (the container is killed; a new run gets a new worker). Initial results are the kubelet's:
 * liveness Success, readiness Failure, startup Unknown.
 *
 * Handlers: exec runs the command inside the pod's namespace (under `ip netns exec`, so with the pod's /etc
 * files); tcpSocket and httpGet connect from the agent to the pod IP (or `host`), as the kubelet connects from
 * the node; a timeout is a failure; HTTP 200-399 is a success.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

export type ProbeKind = 'startup' | 'readiness' | 'liveness';
export type ProbeResult = 'success' | 'failure' | 'unknown';

export interface Probe {
  exec?: { command?: string[] };
  httpGet?: {
    path?: string;
    port: number | string;
    host?: string;
    scheme?: string;
    httpHeaders?: Array<{ name: string; value: string }>;
  };
  tcpSocket?: { port: number | string; host?: string };
  grpc?: { port: number; service?: string };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
  terminationGracePeriodSeconds?: number;
}

/** Kubernetes' defaults (the API sets them; a probe from elsewhere may lack them). */
export function probeTiming(p: Probe) {
  return {
    initialDelaySeconds: p.initialDelaySeconds ?? 0,
    periodSeconds: p.periodSeconds || 10,
    timeoutSeconds: p.timeoutSeconds || 1,
    successThreshold: p.successThreshold || 1,
    failureThreshold: p.failureThreshold || 3,
  };
}

export interface ProbeState {
  /** The published result (what status and the agent act on). */
  result: ProbeResult;
  /** The last raw outcome and how many times in a row it came. */
  lastResult: ProbeResult;
  resultRun: number;
  /** A liveness/startup failure was published: no more probing of this run. */
  onHold: boolean;
}

export function initialProbeState(kind: ProbeKind): ProbeState {
  const result: ProbeResult = kind === 'liveness' ? 'success' : kind === 'readiness' ? 'failure' : 'unknown';
  return { result, lastResult: 'unknown', resultRun: 0, onHold: false };
}

/**
 * Whether a tick probes at all: not on hold, past the initial delay, and the startup gate (startup probes
 * until started; the others only after).
 */
export function shouldProbe(
  kind: ProbeKind,
  probe: Probe,
  state: ProbeState,
  ctx: { runningForMs: number; started: boolean },
): boolean {
  if (state.onHold) return false;
  if (ctx.runningForMs < probeTiming(probe).initialDelaySeconds * 1000) return false;
  return kind === 'startup' ? !ctx.started : ctx.started;
}

/** The worker's bookkeeping after one probe; `kill` when the container must be restarted. */
export function probeStep(
  kind: ProbeKind,
  probe: Probe,
  state: ProbeState,
  outcome: 'success' | 'failure',
): { state: ProbeState; changed: boolean; kill: boolean } {
  const t = probeTiming(probe);
  const s = { ...state };
  if (s.lastResult === outcome) s.resultRun++;
  else {
    s.lastResult = outcome;
    s.resultRun = 1;
  }
  if (
    (outcome === 'failure' && s.resultRun < t.failureThreshold) ||
    (outcome === 'success' && s.resultRun < t.successThreshold)
  ) {
    return { state: s, changed: false, kill: false };
  }
  const changed = s.result !== outcome;
  s.result = outcome;
  let kill = false;
  if (kind !== 'readiness' && outcome === 'failure') {
    s.onHold = true;
    s.resultRun = 0;
    kill = true;
  }
  return { state: s, changed, kill };
}

/** The port a probe names: a number, or the name of one of the container's ports. */
export function resolvePort(
  port: number | string,
  ports: Array<{ name?: string; containerPort: number }> | undefined,
): number {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  const p = (ports ?? []).find((x) => x.name === port);
  if (!p) throw new Error(`unable to find port "${port}" in the container's ports`);
  return p.containerPort;
}

export interface ProbeTarget {
  /** The pod IP (or the node's for hostNetwork pods). */
  podIP: string;
  /** argv prefix that enters the pod's namespace (`ip netns exec NS`), empty for the agent's own. */
  enter: string[];
  ports?: Array<{ name?: string; containerPort: number }>;
  env?: NodeJS.ProcessEnv;
}

/** Runs one probe's handler; resolves with its outcome and a message (the kubelet's event text). */
export async function runProbe(
  probe: Probe,
  target: ProbeTarget,
): Promise<{ outcome: 'success' | 'failure'; message: string }> {
  const timeoutMs = probeTiming(probe).timeoutSeconds * 1000;
  try {
    if (probe.exec) return await execProbe(probe.exec.command ?? [], target, timeoutMs);
    if (probe.tcpSocket) {
      const port = resolvePort(probe.tcpSocket.port, target.ports);
      return await tcpProbe(probe.tcpSocket.host || target.podIP, port, timeoutMs);
    }
    if (probe.httpGet) return await httpProbe(probe.httpGet, target, timeoutMs);
    if (probe.grpc) return { outcome: 'failure', message: 'grpc probes are not supported by twill' };
    return { outcome: 'failure', message: 'missing probe handler' };
  } catch (err) {
    return { outcome: 'failure', message: (err as Error).message };
  }
}

function execProbe(
  command: string[],
  target: ProbeTarget,
  timeoutMs: number,
): Promise<{ outcome: 'success' | 'failure'; message: string }> {
  const argv = [...target.enter, ...command];
  return new Promise((resolve) => {
    if (command.length === 0) return resolve({ outcome: 'failure', message: 'exec probe without command' });
    const child = spawn(argv[0], argv.slice(1), {
      env: target.env ?? { PATH: process.env.PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    const take = (d: Buffer) => {
      if (out.length < 10_240) out += d.toString();
    };
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
      resolve({ outcome: 'failure', message: `command timed out after ${timeoutMs / 1000}s` });
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ outcome: 'failure', message: err.message });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(
        code === 0
          ? { outcome: 'success', message: out }
          : { outcome: 'failure', message: `command ${JSON.stringify(command)} exited with ${code}: ${out}` },
      );
    });
  });
}

function tcpProbe(
  host: string,
  port: number,
  timeoutMs: number,
): Promise<{ outcome: 'success' | 'failure'; message: string }> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port, timeout: timeoutMs });
    const done = (outcome: 'success' | 'failure', message: string) => {
      sock.destroy();
      resolve({ outcome, message });
    };
    sock.once('connect', () => done('success', ''));
    sock.once('timeout', () => done('failure', `dial tcp ${host}:${port}: i/o timeout`));
    sock.once('error', (err) => done('failure', `dial tcp ${host}:${port}: ${err.message}`));
  });
}

function httpProbe(
  get: NonNullable<Probe['httpGet']>,
  target: ProbeTarget,
  timeoutMs: number,
): Promise<{ outcome: 'success' | 'failure'; message: string }> {
  const port = resolvePort(get.port, target.ports);
  const host = get.host || target.podIP;
  const secure = (get.scheme ?? 'HTTP').toUpperCase() === 'HTTPS';
  const headers: Record<string, string> = { 'User-Agent': 'kube-probe/1.31', Accept: '*/*' };
  for (const h of get.httpHeaders ?? []) headers[h.name] = h.value;
  const mod = secure ? https : http;
  return new Promise((resolve) => {
    const req = mod.request(
      {
        host,
        port,
        path: get.path || '/',
        method: 'GET',
        headers,
        timeout: timeoutMs,
        // The kubelet does not verify a probe's certificate.
        ...(secure ? { rejectUnauthorized: false } : {}),
      },
      (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        resolve(
          code >= 200 && code < 400
            ? { outcome: 'success', message: `HTTP probe succeeded with statuscode: ${code}` }
            : { outcome: 'failure', message: `HTTP probe failed with statuscode: ${code}` },
        );
      },
    );
    req.once('timeout', () => {
      req.destroy();
      resolve({
        outcome: 'failure',
        message: `Get "${secure ? 'https' : 'http'}://${host}:${port}${get.path || '/'}": context deadline exceeded`,
      });
    });
    req.once('error', (err) => resolve({ outcome: 'failure', message: err.message }));
    req.end();
  });
}

/**
 * The probes of one container run: one timer per probe, ticking every periodSeconds from the start, publishing
 * results through `onChange` (status must be written) and `onKill` (liveness/startup failed).
 */
export class ContainerProbes {
  readonly states = new Map<ProbeKind, ProbeState>();
  private timers = new Map<ProbeKind, NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly probes: Partial<Record<ProbeKind, Probe>>,
    private readonly startedAtMs: number,
    private readonly target: () => ProbeTarget,
    private readonly onChange: () => void,
    private readonly onKill: (kind: ProbeKind, message: string) => void,
  ) {
    for (const kind of ['startup', 'liveness', 'readiness'] as ProbeKind[]) {
      if (probes[kind]) this.states.set(kind, initialProbeState(kind));
    }
  }

  /** Started: the startup probe succeeded, or there is none. */
  get started(): boolean {
    const s = this.states.get('startup');
    return !s || s.result === 'success';
  }

  /** Ready: started, and the readiness probe's published result is success (or there is none). */
  get ready(): boolean {
    if (!this.started) return false;
    const r = this.states.get('readiness');
    return !r || r.result === 'success';
  }

  start(): void {
    for (const kind of this.states.keys()) {
      const tick = async () => {
        if (this.stopped) return;
        await this.tick(kind);
        if (!this.stopped) {
          this.timers.set(kind, setTimeout(tick, probeTiming(this.probes[kind]!).periodSeconds * 1000));
        }
      };
      void tick();
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private async tick(kind: ProbeKind): Promise<void> {
    const probe = this.probes[kind]!;
    const state = this.states.get(kind)!;
    const ctx = { runningForMs: Date.now() - this.startedAtMs, started: this.started };
    if (!shouldProbe(kind, probe, state, ctx)) return;
    const { outcome, message } = await runProbe(probe, this.target());
    if (this.stopped) return;
    const step = probeStep(kind, probe, this.states.get(kind)!, outcome);
    this.states.set(kind, step.state);
    if (step.kill) this.onKill(kind, message);
    if (step.changed) this.onChange();
  }
}
