/**
 * networking.k8s.io/v1 NetworkPolicy semantics as a pure evaluator: (policies, pods, namespaces) and one
 * connection (from pod, to pod, port, protocol) → allowed or denied, with the policies and rules that decided.
 * This is what `twill explain` and `twill reachability` print, and what the nftables renderer (render.ts) must
 * agree with.
 *
 * The rules, from the API reference and the Kubernetes documentation:
 * - A pod is isolated for a direction when at least one policy in its namespace selects it (spec.podSelector)
 *   and has that direction in its policyTypes. Unset policyTypes mean ["Ingress"], plus "Egress" when
 *   spec.egress has at least one rule — so a policy with only egress rules still isolates ingress.
 * - An isolated pod allows what the union of all the rules of all the policies selecting it allows; an empty
 *   rule list is deny-all. A connection needs both the source's egress and the destination's ingress.
 * - A rule matches when one of its peers matches (`from`/`to` empty or missing: every peer) and one of its
 *   ports matches (`ports` empty or missing: every port). A peer with podSelector only selects pods of the
 *   policy's namespace; namespaceSelector only, every pod of the selected namespaces; both in one peer, the
 *   pods selected by both (AND); ipBlock, addresses in cidr and not in except. A port's protocol defaults to
 *   TCP, no `port` means every port of that protocol, `endPort` makes a range, and a named port is resolved
 *   against the destination pod's container ports of that name and protocol.
 * - hostNetwork pods are node traffic: no policy isolates them, pod and namespace selectors never match them
 *   (only an ipBlock holding their node's address does), and traffic from a pod's own node is always allowed
 *   ("pods cannot block access from their resident node").
 * - Replies to an allowed connection are always allowed (connection tracking), so only the direction of the
 *   connection's first packet is evaluated.
 */
import type { KubeObject } from '../model/types.js';
import { cidrContains, parseCIDR, parseIP, type CIDR } from '../ipam/cidr.js';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export type Direction = 'ingress' | 'egress';

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export interface PolicyPod {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  /** status.podIPs (empty while the pod has none). */
  ips: string[];
  hostNetwork: boolean;
  nodeName?: string;
  /** Container ports, for named ports. */
  ports: { name?: string; containerPort: number; protocol: Protocol }[];
}

export interface PolicyNamespace {
  name: string;
  labels: Record<string, string>;
}

export type Peer =
  | { kind: 'pods'; podSelector?: LabelSelector; namespaceSelector?: LabelSelector }
  | { kind: 'ipBlock'; cidr: string; except: string[] };

export interface PolicyPort {
  protocol: Protocol;
  /** undefined: every port of the protocol. */
  port?: number | string;
  endPort?: number;
}

export interface PolicyRule {
  /** undefined: every peer (`from`/`to` empty or missing). */
  peers?: Peer[];
  /** undefined: every port (`ports` empty or missing). */
  ports?: PolicyPort[];
}

/** A NetworkPolicy with its defaults applied. */
export interface Policy {
  namespace: string;
  name: string;
  podSelector: LabelSelector;
  ingressIsolation: boolean;
  egressIsolation: boolean;
  ingress: PolicyRule[];
  egress: PolicyRule[];
}

export interface PolicyState {
  policies: Policy[];
  pods: PolicyPod[];
  namespaces: PolicyNamespace[];
}

// ---------------------------------------------------------------------------------------------------------
// From API objects.

const asRecord = (v: unknown): Record<string, string> =>
  v && typeof v === 'object' ? { ...(v as Record<string, string>) } : {};

function protocolOf(v: unknown): Protocol {
  return v === 'UDP' || v === 'SCTP' ? v : 'TCP';
}

function selectorOf(v: unknown): LabelSelector | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const s = v as LabelSelector;
  return { matchLabels: s.matchLabels ?? undefined, matchExpressions: s.matchExpressions ?? undefined };
}

function ruleOf(raw: any, peersField: 'from' | 'to'): PolicyRule {
  const rule: PolicyRule = {};
  const peers: any[] = Array.isArray(raw?.[peersField]) ? raw[peersField] : [];
  if (peers.length > 0) {
    rule.peers = peers.map((p): Peer => {
      if (p?.ipBlock)
        return { kind: 'ipBlock', cidr: String(p.ipBlock.cidr), except: p.ipBlock.except ?? [] };
      return {
        kind: 'pods',
        podSelector: selectorOf(p?.podSelector),
        namespaceSelector: selectorOf(p?.namespaceSelector),
      };
    });
  }
  const ports: any[] = Array.isArray(raw?.ports) ? raw.ports : [];
  if (ports.length > 0) {
    rule.ports = ports.map((p) => {
      const out: PolicyPort = { protocol: protocolOf(p?.protocol) };
      if (p?.port !== undefined && p?.port !== null) out.port = p.port;
      if (typeof p?.endPort === 'number' && typeof p.port === 'number') out.endPort = p.endPort;
      return out;
    });
  }
  return rule;
}

/** A NetworkPolicy object → Policy, with policyTypes defaulted as the API server does. */
export function policyFromObject(obj: KubeObject): Policy {
  const spec = (obj.spec ?? {}) as any;
  const ingress: any[] = Array.isArray(spec.ingress) ? spec.ingress : [];
  const egress: any[] = Array.isArray(spec.egress) ? spec.egress : [];
  let types: string[] = Array.isArray(spec.policyTypes) ? spec.policyTypes : [];
  if (types.length === 0) types = egress.length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
  return {
    namespace: obj.metadata.namespace ?? 'default',
    name: obj.metadata.name ?? '',
    podSelector: selectorOf(spec.podSelector) ?? {},
    ingressIsolation: types.includes('Ingress'),
    egressIsolation: types.includes('Egress'),
    ingress: ingress.map((r) => ruleOf(r, 'from')),
    egress: egress.map((r) => ruleOf(r, 'to')),
  };
}

/** A Pod object → PolicyPod; undefined for pods that no longer hold an address (Succeeded, Failed). */
export function podFromObject(obj: KubeObject): PolicyPod | undefined {
  const spec = (obj.spec ?? {}) as any;
  const status = (obj.status ?? {}) as any;
  if (status.phase === 'Succeeded' || status.phase === 'Failed') return undefined;
  const ips: string[] = Array.isArray(status.podIPs)
    ? status.podIPs.map((p: any) => String(p.ip)).filter(Boolean)
    : status.podIP
      ? [String(status.podIP)]
      : [];
  const ports: PolicyPod['ports'] = [];
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    for (const p of c?.ports ?? []) {
      if (typeof p?.containerPort === 'number')
        ports.push({ name: p.name, containerPort: p.containerPort, protocol: protocolOf(p.protocol) });
    }
  }
  return {
    namespace: obj.metadata.namespace ?? 'default',
    name: obj.metadata.name ?? '',
    labels: asRecord(obj.metadata.labels),
    ips,
    hostNetwork: spec.hostNetwork === true,
    nodeName: spec.nodeName,
    ports,
  };
}

export function namespaceFromObject(obj: KubeObject): PolicyNamespace {
  const name = obj.metadata.name ?? '';
  // The API server keeps this label; set it here too so that objects from older stores behave the same.
  return { name, labels: { ...asRecord(obj.metadata.labels), 'kubernetes.io/metadata.name': name } };
}

export function stateFromObjects(
  policies: KubeObject[],
  pods: KubeObject[],
  namespaces: KubeObject[],
): PolicyState {
  return {
    policies: policies.map(policyFromObject),
    pods: pods.map(podFromObject).filter((p): p is PolicyPod => !!p),
    namespaces: namespaces.map(namespaceFromObject),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Matching.

/** metav1.LabelSelector semantics: every matchLabels pair and every requirement; {} matches everything. */
export function selectorMatches(sel: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const r of sel.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    const values = r.values ?? [];
    switch (r.operator) {
      case 'In':
        if (!has || !values.includes(labels[r.key])) return false;
        break;
      case 'NotIn':
        if (has && values.includes(labels[r.key])) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

const cidrCache = new Map<string, CIDR | null>();
function cidrOf(text: string): CIDR | undefined {
  let c = cidrCache.get(text);
  if (c === undefined) {
    try {
      c = parseCIDR(text);
    } catch {
      c = null;
    }
    cidrCache.set(text, c);
  }
  return c ?? undefined;
}

/** Whether the address lies in the ipBlock (in cidr, in no except). */
export function ipBlockContains(block: { cidr: string; except: string[] }, ip: string): boolean {
  const addr = parseIP(ip);
  const cidr = cidrOf(block.cidr);
  if (!addr || !cidr || !cidrContains(cidr, addr)) return false;
  return !block.except.some((e) => {
    const ex = cidrOf(e);
    return !!ex && cidrContains(ex, addr);
  });
}

const nsIndex = new WeakMap<PolicyNamespace[], Map<string, Record<string, string>>>();

/** The namespace's labels ({} for a namespace that is not known). */
function nsLabels(state: PolicyState, ns: string): Record<string, string> {
  let index = nsIndex.get(state.namespaces);
  if (!index) {
    index = new Map(state.namespaces.map((n) => [n.name, n.labels]));
    nsIndex.set(state.namespaces, index);
  }
  return index.get(ns) ?? {};
}

/** Whether `pod` is one of the peer's pods (policy in `policyNs`). hostNetwork pods never are. */
export function peerSelectsPod(
  state: PolicyState,
  peer: Extract<Peer, { kind: 'pods' }>,
  policyNs: string,
  pod: PolicyPod,
): boolean {
  if (pod.hostNetwork) return false;
  if (peer.namespaceSelector) {
    if (!selectorMatches(peer.namespaceSelector, nsLabels(state, pod.namespace))) return false;
  } else if (pod.namespace !== policyNs) return false;
  return !peer.podSelector || selectorMatches(peer.podSelector, pod.labels);
}

/** The port number a policy port means on the destination pod; undefined when a named port does not resolve. */
export function portMatches(
  p: PolicyPort,
  dst: PolicyPod | undefined,
  port: number,
  protocol: Protocol,
): boolean {
  if (p.protocol !== protocol) return false;
  if (p.port === undefined) return true;
  if (typeof p.port === 'number')
    return p.endPort !== undefined ? port >= p.port && port <= p.endPort : port === p.port;
  return !!dst?.ports.some((c) => c.name === p.port && c.protocol === protocol && c.containerPort === port);
}

export function policySelects(policy: Policy, pod: PolicyPod): boolean {
  return (
    !pod.hostNetwork && pod.namespace === policy.namespace && selectorMatches(policy.podSelector, pod.labels)
  );
}

/** The pods a policy selects. */
export function selectedPods(state: PolicyState, policy: Policy): PolicyPod[] {
  return state.pods.filter((p) => policySelects(policy, p));
}

// ---------------------------------------------------------------------------------------------------------
// Verdicts.

export interface RuleRef {
  /** "ns/name" of the policy. */
  policy: string;
  direction: Direction;
  /** Index into spec.ingress / spec.egress. */
  rule: number;
}

export interface DirectionVerdict {
  direction: Direction;
  allowed: boolean;
  /** Policies that select the pod for this direction ("ns/name"); empty: the pod is not isolated. */
  policies: string[];
  /** The rules that allow the connection (empty when denied or not isolated). */
  allowedBy: RuleRef[];
  /** Why, in a few words. */
  reason: string;
}

export interface Verdict {
  allowed: boolean;
  egress: DirectionVerdict;
  ingress: DirectionVerdict;
}

export interface Connection {
  from: PolicyPod;
  to: PolicyPod;
  port: number;
  protocol: Protocol;
}

const podRef = (p: PolicyPod) => `${p.namespace}/${p.name}`;
const policyRef = (p: Policy) => `${p.namespace}/${p.name}`;

function sameFamily(a: string, b: string): boolean {
  return a.includes(':') === b.includes(':');
}

/** The address the other side sees: the destination's first address, the source's of the same family. */
function addresses(c: Connection): { src?: string; dst?: string } {
  const dst = c.to.ips[0];
  const src = dst ? c.from.ips.find((ip) => sameFamily(ip, dst)) : c.from.ips[0];
  return { src, dst };
}

function ruleMatches(
  state: PolicyState,
  policy: Policy,
  rule: PolicyRule,
  remote: PolicyPod,
  remoteIP: string | undefined,
  dst: PolicyPod,
  port: number,
  protocol: Protocol,
): boolean {
  if (rule.ports && !rule.ports.some((p) => portMatches(p, dst, port, protocol))) return false;
  if (!rule.peers) return true;
  return rule.peers.some((peer) =>
    peer.kind === 'ipBlock'
      ? remoteIP !== undefined && ipBlockContains(peer, remoteIP)
      : peerSelectsPod(state, peer, policy.namespace, remote),
  );
}

function evaluateDirection(state: PolicyState, c: Connection, direction: Direction): DirectionVerdict {
  const local = direction === 'egress' ? c.from : c.to;
  const remote = direction === 'egress' ? c.to : c.from;
  const { src, dst } = addresses(c);
  const remoteIP = direction === 'egress' ? dst : src;
  const verdict: DirectionVerdict = { direction, allowed: true, policies: [], allowedBy: [], reason: '' };
  if (local.hostNetwork) {
    verdict.reason = `${podRef(local)} is a hostNetwork pod: policies do not apply to node traffic`;
    return verdict;
  }
  if (
    direction === 'ingress' &&
    remote.hostNetwork &&
    remote.nodeName &&
    remote.nodeName === local.nodeName
  ) {
    verdict.reason = `traffic from ${podRef(local)}'s own node is always allowed`;
    return verdict;
  }
  for (const policy of state.policies) {
    const isolates = direction === 'egress' ? policy.egressIsolation : policy.ingressIsolation;
    if (!isolates || !policySelects(policy, local)) continue;
    verdict.policies.push(policyRef(policy));
    const rules = direction === 'egress' ? policy.egress : policy.ingress;
    rules.forEach((rule, i) => {
      if (ruleMatches(state, policy, rule, remote, remoteIP, c.to, c.port, c.protocol))
        verdict.allowedBy.push({ policy: policyRef(policy), direction, rule: i });
    });
  }
  if (verdict.policies.length === 0) {
    verdict.reason = `no policy selects ${podRef(local)} for ${direction}`;
  } else if (verdict.allowedBy.length > 0) {
    verdict.reason = `allowed by ${verdict.allowedBy.map((r) => `${r.policy} ${r.direction}[${r.rule}]`).join(', ')}`;
  } else {
    verdict.allowed = false;
    verdict.reason = `no rule of ${verdict.policies.join(', ')} allows it`;
  }
  return verdict;
}

/** The verdict for one connection (its first packet; replies follow connection tracking). */
export function evaluate(state: PolicyState, c: Connection): Verdict {
  const egress = evaluateDirection(state, c, 'egress');
  const ingress = evaluateDirection(state, c, 'ingress');
  return { allowed: egress.allowed && ingress.allowed, egress, ingress };
}

/** `twill explain`'s text for a verdict. */
export function explainText(c: Connection, v: Verdict): string {
  const head = `${podRef(c.from)} -> ${podRef(c.to)} ${c.protocol}/${c.port}: ${v.allowed ? 'allowed' : 'denied'}`;
  const line = (d: DirectionVerdict, who: PolicyPod) =>
    `  ${d.direction} (${podRef(who)}): ${d.allowed ? 'allowed' : 'DENIED'}: ${d.reason}`;
  return [head, line(v.egress, c.from), line(v.ingress, c.to)].join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------------------
// Truth tables.

/** "TCP/80" → { protocol, port }. */
export interface ProbeKey {
  protocol: Protocol;
  port: number;
}

export const probeKeyText = (k: ProbeKey): string => `${k.protocol}/${k.port}`;

/** For each "PROTO/PORT", each "ns/pod" row: a string with `1` allowed, `0` denied, `-` itself. */
export interface TruthTable {
  pods: string[];
  tables: Record<string, Record<string, string>>;
}

export function sortPods(pods: PolicyPod[]): PolicyPod[] {
  return [...pods].sort((a, b) => podRef(a).localeCompare(podRef(b)));
}

/** The table computed from the policies alone (`twill reachability`). */
export function reachability(state: PolicyState, pods: PolicyPod[], keys: ProbeKey[]): TruthTable {
  const sorted = sortPods(pods);
  const out: TruthTable = { pods: sorted.map(podRef), tables: {} };
  for (const k of keys) {
    const t: Record<string, string> = {};
    for (const from of sorted) {
      t[podRef(from)] = sorted
        .map((to) =>
          to === from
            ? '-'
            : evaluate(state, { from, to, port: k.port, protocol: k.protocol }).allowed
              ? '1'
              : '0',
        )
        .join('');
    }
    out.tables[probeKeyText(k)] = t;
  }
  return out;
}

/** The table as the e2e netpol suite prints it: a header of columns, one row per source pod. */
export function formatTruthTable(t: TruthTable): string {
  const w = Math.max(4, ...t.pods.map((p) => p.length));
  const lines: string[] = [];
  for (const [key, rows] of Object.entries(t.tables)) {
    lines.push(`${key}:`);
    lines.push([''.padEnd(w), ...t.pods.map((p) => p.padEnd(w))].join(' ').trimEnd());
    for (const from of t.pods) {
      const row = rows[from] ?? '';
      lines.push([from.padEnd(w), ...[...row].map((ch) => ch.padEnd(w))].join(' ').trimEnd());
    }
    lines.push('');
  }
  return lines.join('\n');
}

/** Parses "80,81" and "tcp,udp" into keys, in the order protocol then port. */
export function probeKeys(ports: number[], protocols: string[]): ProbeKey[] {
  const keys: ProbeKey[] = [];
  for (const proto of protocols)
    for (const port of ports) keys.push({ protocol: protocolOf(proto.toUpperCase()), port });
  return keys;
}
