/**
 * The upstream e2e netpol model (test/e2e/network/netpol): namespaces x, y, z, each with pods a, b, c serving
 * ports 80 and 81 over TCP and UDP (container ports named `serve-80-tcp` ...), as API objects, and a way to
 * write the expected truth tables by hand. Shared by the unit tests, the tracer test and the root suite.
 */
import type { KubeObject } from '../model/types.js';

export const NAMESPACES = ['x', 'y', 'z'];
export const POD_NAMES = ['a', 'b', 'c'];
export const ALL_PODS = NAMESPACES.flatMap((ns) => POD_NAMES.map((p) => `${ns}/${p}`));

export function modelNamespace(name: string, labels: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels: { ...labels, 'kubernetes.io/metadata.name': name } },
  };
}

export function containerPorts(): Record<string, unknown>[] {
  const ports: Record<string, unknown>[] = [];
  for (const port of [80, 81])
    for (const proto of ['TCP', 'UDP'])
      ports.push({ name: `serve-${port}-${proto.toLowerCase()}`, containerPort: port, protocol: proto });
  return ports;
}

/** A model pod; `ip` is given by the caller (unit tests) or by the cluster (root tests). */
export function modelPod(
  ns: string,
  name: string,
  opts: { ip?: string; labels?: Record<string, string>; nodeName?: string; hostNetwork?: boolean } = {},
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: ns, name, labels: opts.labels ?? { pod: name } },
    spec: {
      nodeName: opts.nodeName ?? 'node-1',
      hostNetwork: opts.hostNetwork || undefined,
      containers: [{ name: 'cont', ports: containerPorts() }],
    },
    status: opts.ip ? { phase: 'Running', podIP: opts.ip, podIPs: [{ ip: opts.ip }] } : { phase: 'Pending' },
  };
}

export function policy(ns: string, name: string, spec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { namespace: ns, name },
    spec,
  };
}

/**
 * A hand-written table: start from all allowed (or all denied) and flip the listed pairs. `from`/`to` are
 * "ns/pod", "ns/*" or "*". Returns rows keyed by source in ALL_PODS order, `-` on the diagonal.
 */
export class Expect {
  private readonly m = new Map<string, boolean>();
  constructor(
    defaultAllowed: boolean,
    readonly pods: string[] = ALL_PODS,
  ) {
    for (const f of pods) for (const t of pods) this.m.set(`${f}>${t}`, defaultAllowed);
  }
  private match(pattern: string, pod: string): boolean {
    if (pattern === '*') return true;
    if (pattern.endsWith('/*')) return pod.startsWith(pattern.slice(0, -1));
    return pattern === pod;
  }
  set(from: string, to: string, allowed: boolean): this {
    for (const f of this.pods)
      for (const t of this.pods)
        if (this.match(from, f) && this.match(to, t)) this.m.set(`${f}>${t}`, allowed);
    return this;
  }
  allow(from: string, to: string): this {
    return this.set(from, to, true);
  }
  deny(from: string, to: string): this {
    return this.set(from, to, false);
  }
  rows(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const f of this.pods)
      out[f] = this.pods.map((t) => (t === f ? '-' : this.m.get(`${f}>${t}`) ? '1' : '0')).join('');
    return out;
  }
}
