/**
 * The upstream e2e netpol model (test/e2e/network/netpol): namespaces x, y, z, each with pods a, b, c serving
 * ports 80 and 81 over TCP and UDP (container ports named `serve-80-tcp` ...), as API objects, and a way to
 * write the expected truth tables by hand. Shared by the unit tests, the tracer test and the root suite.
 */
import type { KubeObject } from '../model/types.js';
import { stateFromObjects, type PolicyState } from './semantics.js';

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

/** A small deterministic PRNG (an LCG) for bounded random tests. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * A random policy set over the x, y, z × a, b, c model on two nodes: selectors of every kind, ipBlocks with
 * except, ports by number, range and name, all policyTypes forms.
 */
export function randomState(r: () => number): PolicyState {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const labelValues = ['a', 'b', 'c'];
  const pods: KubeObject[] = [];
  let i = 1;
  for (const ns of NAMESPACES)
    for (const p of POD_NAMES) {
      const labels: Record<string, string> = { pod: p };
      if (r() < 0.4) labels.color = pick(['red', 'blue']);
      pods.push(modelPod(ns, p, { ip: `10.243.${i % 2}.${i}`, labels, nodeName: `node-${(i % 2) + 1}` }));
      i++;
    }
  const namespaces = NAMESPACES.map((n) => modelNamespace(n, r() < 0.5 ? { team: pick(['t1', 't2']) } : {}));
  const selector = (): Record<string, unknown> => {
    const k = r();
    if (k < 0.3) return {};
    if (k < 0.6) return { matchLabels: { pod: pick(labelValues) } };
    if (k < 0.75) return { matchLabels: { color: pick(['red', 'blue']) } };
    const op = pick(['In', 'NotIn', 'Exists', 'DoesNotExist']);
    const key = pick(['pod', 'color']);
    const values = op === 'In' || op === 'NotIn' ? [pick(labelValues), pick(['red', 'blue'])] : undefined;
    return { matchExpressions: [{ key, operator: op, ...(values ? { values } : {}) }] };
  };
  const nsSelector = (): Record<string, unknown> => {
    const k = r();
    if (k < 0.3) return {};
    if (k < 0.6) return { matchLabels: { 'kubernetes.io/metadata.name': pick(NAMESPACES) } };
    if (k < 0.8) return { matchLabels: { team: pick(['t1', 't2']) } };
    return { matchExpressions: [{ key: 'team', operator: pick(['Exists', 'DoesNotExist']) }] };
  };
  const peer = (): Record<string, unknown> => {
    const k = r();
    if (k < 0.35) return { podSelector: selector() };
    if (k < 0.6) return { namespaceSelector: nsSelector() };
    if (k < 0.85) return { podSelector: selector(), namespaceSelector: nsSelector() };
    const octet = pick([0, 1]);
    return {
      ipBlock: {
        cidr: `10.243.${octet}.0/28`,
        except: r() < 0.5 ? [`10.243.${octet}.${pick([1, 2, 3, 5])}/32`] : [],
      },
    };
  };
  const port = (): Record<string, unknown> => {
    const protocol = pick(['TCP', 'UDP', 'SCTP', undefined]);
    const k = r();
    const base = protocol ? { protocol } : {};
    if (k < 0.2) return base;
    if (k < 0.5) return { ...base, port: pick([80, 81]) };
    if (k < 0.7) return { ...base, port: 80, endPort: 81 };
    return { ...base, port: `serve-${pick([80, 81])}-${pick(['tcp', 'udp'])}` };
  };
  const rules = (peersField: string) => {
    const n = Math.floor(r() * 3);
    return Array.from({ length: n }, () => {
      const rule: Record<string, unknown> = {};
      if (r() < 0.7) rule[peersField] = Array.from({ length: 1 + Math.floor(r() * 2) }, peer);
      if (r() < 0.6) rule.ports = Array.from({ length: 1 + Math.floor(r() * 2) }, port);
      return rule;
    });
  };
  const policies: KubeObject[] = [];
  const n = 1 + Math.floor(r() * 4);
  for (let k = 0; k < n; k++) {
    const spec: Record<string, unknown> = { podSelector: selector() };
    if (r() < 0.8) spec.ingress = rules('from');
    if (r() < 0.6) spec.egress = rules('to');
    const t = r();
    if (t < 0.25) spec.policyTypes = ['Ingress'];
    else if (t < 0.5) spec.policyTypes = ['Egress'];
    else if (t < 0.65) spec.policyTypes = ['Ingress', 'Egress'];
    policies.push(policy(pick(NAMESPACES), `p${k}`, spec));
  }
  return stateFromObjects(policies, pods, namespaces);
}
