/**
 * The Services dataplane as a pure function: (Services, EndpointSlices, node) → the desired nftables ruleset of
 * one family, following kube-proxy's nftables proxier (pkg/proxy/nftables) chain for chain.
 *
 * Design. Per-packet cost must not grow with the number of Services, so the packet path never walks a list of
 * services: one verdict map keyed `daddr . l4proto . dport` (`service-ips`) and one keyed `l4proto . dport`
 * (`service-nodeports`, only for the node's own addresses) send a new connection straight to its service's
 * chain; that chain picks an endpoint with `numgen random mod N vmap @dispatch-…` and the endpoint chain DNATs. The
 * filter side is the same shape: `no-endpoint-services` / `no-endpoint-nodeports` map a service without usable
 * endpoints to reject (or drop, for a Local policy without local endpoints) before any NAT, `cluster-ips`
 * rejects ports a ClusterIP does not define, `firewall-ips` sends LoadBalancer IPs with
 * loadBalancerSourceRanges through their firewall chain. Masquerading is a mark (0x4000) set on the way in and
 * acted on in nat postrouting, so the decision is made where the facts are (hairpin, non-pod source, Cluster
 * policy) and the NAT happens once.
 *
 * The result is a model (chains with their rules, maps and sets with their elements) rather than text, so the
 * sync loop can diff two models into a partial transaction (src/services/sync.ts); `fullSyncText` writes the
 * whole of it.
 */
import { createHash } from 'node:crypto';
import type { KubeObject } from '../model/types.js';

export type Family = 'ip' | 'ip6';

export const TABLE_NAME = 'twill-services';
/** The mark that tells nat-postrouting to masquerade (kube-proxy's 0x4000). */
export const MASQ_MARK = '0x4000';
/** sessionAffinityConfig.clientIP.timeoutSeconds default (Kubernetes: 3 hours). */
export const DEFAULT_AFFINITY_TIMEOUT = 10800;
/** Services with this label are handled by another proxy (kube-proxy ignores them too). */
export const LABEL_SERVICE_PROXY_NAME = 'service.kubernetes.io/service-proxy-name';
export const LABEL_HEADLESS = 'service.kubernetes.io/headless';
export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';

export interface RenderConfig {
  family: Family;
  nodeName: string;
  /** The node's own addresses that answer NodePorts (kube-proxy's default `--nodeport-addresses primary`). */
  nodeIPs: string[];
  /** Pod ranges: traffic to a ClusterIP from outside them is masqueraded (kube-proxy's --cluster-cidr). */
  clusterCIDRs: string[];
  /** Service ranges: a ClusterIP nobody holds is dropped (kube-proxy's "unallocated ClusterIPs"). */
  serviceCIDRs: string[];
}

/** Base chains: name → hook and priority (kube-proxy's, numeric: dstnat is -100, srcnat 100). */
export const BASE_CHAINS: Record<string, { type: 'filter' | 'nat'; hook: string; priority: number }> = {
  'filter-prerouting': { type: 'filter', hook: 'prerouting', priority: -110 },
  'filter-input': { type: 'filter', hook: 'input', priority: -110 },
  'filter-forward': { type: 'filter', hook: 'forward', priority: -110 },
  'filter-output': { type: 'filter', hook: 'output', priority: -110 },
  'filter-output-post-dnat': { type: 'filter', hook: 'output', priority: -90 },
  'nat-prerouting': { type: 'nat', hook: 'prerouting', priority: -100 },
  'nat-output': { type: 'nat', hook: 'output', priority: -100 },
  'nat-postrouting': { type: 'nat', hook: 'postrouting', priority: 100 },
};

export interface ChainModel {
  /** `type filter hook input priority -110 ;` for base chains. */
  base?: string;
  rules: string[];
}

export interface MapModel {
  /** `type ipv4_addr . inet_proto . inet_service : verdict ;` */
  decl: string;
  /** key → value (`10.92.0.10 . tcp . 80` → `goto service-…`). */
  elements: Map<string, string>;
}

export interface SetModel {
  decl: string;
  /** Static elements; undefined for a dynamic set (affinity) whose contents the kernel owns. */
  elements?: Set<string>;
}

export interface Ruleset {
  family: Family;
  chains: Map<string, ChainModel>;
  maps: Map<string, MapModel>;
  sets: Map<string, SetModel>;
  /** Per service port with endpoints: the UDP destinations and endpoint addresses, for conntrack cleanup. */
  udpEndpoints: Map<string, { serviceIPs: string[]; endpoints: string[] }>;
}

// --- the API objects, as far as the proxier reads them -----------------------------------------------------

interface ServicePort {
  name?: string;
  protocol?: string;
  port: number;
  nodePort?: number;
}

interface ServiceSpec {
  type?: string;
  clusterIP?: string;
  clusterIPs?: string[];
  externalIPs?: string[];
  ports?: ServicePort[];
  sessionAffinity?: string;
  sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
  externalTrafficPolicy?: string;
  internalTrafficPolicy?: string;
  loadBalancerSourceRanges?: string[];
}

interface EndpointSliceObj extends KubeObject {
  addressType?: string;
  endpoints?: {
    addresses: string[];
    conditions?: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null };
    nodeName?: string;
  }[];
  ports?: { name?: string | null; port?: number | null; protocol?: string | null }[] | null;
}

/** One usable backend of a service port (pkg/proxy's Endpoint). */
export interface Endpoint {
  ip: string;
  port: number;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  local: boolean;
}

export function isIPv6(ip: string): boolean {
  return ip.includes(':');
}

function ofFamily(family: Family, ip: string): boolean {
  return (family === 'ip6') === isIPv6(ip);
}

function hash8(s: string): string {
  const digest = createHash('sha256').update(s).digest();
  // base32 (RFC 4648 alphabet), as kube-proxy names its chains; 8 characters are 40 bits.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < 8) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    if (out.length >= 8) break;
  }
  return out;
}

/** kube-proxy's servicePortChainNameBase: `HASH-ns/name/proto/port`. */
export function servicePortChainBase(ns: string, name: string, portName: string, proto: string): string {
  const p = proto.toLowerCase();
  return `${hash8(`${ns}/${name}:${portName}${p}`)}-${ns}/${name}/${p}/${portName}`;
}

/** An endpoint's chain base: the service port's plus `__ip/port` (IPv6 colons become dots: nft names). */
function endpointChainBase(ns: string, name: string, portName: string, proto: string, ep: Endpoint): string {
  const p = proto.toLowerCase();
  const id = `${ep.ip}/${ep.port}`;
  return `${hash8(`${ns}/${name}:${portName}${p}${id}`)}-${ns}/${name}/${p}/${portName}__${id.replace(/:/g, '.')}`;
}

/** True when the service gets no rules at all (kube-proxy's service change tracker skips it). */
export function ignoredService(svc: KubeObject): boolean {
  const spec = (svc.spec ?? {}) as ServiceSpec;
  const labels = svc.metadata.labels ?? {};
  if (LABEL_SERVICE_PROXY_NAME in labels || LABEL_HEADLESS in labels) return true;
  if (spec.type === 'ExternalName') return true;
  if (!spec.clusterIP || spec.clusterIP === 'None') return true;
  return false;
}

/** Endpoints of one service port from its EndpointSlices, matched by port name and protocol, deduplicated. */
export function endpointsFor(
  slices: KubeObject[],
  family: Family,
  portName: string,
  proto: string,
  nodeName: string,
): Endpoint[] {
  const seen = new Map<string, Endpoint>();
  const addressType = family === 'ip6' ? 'IPv6' : 'IPv4';
  for (const raw of slices) {
    const s = raw as EndpointSliceObj;
    if (s.addressType !== addressType) continue;
    const port = (s.ports ?? []).find(
      (p) => (p.name ?? '') === portName && (p.protocol ?? 'TCP') === proto && typeof p.port === 'number',
    );
    if (!port) continue;
    for (const e of s.endpoints ?? []) {
      const ip = e.addresses?.[0];
      if (!ip || !ofFamily(family, ip)) continue;
      const ready = e.conditions?.ready ?? true;
      const key = `${ip}/${port.port}`;
      if (seen.has(key)) continue;
      seen.set(key, {
        ip,
        port: port.port as number,
        ready: ready === true,
        // serving defaults to ready when the slice does not say (EndpointSlice API).
        serving: (e.conditions?.serving ?? ready) === true,
        terminating: e.conditions?.terminating === true,
        local: e.nodeName === nodeName,
      });
    }
  }
  // A stable order, so the rendered rules do not change with the order the slices came in.
  return [...seen.values()].sort((a, b) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1));
}

export interface Categorized {
  cluster: Endpoint[];
  local: Endpoint[];
  hasAny: boolean;
}

/**
 * pkg/proxy/topology.go CategorizeEndpoints without topology hints: ready endpoints, or when there are none the
 * serving-and-terminating ones; the local set the same way among local endpoints.
 */
export function categorize(eps: Endpoint[], usesCluster: boolean, usesLocal: boolean): Categorized {
  let cluster: Endpoint[] = [];
  let local: Endpoint[] = [];
  let hasAny = false;
  if (usesCluster) {
    cluster = eps.filter((e) => e.ready);
    if (cluster.length === 0) cluster = eps.filter((e) => e.serving && e.terminating);
    if (cluster.length > 0) hasAny = true;
  }
  if (!usesLocal) return { cluster, local, hasAny };
  let localReady = false;
  let localTerminating = false;
  for (const e of eps) {
    if (e.ready) {
      hasAny = true;
      if (e.local) localReady = true;
    } else if (e.serving && e.terminating) {
      hasAny = true;
      if (e.local) localTerminating = true;
    }
  }
  if (localReady) local = eps.filter((e) => e.local && e.ready);
  else if (localTerminating) local = eps.filter((e) => e.local && e.serving && e.terminating);
  return { cluster, local, hasAny };
}

function addrType(family: Family): string {
  return family === 'ip6' ? 'ipv6_addr' : 'ipv4_addr';
}

function setLiteral(items: string[]): string {
  return items.length === 1 ? items[0] : `{ ${items.join(', ')} }`;
}

function dnatTarget(ep: Endpoint): string {
  return isIPv6(ep.ip) ? `[${ep.ip}]:${ep.port}` : `${ep.ip}:${ep.port}`;
}

/** The LoadBalancer ingress IPs of a service (status.loadBalancer.ingress[].ip). */
function loadBalancerIPs(svc: KubeObject): string[] {
  const status = svc.status as { loadBalancer?: { ingress?: { ip?: string }[] } } | undefined;
  return (status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter((ip): ip is string => !!ip);
}

/** The part of the ruleset that does not depend on any service: base chains, dispatch, reject, masquerade. */
export function renderBase(cfg: RenderConfig): Ruleset {
  const f = cfg.family;
  const A = addrType(f);
  const daddr = `${f} daddr`;
  const chains = new Map<string, ChainModel>();
  const maps = new Map<string, MapModel>();
  const sets = new Map<string, SetModel>();
  const udpEndpoints: Ruleset['udpEndpoints'] = new Map();
  const chain = (name: string, rules: string[] = []) => {
    const c: ChainModel = { rules };
    chains.set(name, c);
    return c;
  };

  for (const [name, b] of Object.entries(BASE_CHAINS)) {
    chains.set(name, { base: `type ${b.type} hook ${b.hook} priority ${b.priority} ;`, rules: [] });
  }
  const base = (name: string, rule: string) => chains.get(name)!.rules.push(rule);
  base('filter-prerouting', 'ct state new jump firewall-check');
  base('filter-input', 'ct state new jump nodeport-endpoints-check');
  base('filter-input', 'ct state new jump service-endpoints-check');
  base('filter-forward', 'ct state new jump service-endpoints-check');
  base('filter-forward', 'ct state new jump cluster-ips-check');
  base('filter-output', 'ct state new jump service-endpoints-check');
  base('filter-output', 'ct state new jump firewall-check');
  base('filter-output-post-dnat', 'ct state new jump cluster-ips-check');
  base('nat-prerouting', 'jump services');
  base('nat-output', 'jump services');
  base('nat-postrouting', 'jump masquerading');

  const serviceIPs: MapModel = {
    decl: `type ${A} . inet_proto . inet_service : verdict ;`,
    elements: new Map(),
  };
  const nodePorts: MapModel = { decl: 'type inet_proto . inet_service : verdict ;', elements: new Map() };
  const noEndpointServices: MapModel = {
    decl: `type ${A} . inet_proto . inet_service : verdict ;`,
    elements: new Map(),
  };
  const noEndpointNodePorts: MapModel = {
    decl: 'type inet_proto . inet_service : verdict ;',
    elements: new Map(),
  };
  const firewallIPs: MapModel = {
    decl: `type ${A} . inet_proto . inet_service : verdict ;`,
    elements: new Map(),
  };
  maps.set('service-ips', serviceIPs);
  maps.set('service-nodeports', nodePorts);
  maps.set('no-endpoint-services', noEndpointServices);
  maps.set('no-endpoint-nodeports', noEndpointNodePorts);
  maps.set('firewall-ips', firewallIPs);
  const clusterIPs: SetModel = { decl: `type ${A} ;`, elements: new Set() };
  sets.set('cluster-ips', clusterIPs);
  const nodeIPs = cfg.nodeIPs.filter((ip) => ofFamily(f, ip));
  sets.set('nodeport-ips', { decl: `type ${A} ;`, elements: new Set(nodeIPs) });

  chain('firewall-check', [`${daddr} . meta l4proto . th dport vmap @firewall-ips`]);
  // TCP gets a reset (an immediate "connection refused"), everything else ICMP port unreachable.
  chain('reject-chain', ['meta l4proto tcp reject with tcp reset', 'reject']);
  chain('mark-for-masquerade', [`meta mark set meta mark | ${MASQ_MARK}`]);
  chain('masquerading', [
    `meta mark & ${MASQ_MARK} == 0 return`,
    `meta mark set meta mark ^ ${MASQ_MARK}`,
    'masquerade fully-random',
  ]);
  chain('services', [
    `${daddr} . meta l4proto . th dport vmap @service-ips`,
    `${daddr} @nodeport-ips meta l4proto . th dport vmap @service-nodeports`,
  ]);
  const clusterChecks = [`${daddr} @cluster-ips reject`];
  const serviceCIDRs = cfg.serviceCIDRs.filter((c) => ofFamily(f, c));
  if (serviceCIDRs.length > 0) clusterChecks.push(`${daddr} ${setLiteral(serviceCIDRs)} drop`);
  chain('cluster-ips-check', clusterChecks);
  chain('service-endpoints-check', [`${daddr} . meta l4proto . th dport vmap @no-endpoint-services`]);
  chain('nodeport-endpoints-check', [
    `${daddr} @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports`,
  ]);
  return { family: f, chains, maps, sets, udpEndpoints };
}

/** The maps and sets every service fragment may add elements to, empty. */
export function emptyShared(f: Family): Pick<Ruleset, 'maps' | 'sets'> {
  const A = addrType(f);
  const full = `type ${A} . inet_proto . inet_service : verdict ;`;
  const ports = 'type inet_proto . inet_service : verdict ;';
  const maps = new Map<string, MapModel>([
    ['service-ips', { decl: full, elements: new Map() }],
    ['service-nodeports', { decl: ports, elements: new Map() }],
    ['no-endpoint-services', { decl: full, elements: new Map() }],
    ['no-endpoint-nodeports', { decl: ports, elements: new Map() }],
    ['firewall-ips', { decl: full, elements: new Map() }],
  ]);
  const sets = new Map<string, SetModel>([['cluster-ips', { decl: `type ${A} ;`, elements: new Set() }]]);
  return { maps, sets };
}

/**
 * One service's part of the ruleset (its chains, affinity sets, and its elements of the shared maps and of
 * cluster-ips), from the EndpointSlices of that service. Pure; the sync loop keeps these per service, so a
 * partial sync re-renders and diffs only the services that changed.
 */
export function renderService(svc: KubeObject, slices: KubeObject[], cfg: RenderConfig): Ruleset {
  const f = cfg.family;
  const A = addrType(f);
  const daddr = `${f} daddr`;
  const saddr = `${f} saddr`;
  const { maps, sets } = emptyShared(f);
  const chains = new Map<string, ChainModel>();
  const udpEndpoints: Ruleset['udpEndpoints'] = new Map();
  const rs: Ruleset = { family: f, chains, maps, sets, udpEndpoints };
  const chain = (name: string, rules: string[] = []) => chains.set(name, { rules });
  const serviceIPs = maps.get('service-ips')!;
  const nodePorts = maps.get('service-nodeports')!;
  const noEndpointServices = maps.get('no-endpoint-services')!;
  const noEndpointNodePorts = maps.get('no-endpoint-nodeports')!;
  const firewallIPs = maps.get('firewall-ips')!;
  const clusterIPs = sets.get('cluster-ips')!;
  const clusterCIDRs = cfg.clusterCIDRs.filter((c) => ofFamily(f, c));
  if (ignoredService(svc)) return rs;
  const spec = (svc.spec ?? {}) as ServiceSpec;
  const ns = svc.metadata.namespace ?? 'default';
  const name = svc.metadata.name ?? '';
  const clusterIP = (spec.clusterIPs ?? [spec.clusterIP ?? '']).find((ip) => ip && ofFamily(f, ip));
  if (!clusterIP) return rs; // not a service of this family
  const externalIPs = (spec.externalIPs ?? []).filter((ip) => ofFamily(f, ip));
  const lbIPs = spec.type === 'LoadBalancer' ? loadBalancerIPs(svc).filter((ip) => ofFamily(f, ip)) : [];
  const sourceRanges = (spec.loadBalancerSourceRanges ?? [])
    .map((r) => r.trim())
    .filter((r) => ofFamily(f, r));
  const nodePortType = spec.type === 'NodePort' || spec.type === 'LoadBalancer';
  const externallyAccessible = nodePortType || externalIPs.length > 0;
  const externalLocal = externallyAccessible && spec.externalTrafficPolicy === 'Local';
  const internalLocal = spec.internalTrafficPolicy === 'Local';
  const usesCluster = !internalLocal || (externallyAccessible && !externalLocal);
  const usesLocal = internalLocal || externalLocal;
  const affinity = spec.sessionAffinity === 'ClientIP';
  const affinityTimeout = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT;
  clusterIPs.elements!.add(clusterIP);

  for (const port of spec.ports ?? []) {
    const proto = (port.protocol ?? 'TCP').toLowerCase();
    const portName = port.name ?? '';
    const chainBase = servicePortChainBase(ns, name, portName, proto);
    const clusterChain = `service-${chainBase}`;
    const localChain = `local-${chainBase}`;
    const externalChain = `external-${chainBase}`;
    const firewallChain = `firewall-${chainBase}`;
    const eps = endpointsFor(slices, f, portName, proto.toUpperCase(), cfg.nodeName);
    const { cluster, local, hasAny } = categorize(eps, usesCluster, usesLocal);
    const internalPolicyChain = internalLocal ? localChain : clusterChain;
    const externalPolicyChain = externalLocal ? localChain : clusterChain;
    const hasInternal = internalLocal ? local.length > 0 : cluster.length > 0;
    const hasExternal = externalLocal ? local.length > 0 : cluster.length > 0;
    const usesClusterChain = cluster.length > 0 && usesCluster;
    const usesLocalChain = local.length > 0 && usesLocal;
    const usesExternalChain = hasAny && externallyAccessible;

    let internalVerdict = '';
    let externalVerdict = '';
    if (!hasAny) {
      internalVerdict = externalVerdict = 'goto reject-chain';
    } else {
      if (!hasInternal) internalVerdict = 'drop'; // internalTrafficPolicy Local, no local endpoints
      if (!hasExternal) externalVerdict = 'drop'; // externalTrafficPolicy Local, no local endpoints
    }
    const key = (ip: string) => `${ip} . ${proto} . ${port.port}`;

    // ClusterIP
    if (hasInternal) serviceIPs.elements.set(key(clusterIP), `goto ${internalPolicyChain}`);
    else noEndpointServices.elements.set(key(clusterIP), internalVerdict);
    // externalIPs and LoadBalancer ingress IPs
    for (const ip of [...externalIPs, ...lbIPs]) {
      if (usesExternalChain) serviceIPs.elements.set(key(ip), `goto ${externalChain}`);
      if (!hasExternal) noEndpointServices.elements.set(key(ip), externalVerdict);
    }
    if (lbIPs.length > 0 && sourceRanges.length > 0) {
      for (const ip of lbIPs) firewallIPs.elements.set(key(ip), `goto ${firewallChain}`);
      chain(firewallChain, [`${saddr} != ${setLiteral(sourceRanges)} drop`]);
    }
    // NodePort, on the node's own addresses only
    if (nodePortType && port.nodePort) {
      const npKey = `${proto} . ${port.nodePort}`;
      if (usesExternalChain) nodePorts.elements.set(npKey, `goto ${externalChain}`);
      if (!hasExternal) noEndpointNodePorts.elements.set(npKey, externalVerdict);
    }

    if (usesExternalChain) {
      const rules: string[] = [];
      if (externalLocal) {
        // Pods and the node itself may still use every endpoint; only outside clients are kept local
        // (and keep their source address).
        if (usesClusterChain) {
          if (clusterCIDRs.length > 0)
            rules.push(`${saddr} ${setLiteral(clusterCIDRs)} goto ${clusterChain}`);
          rules.push('fib saddr type local jump mark-for-masquerade');
          rules.push(`fib saddr type local goto ${clusterChain}`);
        }
      } else {
        rules.push('jump mark-for-masquerade');
      }
      if (hasExternal) rules.push(`goto ${externalPolicyChain}`);
      chain(externalChain, rules);
    }

    const endpointChains = (list: Endpoint[]) =>
      list.map((ep) => {
        const b = endpointChainBase(ns, name, portName, proto, ep);
        return { ep, chain: `endpoint-${b}`, set: `affinity-${b}` };
      });
    const dispatch = (chainName: string, list: ReturnType<typeof endpointChains>): string[] => {
      const rules: string[] = [];
      if (affinity) for (const e of list) rules.push(`${saddr} @${e.set} goto ${e.chain}`);
      // A named map per dispatching chain rather than an anonymous one inline: the kernel names anonymous
      // sets by scanning every set of the table, which made 5,000 services take 27 s to load instead of 9.
      maps.set(`dispatch-${chainName}`, {
        decl: 'typeof numgen random mod 1 : verdict ;',
        elements: new Map(list.map((e, i) => [String(i), `goto ${e.chain}`])),
      });
      rules.push(`numgen random mod ${list.length} vmap @dispatch-${chainName}`);
      return rules;
    };
    const allEndpoints = new Map<string, ReturnType<typeof endpointChains>[number]>();
    if (usesClusterChain) {
      const list = endpointChains(cluster);
      const rules: string[] = [];
      if (clusterCIDRs.length > 0) {
        rules.push(
          `${daddr} ${clusterIP} ${proto} dport ${port.port} ${saddr} != ${setLiteral(clusterCIDRs)} jump mark-for-masquerade`,
        );
      }
      chain(clusterChain, [...rules, ...dispatch(clusterChain, list)]);
      for (const e of list) allEndpoints.set(e.chain, e);
    }
    if (usesLocalChain) {
      const list = endpointChains(local);
      chain(localChain, dispatch(localChain, list));
      for (const e of list) allEndpoints.set(e.chain, e);
    }
    for (const e of allEndpoints.values()) {
      const rules = [`${saddr} ${e.ep.ip} jump mark-for-masquerade`];
      if (affinity) {
        sets.set(e.set, {
          decl: `type ${A} ; flags dynamic,timeout ; timeout ${affinityTimeout}s ;`,
        });
        rules.push(`update @${e.set} { ${saddr} }`);
      }
      rules.push(`meta l4proto ${proto} dnat to ${dnatTarget(e.ep)}`);
      chain(e.chain, rules);
    }
    if (proto === 'udp' && allEndpoints.size > 0) {
      udpEndpoints.set(`${ns}/${name}:${portName}`, {
        serviceIPs: [clusterIP, ...externalIPs, ...lbIPs],
        endpoints: [...allEndpoints.values()].map((e) => e.ep.ip),
      });
    }
  }
  return rs;
}

/** Adds a fragment's chains, sets and elements to a ruleset. */
export function mergeInto(rs: Ruleset, frag: Ruleset): void {
  for (const [k, v] of frag.chains) rs.chains.set(k, v);
  for (const [k, v] of frag.sets) {
    const have = rs.sets.get(k);
    if (have?.elements && v.elements) for (const e of v.elements) have.elements.add(e);
    else rs.sets.set(k, v.elements ? { decl: v.decl, elements: new Set(v.elements) } : v);
  }
  for (const [k, v] of frag.maps) {
    const have = rs.maps.get(k);
    if (have) for (const [ek, ev] of v.elements) have.elements.set(ek, ev);
    else rs.maps.set(k, { decl: v.decl, elements: new Map(v.elements) });
  }
  for (const [k, v] of frag.udpEndpoints) rs.udpEndpoints.set(k, v);
}

/** The EndpointSlices of each service, by `namespace/name` (the kubernetes.io/service-name label). */
export function slicesByService(slices: KubeObject[]): Map<string, KubeObject[]> {
  const by = new Map<string, KubeObject[]>();
  for (const s of slices) {
    const svcName = s.metadata.labels?.[LABEL_SERVICE_NAME];
    if (!svcName) continue;
    const key = `${s.metadata.namespace}/${svcName}`;
    let l = by.get(key);
    if (!l) by.set(key, (l = []));
    l.push(s);
  }
  return by;
}

/** Renders one family's whole desired ruleset. Pure. */
export function render(services: KubeObject[], slices: KubeObject[], cfg: RenderConfig): Ruleset {
  const rs = renderBase(cfg);
  const by = slicesByService(slices);
  const sorted = [...services].sort((a, b) =>
    `${a.metadata.namespace}/${a.metadata.name}` < `${b.metadata.namespace}/${b.metadata.name}` ? -1 : 1,
  );
  for (const svc of sorted) {
    mergeInto(rs, renderService(svc, by.get(`${svc.metadata.namespace}/${svc.metadata.name}`) ?? [], cfg));
  }
  return rs;
}

/** The table's name as nft writes it. */
export function tableRef(family: Family): string {
  return `${family} ${TABLE_NAME}`;
}

/**
 * The whole ruleset as one transaction, kube-proxy's full sync: create what is missing, flush every chain and
 * static map/set and fill them again. Affinity sets are added but not flushed, so a full sync keeps clients on
 * their endpoints. `staleChains` (chains of an earlier ruleset that the model lacks) are flushed here; the
 * caller deletes them a sync later, once nothing points at them.
 */
export function fullSyncText(rs: Ruleset, staleChains: string[] = []): string {
  const t = tableRef(rs.family);
  const out: string[] = [`add table ${t} { comment "twill Services (src/services)" ; }`];
  for (const [name, c] of rs.chains) {
    out.push(c.base ? `add chain ${t} ${name} { ${c.base} }` : `add chain ${t} ${name}`);
  }
  for (const name of staleChains) out.push(`flush chain ${t} ${name}`);
  for (const [name, s] of rs.sets) out.push(`add set ${t} ${name} { ${s.decl} }`);
  for (const [name, m] of rs.maps) out.push(`add map ${t} ${name} { ${m.decl} }`);
  for (const name of rs.chains.keys()) out.push(`flush chain ${t} ${name}`);
  for (const [name, s] of rs.sets) if (s.elements) out.push(`flush set ${t} ${name}`);
  for (const name of rs.maps.keys()) out.push(`flush map ${t} ${name}`);
  for (const [name, c] of rs.chains) for (const r of c.rules) out.push(`add rule ${t} ${name} ${r}`);
  for (const [name, s] of rs.sets) {
    if (s.elements && s.elements.size > 0)
      out.push(`add element ${t} ${name} { ${[...s.elements].join(', ')} }`);
  }
  for (const [name, m] of rs.maps) {
    // Elements in groups: one statement per element would make nft parse 10,000 statements.
    const els = [...m.elements].map(([k, v]) => `${k} : ${v}`);
    for (let i = 0; i < els.length; i += 500) {
      out.push(`add element ${t} ${name} { ${els.slice(i, i + 500).join(', ')} }`);
    }
  }
  return out.join('\n') + '\n';
}

/**
 * What changed between the ruleset last applied and the new one, as one transaction (kube-proxy's partial
 * sync): new chains are added, chains whose rules changed are flushed and refilled, map and set elements are
 * added and deleted one by one. Chains and affinity sets the new ruleset lacks are flushed (their map
 * elements go in the same transaction) and returned, for the caller to delete a sync later.
 */
export function partialSyncText(
  prev: Ruleset,
  next: Ruleset,
): { text: string; staleChains: string[]; staleSets: string[]; staleMaps: string[] } {
  const t = tableRef(next.family);
  const head: string[] = [];
  const body: string[] = [];
  const staleChains: string[] = [];
  const staleSets: string[] = [];
  const staleMaps: string[] = [];
  for (const [name, c] of next.chains) {
    const old = prev.chains.get(name);
    if (!old) {
      head.push(c.base ? `add chain ${t} ${name} { ${c.base} }` : `add chain ${t} ${name}`);
      for (const r of c.rules) body.push(`add rule ${t} ${name} ${r}`);
    } else if (old.rules.join('\n') !== c.rules.join('\n')) {
      body.push(`flush chain ${t} ${name}`);
      for (const r of c.rules) body.push(`add rule ${t} ${name} ${r}`);
    }
  }
  for (const name of prev.chains.keys()) {
    if (!next.chains.has(name)) {
      body.unshift(`flush chain ${t} ${name}`);
      staleChains.push(name);
    }
  }
  for (const [name, s] of next.sets) {
    const old = prev.sets.get(name);
    if (!old) head.push(`add set ${t} ${name} { ${s.decl} }`);
    if (s.elements) {
      const oldEls = old?.elements ?? new Set<string>();
      const del = [...oldEls].filter((e) => !s.elements!.has(e));
      const add = [...s.elements].filter((e) => !oldEls.has(e));
      if (del.length) body.push(`delete element ${t} ${name} { ${del.join(', ')} }`);
      if (add.length) body.push(`add element ${t} ${name} { ${add.join(', ')} }`);
    }
  }
  // Only dynamic (affinity) sets go with their service; the static ones are shared.
  for (const [name, s] of prev.sets) if (!next.sets.has(name) && !s.elements) staleSets.push(name);
  for (const [name, m] of next.maps) {
    if (!prev.maps.has(name)) head.push(`add map ${t} ${name} { ${m.decl} }`);
    const old = prev.maps.get(name)?.elements ?? new Map<string, string>();
    for (const [k, v] of old) {
      if (m.elements.get(k) !== v) body.unshift(`delete element ${t} ${name} { ${k} }`);
    }
    for (const [k, v] of m.elements) {
      if (old.get(k) !== v) body.push(`add element ${t} ${name} { ${k} : ${v} }`);
    }
  }
  // A service's own maps (endpoint dispatch) go with it, like its chains; they are deleted a sync later.
  for (const name of prev.maps.keys()) if (!next.maps.has(name)) staleMaps.push(name);
  const lines = [...head, ...body];
  return { text: lines.length ? lines.join('\n') + '\n' : '', staleChains, staleSets, staleMaps };
}

/**
 * Deletes chains, sets and maps made stale by an earlier sync (nothing refers to them any more); maps first,
 * since their elements may still point at the stale chains.
 */
export function deleteStaleText(
  family: Family,
  chains: string[],
  sets: string[],
  maps: string[] = [],
): string {
  const t = tableRef(family);
  const lines = [
    ...maps.map((m) => `delete map ${t} ${m}`),
    ...sets.map((s) => `delete set ${t} ${s}`),
    ...chains.map((c) => `delete chain ${t} ${c}`),
  ];
  return lines.length ? lines.join('\n') + '\n' : '';
}
