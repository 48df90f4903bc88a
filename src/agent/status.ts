/**
 * A pod's status as the kubelet reports it (pkg/kubelet/kubelet_pods.go generateAPIPodStatus, getPhase and
 * pkg/kubelet/status/generate.go), computed from what the agent knows of its containers. Pure: the clock is
 * passed in, and conditions keep their lastTransitionTime while their status does not change.
 */

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

/** What the agent knows of one container. */
export interface ContainerView {
  name: string;
  image?: string;
  restartCount: number;
  /** The current run: none yet (waiting), running, or ended. */
  state:
    | { kind: 'waiting'; reason: string; message?: string }
    | { kind: 'running'; startedAt: string; id: string }
    | {
        kind: 'terminated';
        exitCode: number;
        signal?: number;
        reason: string;
        startedAt: string;
        finishedAt: string;
        id: string;
      };
  /**
   * Probe verdicts for the running container (./probe.ts): started (startup probe passed, or none) and ready
   * (started and the readiness probe passed, or none). Undefined: running means both.
   */
  started?: boolean;
  ready?: boolean;
  /** The run before the current one, when the container was restarted. */
  lastTerminated?: Extract<ContainerView['state'], { kind: 'terminated' }>;
}

export interface PodView {
  restartPolicy: RestartPolicy;
  /** The sandbox (namespace and network) is up. */
  sandboxReady: boolean;
  podIPs: string[];
  hostIP?: string;
  startTime?: string;
  containers: ContainerView[];
}

interface Condition {
  type: string;
  status: 'True' | 'False';
  reason?: string;
  message?: string;
  lastProbeTime: null;
  lastTransitionTime: string;
}

/** kubelet's getPhase, for pods without init containers. */
export function podPhase(view: PodView): 'Pending' | 'Running' | 'Succeeded' | 'Failed' {
  let waiting = 0;
  let running = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const c of view.containers) {
    if (c.state.kind === 'running') running++;
    else if (c.state.kind === 'terminated') {
      stopped++;
      if (c.state.exitCode === 0) succeeded++;
    } else if (c.lastTerminated) stopped++;
    else waiting++;
  }
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped === view.containers.length && view.containers.length > 0) {
    if (view.restartPolicy === 'Always') return 'Running';
    if (succeeded === view.containers.length) return 'Succeeded';
    return view.restartPolicy === 'OnFailure' ? 'Running' : 'Failed';
  }
  return 'Pending';
}

function stateJson(s: ContainerView['state']): Record<string, unknown> {
  if (s.kind === 'waiting')
    return { waiting: { reason: s.reason, ...(s.message ? { message: s.message } : {}) } };
  if (s.kind === 'running') return { running: { startedAt: s.startedAt } };
  return {
    terminated: {
      exitCode: s.exitCode,
      ...(s.signal ? { signal: s.signal } : {}),
      reason: s.reason,
      startedAt: s.startedAt,
      finishedAt: s.finishedAt,
      containerID: s.id,
    },
  };
}

/** containerStatuses[].ready: running, started and ready by its probes. */
export function containerReady(c: ContainerView): boolean {
  return c.state.kind === 'running' && c.started !== false && c.ready !== false;
}

/**
 * The status the agent writes: phase, conditions (PodReadyToStartContainers, Initialized, Ready,
 * ContainersReady, PodScheduled), hostIP(s), podIP(s), startTime, containerStatuses. `old` is the status the
 * API holds, whose condition transition times are kept when nothing changed.
 */
export function podStatus(
  view: PodView,
  old: Record<string, unknown> | undefined,
  now: string,
): Record<string, unknown> {
  const phase = podPhase(view);
  const allReady = view.containers.length > 0 && view.containers.every(containerReady);
  const notReady = view.containers.filter((c) => !containerReady(c)).map((c) => c.name);
  const oldConds = new Map(
    ((old?.conditions as Condition[] | undefined) ?? []).map((c) => [c.type, c] as [string, Condition]),
  );
  const cond = (type: string, ok: boolean, reason?: string, message?: string): Condition => {
    const prev = oldConds.get(type);
    const status = ok ? 'True' : 'False';
    return {
      type,
      status,
      ...(reason ? { reason } : {}),
      ...(message ? { message } : {}),
      lastProbeTime: null,
      lastTransitionTime: prev && prev.status === status ? prev.lastTransitionTime : now,
    };
  };
  const terminal = phase === 'Succeeded' || phase === 'Failed';
  // A finished pod's containers are not ready; the kubelet says PodCompleted for those.
  const readyReason = terminal ? 'PodCompleted' : 'ContainersNotReady';
  const readyMsg = terminal ? undefined : `containers with unready status: [${notReady.join(' ')}]`;
  const conditions = [
    cond('PodReadyToStartContainers', view.sandboxReady),
    cond('Initialized', true, terminal ? 'PodCompleted' : undefined),
    cond('Ready', allReady, allReady ? undefined : readyReason, allReady ? undefined : readyMsg),
    cond('ContainersReady', allReady, allReady ? undefined : readyReason, allReady ? undefined : readyMsg),
    cond('PodScheduled', true),
  ];
  const status: Record<string, unknown> = { phase, conditions };
  if (view.hostIP) {
    status.hostIP = view.hostIP;
    status.hostIPs = [{ ip: view.hostIP }];
  }
  if (view.podIPs.length) {
    status.podIP = view.podIPs[0];
    status.podIPs = view.podIPs.map((ip) => ({ ip }));
  }
  if (view.startTime) status.startTime = view.startTime;
  status.containerStatuses = view.containers.map((c) => ({
    name: c.name,
    state: stateJson(c.state),
    lastState: c.lastTerminated ? stateJson(c.lastTerminated) : {},
    ready: containerReady(c),
    restartCount: c.restartCount,
    image: c.image ?? '',
    imageID: '',
    ...(c.state.kind !== 'waiting' ? { containerID: c.state.id } : {}),
    started: c.state.kind === 'running' && c.started !== false,
  }));
  return status;
}

/**
 * The kubelet's crash-loop backoff before a container's next start, given how often it was restarted: the
 * first restart at once, then 10 s doubling up to 5 min.
 */
export function restartBackoffMs(restarts: number): number {
  if (restarts <= 0) return 0;
  return Math.min(300_000, 10_000 * 2 ** (restarts - 1));
}

/** Whether a container that ended with exitCode is started again under the pod's restartPolicy. */
export function shouldRestart(policy: RestartPolicy, exitCode: number): boolean {
  return policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0);
}
