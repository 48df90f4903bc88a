/**
 * The cluster zone of the Kubernetes DNS-Based Service Discovery specification 1.1.0, as a pure index:
 * Services, EndpointSlices, Pods and Namespaces in, DNS answers out, no I/O.
 *
 * Records are kept relative to the zone ("web.default.svc") so that one index serves every zone the plugin is
 * given (CoreDNS's `kubernetes cluster.local other.local`), and grouped by the Service that contributed them,
 * so a change to one Service or one of its EndpointSlices recomputes only that Service's records: with 10,000
 * Services and 100,000 endpoints a change costs one Service's worth of work, never a rebuild.
 *
 * What exists (the spec's section 2, and CoreDNS's choices where the spec leaves room):
 * - `<svc>.<ns>.svc`: A/AAAA of the ClusterIPs; for headless Services one per ready endpoint (all endpoints
 *   with `publishNotReadyAddresses`); a CNAME to `spec.externalName` for ExternalName Services.
 * - `<host>.<svc>.<ns>.svc`: the endpoint's A/AAAA, host being its `hostname`, else (with endpoint_pod_names)
 *   its Pod's name, else its address with '.' and ':' as '-' (CoreDNS's system-assigned identifier).
 * - `_<port>._<proto>.<svc>.<ns>.svc` and `<svc>.<ns>.svc` SRV: priority 0, weight 100/n, the port, and the
 *   Service's name (ClusterIP) or each endpoint's hostname name (headless) as target.
 * - PTR for every ClusterIP (→ the Service's name) and endpoint address (→ its hostname name).
 * - `<a-b-c-d>.<ns>.pod`: with pods insecure any well-formed address answers; verified, only the addresses of
 *   Pods in that namespace; disabled, none.
 * - `dns-version` TXT "1.1.0"; SOA and NS at the apex, `ns.dns` with the kube-dns Service's ClusterIPs.
 * A name that exists without the asked type is NODATA; one that does not (and has nothing below it) NXDOMAIN;
 * both carry the SOA in the authority section (RFC 2308).
 */
import type { EndpointSlice, Pod, Service } from '../../../controllers/endpointslice/types.js';
import type { KubeObject } from '../../../model/types.js';
import { Class, Rcode, Type } from '../../codec/constants.js';
import { addressOfReverseName, reverseName } from '../../codec/ip.js';
import type { RR, SoaData } from '../../codec/message.js';
import net from 'node:net';

export const DNS_SCHEMA_VERSION = '1.1.0';

export type PodMode = 'disabled' | 'insecure' | 'verified';

export interface KubernetesOptions {
  /** Lower-case FQDNs, e.g. ["cluster.local.", "in-addr.arpa.", "ip6.arpa."]. */
  zones: string[];
  pods: PodMode;
  ttl: number;
  endpointPodNames: boolean;
  /** Only these namespaces are exposed; empty: all. */
  namespaces: string[];
  ignoreEmptyService: boolean;
  noEndpoints: boolean;
}

export const defaultKubernetesOptions: KubernetesOptions = {
  zones: ['cluster.local.', 'in-addr.arpa.', 'ip6.arpa.'],
  pods: 'disabled',
  ttl: 5,
  endpointPodNames: false,
  namespaces: [],
  ignoreEmptyService: false,
  noEndpoints: false,
};

/** An answer from the index; names are absolute and lower case. */
export interface Answer {
  rcode: number;
  /** Authoritative data (false only for nothing we serve). */
  answers: RR[];
  authority: RR[];
  additional: RR[];
}

interface SrvRel {
  port: number;
  /** Relative to the zone. */
  target: string;
}

/** The records one Service puts at one relative name. */
interface NameRecords {
  a: string[];
  aaaa: string[];
  srv: SrvRel[];
  cname?: string;
}

interface Contribution {
  names: Map<string, NameRecords>;
  /** Absolute reverse name → relative target. */
  ptrs: Map<string, string>;
}

function svcKey(o: KubeObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;
}

// Most names hold one kind of record: the others share one frozen empty array until something is added.
const NONE = Object.freeze([]) as unknown as never[];

function newRecords(): NameRecords {
  return { a: NONE, aaaa: NONE, srv: NONE };
}

function addAddr(r: NameRecords, ip: string): void {
  if (net.isIPv6(ip)) (r.aaaa === NONE ? (r.aaaa = []) : r.aaaa).push(ip);
  else (r.a === NONE ? (r.a = []) : r.a).push(ip);
}

/**
 * What owners (Services, by key) put at one name: almost always one, kept without a Map (a Map per name is
 * most of the memory of 100,000 endpoints); a Map only when several Services share the name (reverse names).
 */
type Owned<T> = { owner: string; v: T } | Map<string, T>;

function ownedSet<T>(m: Map<string, Owned<T>>, name: string, owner: string, v: T): void {
  const cur = m.get(name);
  if (!cur) m.set(name, { owner, v });
  else if (cur instanceof Map) cur.set(owner, v);
  else if (cur.owner === owner) cur.v = v;
  else
    m.set(
      name,
      new Map([
        [cur.owner, cur.v],
        [owner, v],
      ]),
    );
}

function ownedDelete<T>(m: Map<string, Owned<T>>, name: string, owner: string): void {
  const cur = m.get(name);
  if (!cur) return;
  if (!(cur instanceof Map)) {
    if (cur.owner === owner) m.delete(name);
    return;
  }
  cur.delete(owner);
  if (cur.size === 0) m.delete(name);
  else if (cur.size === 1) {
    const [[o, v]] = cur;
    m.set(name, { owner: o, v });
  }
}

function ownedValues<T>(cur: Owned<T>): T[] {
  return cur instanceof Map ? [...cur.values()] : [cur.v];
}

/** CoreDNS's system-assigned endpoint hostname: the address with '.' and ':' as '-'. */
export function dashedAddress(ip: string): string {
  return ip.replace(/[.:]/g, '-');
}

function isReady(ep: NonNullable<EndpointSlice['endpoints']>[number]): boolean {
  // EndpointSlice semantics: a nil ready condition means ready.
  return ep.conditions?.ready !== false;
}

export class ClusterIndex {
  private readonly services = new Map<string, Service>();
  private readonly slices = new Map<string, Map<string, EndpointSlice>>();
  /** What each Service put where, to take it away again: the names only. */
  private readonly contributions = new Map<string, { names: string[]; ptrs: string[] }>();
  /** relative name → owner service key → records. */
  private readonly names = new Map<string, Owned<NameRecords>>();
  /** Relative names with something at or below them (empty non-terminals), counted. */
  private readonly ents = new Map<string, number>();
  private readonly ptrs = new Map<string, Owned<string>>();
  private readonly namespaces = new Set<string>();
  /** namespace → address → number of pods holding it. */
  private readonly podIPs = new Map<string, Map<string, number>>();
  private readonly pods = new Map<string, { ns: string; ips: string[] }>();
  private readonly exposed: Set<string> | undefined;
  /** Bumped on every change; memoised answers are valid for one generation. */
  generation = 0;
  podGeneration = 0;
  serial = Math.floor(Date.now() / 1000);
  /** Extra addresses for `ns.dns.<zone>` when there is no kube-system/kube-dns Service. */
  nsAddresses: string[] = [];

  constructor(readonly opts: KubernetesOptions) {
    this.exposed = opts.namespaces.length ? new Set(opts.namespaces.map((n) => n.toLowerCase())) : undefined;
  }

  private changed(): void {
    this.generation++;
    const now = Math.floor(Date.now() / 1000);
    this.serial = now > this.serial ? now : this.serial + 1;
  }

  // ---------- feeding ----------

  setService(svc: Service): void {
    const key = svcKey(svc);
    this.services.set(key, svc);
    this.rebuild(key);
  }

  deleteService(svc: KubeObject): void {
    const key = svcKey(svc);
    this.services.delete(key);
    this.rebuild(key);
  }

  setEndpointSlice(slice: EndpointSlice): void {
    const owner = slice.metadata.labels?.['kubernetes.io/service-name'];
    if (!owner) return;
    const key = `${slice.metadata.namespace ?? ''}/${owner}`;
    let m = this.slices.get(key);
    if (!m) this.slices.set(key, (m = new Map()));
    m.set(slice.metadata.name ?? '', slice);
    this.rebuild(key);
  }

  deleteEndpointSlice(slice: EndpointSlice): void {
    const owner = slice.metadata.labels?.['kubernetes.io/service-name'];
    if (!owner) return;
    const key = `${slice.metadata.namespace ?? ''}/${owner}`;
    const m = this.slices.get(key);
    if (!m) return;
    m.delete(slice.metadata.name ?? '');
    if (m.size === 0) this.slices.delete(key);
    this.rebuild(key);
  }

  setNamespace(name: string): void {
    if (this.namespaces.has(name)) return;
    this.namespaces.add(name);
    this.changed();
  }

  deleteNamespace(name: string): void {
    if (this.namespaces.delete(name)) this.changed();
  }

  setPod(pod: Pod): void {
    const key = svcKey(pod);
    const ips = new Set<string>();
    if (pod.status?.podIP) ips.add(pod.status.podIP);
    for (const p of pod.status?.podIPs ?? []) if (p.ip) ips.add(p.ip);
    const old = this.pods.get(key);
    const next = [...ips].map(normalizeIP).filter((x): x is string => !!x);
    if (old && old.ips.join() === next.join()) return;
    this.removePod(key);
    const ns = pod.metadata.namespace ?? '';
    this.pods.set(key, { ns, ips: next });
    let m = this.podIPs.get(ns);
    if (!m) this.podIPs.set(ns, (m = new Map()));
    for (const ip of next) m.set(ip, (m.get(ip) ?? 0) + 1);
    this.podChanged();
  }

  deletePod(pod: KubeObject): void {
    if (this.removePod(svcKey(pod))) this.podChanged();
  }

  /**
   * Pods only matter to `<ip>.<ns>.pod.<zone>` names (and autopath, which asks the index directly), so their
   * churn has its own generation and leaves memoised Service answers alone.
   */
  private podChanged(): void {
    this.podGeneration++;
  }

  private removePod(key: string): boolean {
    const old = this.pods.get(key);
    if (!old) return false;
    this.pods.delete(key);
    const m = this.podIPs.get(old.ns);
    for (const ip of old.ips) {
      const n = (m?.get(ip) ?? 1) - 1;
      if (n <= 0) m?.delete(ip);
      else m?.set(ip, n);
    }
    if (m && m.size === 0) this.podIPs.delete(old.ns);
    return true;
  }

  private rebuild(key: string): void {
    const old = this.contributions.get(key);
    if (old) {
      for (const name of old.names) {
        ownedDelete(this.names, name, key);
        this.entDelta(name, -1);
      }
      for (const rev of old.ptrs) ownedDelete(this.ptrs, rev, key);
      this.contributions.delete(key);
    }
    const svc = this.services.get(key);
    if (svc) {
      const c = this.contribute(svc, [...(this.slices.get(key)?.values() ?? [])]);
      this.contributions.set(key, { names: [...c.names.keys()], ptrs: [...c.ptrs.keys()] });
      for (const [name, recs] of c.names) {
        ownedSet(this.names, name, key, recs);
        this.entDelta(name, 1);
      }
      for (const [rev, target] of c.ptrs) ownedSet(this.ptrs, rev, key, target);
    }
    this.changed();
  }

  /** Counts a name and each of its ancestors below the zone, so empty non-terminals exist. */
  private entDelta(name: string, d: number): void {
    let n = name;
    while (n) {
      const v = (this.ents.get(n) ?? 0) + d;
      if (v <= 0) this.ents.delete(n);
      else this.ents.set(n, v);
      const dot = n.indexOf('.');
      if (dot < 0) break;
      n = n.slice(dot + 1);
    }
  }

  /** The records one Service makes, from the Service and its EndpointSlices. */
  private contribute(svc: Service, slices: EndpointSlice[]): Contribution {
    const names = new Map<string, NameRecords>();
    const ptrs = new Map<string, string>();
    const at = (n: string): NameRecords => {
      let r = names.get(n);
      if (!r) names.set(n, (r = newRecords()));
      return r;
    };
    const ns = (svc.metadata.namespace ?? '').toLowerCase();
    const base = `${(svc.metadata.name ?? '').toLowerCase()}.${ns}.svc`;
    const spec = svc.spec ?? {};
    const type = spec.type ?? 'ClusterIP';
    if (type === 'ExternalName') {
      const ext = (spec as { externalName?: string }).externalName;
      if (ext) at(base).cname = `${ext.toLowerCase().replace(/\.$/, '')}.`;
      return { names, ptrs };
    }
    const clusterIPs = (
      spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : []
    ).filter((ip) => ip && ip !== 'None');
    const headless = clusterIPs.length === 0;
    const publishNotReady = spec.publishNotReadyAddresses === true;

    // Endpoints (deduplicated across slices by address; a ready copy wins).
    interface Ep {
      ip: string;
      host: string;
      ready: boolean;
      ports: { name: string; proto: string; port: number }[];
    }
    const eps = new Map<string, Ep>();
    if (!this.opts.noEndpoints) {
      for (const sl of slices) {
        if (sl.addressType !== 'IPv4' && sl.addressType !== 'IPv6') continue;
        const ports = (sl.ports ?? [])
          .filter((p) => p.port !== undefined)
          .map((p) => ({
            name: (p.name ?? '').toLowerCase(),
            proto: (p.protocol ?? 'TCP').toLowerCase(),
            port: p.port!,
          }));
        for (const ep of sl.endpoints ?? []) {
          const ready = isReady(ep);
          for (const raw of ep.addresses ?? []) {
            const ip = normalizeIP(raw);
            if (!ip) continue;
            const prev = eps.get(ip);
            if (prev && prev.ready) continue;
            let host = ep.hostname?.toLowerCase();
            if (!host && this.opts.endpointPodNames && ep.targetRef?.kind === 'Pod' && ep.targetRef.name) {
              host = ep.targetRef.name.toLowerCase();
            }
            eps.set(ip, { ip, host: host || dashedAddress(ip), ready, ports });
          }
        }
      }
    }
    const usable = [...eps.values()].filter((e) => e.ready || publishNotReady);
    // ignore empty_service: a Service without a ready endpoint is NXDOMAIN, whatever its kind.
    if (this.opts.ignoreEmptyService && !usable.some((e) => e.ready)) return { names, ptrs };

    const srvAt = (name: string, rec: SrvRel) => {
      const r = at(name);
      (r.srv === NONE ? (r.srv = []) : r.srv).push(rec);
    };
    if (!headless) {
      const r = at(base);
      for (const ip of clusterIPs) {
        const n = normalizeIP(ip);
        if (!n) continue;
        addAddr(r, n);
        const rev = reverseName(n);
        if (rev) ptrs.set(rev, base);
      }
      for (const p of spec.ports ?? []) {
        const proto = (p.protocol ?? 'TCP').toLowerCase();
        srvAt(base, { port: p.port, target: base });
        if (p.name) srvAt(`_${p.name.toLowerCase()}._${proto}.${base}`, { port: p.port, target: base });
      }
    } else {
      const r = at(base);
      for (const e of usable) {
        addAddr(r, e.ip);
        const target = `${e.host}.${base}`;
        for (const p of e.ports) {
          srvAt(base, { port: p.port, target });
          if (p.name) srvAt(`_${p.name}._${p.proto}.${base}`, { port: p.port, target });
        }
      }
    }
    // Endpoint names and reverse records exist for every usable endpoint (CoreDNS: ClusterIP Services too).
    for (const e of usable) {
      const name = `${e.host}.${base}`;
      const r = at(name);
      addAddr(r, e.ip);
      const rev = reverseName(e.ip);
      if (rev && !ptrs.has(rev)) ptrs.set(rev, name);
    }
    return { names, ptrs };
  }

  // ---------- answering ----------

  /** The zone of ours that holds qname (lower-case FQDN), the longest one. */
  zoneOf(qname: string): string | undefined {
    let best: string | undefined;
    for (const z of this.opts.zones) {
      if ((qname === z || qname.endsWith(`.${z}`) || z === '.') && (!best || z.length > best.length))
        best = z;
    }
    return best;
  }

  soa(zone: string): RR {
    const data: SoaData = {
      mname: `ns.dns.${zone === '.' ? '' : zone}`,
      rname: `hostmaster.${zone === '.' ? '' : zone}`,
      serial: this.serial >>> 0,
      refresh: 7200,
      retry: 1800,
      expire: 86400,
      minimum: this.opts.ttl,
    };
    return { name: zone, type: Type.SOA, class: Class.IN, ttl: this.opts.ttl, data };
  }

  private negative(zone: string, rcode: number): Answer {
    return { rcode, answers: [], authority: [this.soa(zone)], additional: [] };
  }

  private rr(name: string, type: number, data: RR['data']): RR {
    return { name, type, class: Class.IN, ttl: this.opts.ttl, data };
  }

  private nsAddrs(): string[] {
    const dnsSvc = this.services.get('kube-system/kube-dns');
    const ips = (dnsSvc?.spec?.clusterIPs ?? (dnsSvc?.spec?.clusterIP ? [dnsSvc.spec.clusterIP] : [])).filter(
      (ip) => net.isIP(ip),
    );
    return ips.length ? ips : this.nsAddresses;
  }

  private addrRRs(name: string, ips: string[], qtype: number): RR[] {
    return ips
      .filter((ip) => (qtype === Type.AAAA ? net.isIPv6(ip) : net.isIPv4(ip)))
      .map((ip) => this.rr(name, qtype, ip));
  }

  /** Whether a namespace is served (the `namespaces` option). */
  exposedNamespace(ns: string): boolean {
    return !this.exposed || this.exposed.has(ns);
  }

  /**
   * Answers a question (qname lower-case FQDN). undefined: not in any of our zones. The caller puts the
   * question's own spelling on the answer owners (they are qname here).
   */
  lookup(qname: string, qtype: number): Answer | undefined {
    const zone = this.zoneOf(qname);
    if (!zone) return undefined;
    if (zone.endsWith('arpa.') && qname.endsWith('.arpa.')) return this.lookupReverse(qname, zone, qtype);
    const rel =
      qname === zone
        ? ''
        : qname.slice(0, qname.length - zone.length - (zone === '.' ? 0 : 1)).replace(/\.$/, '');
    const abs = (r: string) => (zone === '.' ? `${r}.` : `${r}.${zone}`);

    if (rel === '') {
      if (qtype === Type.SOA) return { rcode: 0, answers: [this.soa(zone)], authority: [], additional: [] };
      if (qtype === Type.NS) {
        const ns = `ns.dns.${zone === '.' ? '' : zone}`;
        return {
          rcode: 0,
          answers: [this.rr(zone, Type.NS, ns)],
          authority: [],
          additional: [
            ...this.addrRRs(ns, this.nsAddrs(), Type.A),
            ...this.addrRRs(ns, this.nsAddrs(), Type.AAAA),
          ],
        };
      }
      return this.negative(zone, Rcode.NOERROR);
    }
    if (rel === 'dns-version') {
      if (qtype !== Type.TXT) return this.negative(zone, Rcode.NOERROR);
      return {
        rcode: 0,
        answers: [this.rr(qname, Type.TXT, [DNS_SCHEMA_VERSION])],
        authority: [],
        additional: [],
      };
    }
    if (rel === 'ns.dns' || rel === 'dns') {
      if (rel === 'dns') return this.negative(zone, Rcode.NOERROR);
      const rrs = qtype === Type.A || qtype === Type.AAAA ? this.addrRRs(qname, this.nsAddrs(), qtype) : [];
      return rrs.length ? { rcode: 0, answers: rrs, authority: [], additional: [] } : this.negative(zone, 0);
    }
    const labels = rel.split('.');
    const kind = labels[labels.length - 1];
    if (kind === 'pod') return this.lookupPod(labels, qname, zone, qtype);
    if (kind !== 'svc') return this.negative(zone, Rcode.NXDOMAIN);
    if (labels.length === 1) return this.negative(zone, Rcode.NOERROR);
    const ns = labels[labels.length - 2];
    if (!this.exposedNamespace(ns)) return this.negative(zone, Rcode.NXDOMAIN);
    const owners = this.names.get(rel);
    if (!owners) {
      const exists = this.ents.has(rel) || (labels.length === 2 && this.namespaces.has(ns));
      return this.negative(zone, exists ? Rcode.NOERROR : Rcode.NXDOMAIN);
    }
    const recs = mergeRecords(owners);
    if (recs.cname && qtype !== Type.CNAME) {
      const answers = [this.rr(qname, Type.CNAME, recs.cname)];
      // A target inside the zone is resolved here too, as CoreDNS does; outside it is the client's job.
      const inner = this.zoneOf(recs.cname) === zone ? this.lookup(recs.cname, qtype) : undefined;
      if (inner && inner.rcode === 0) answers.push(...inner.answers);
      return { rcode: 0, answers, authority: inner && inner.answers.length ? [] : [], additional: [] };
    }
    let answers: RR[] = [];
    const additional: RR[] = [];
    switch (qtype) {
      case Type.A:
        answers = recs.a.map((ip) => this.rr(qname, Type.A, ip));
        break;
      case Type.AAAA:
        answers = recs.aaaa.map((ip) => this.rr(qname, Type.AAAA, ip));
        break;
      case Type.CNAME:
        if (recs.cname) answers = [this.rr(qname, Type.CNAME, recs.cname)];
        break;
      case Type.ANY:
        answers = [
          ...recs.a.map((ip) => this.rr(qname, Type.A, ip)),
          ...recs.aaaa.map((ip) => this.rr(qname, Type.AAAA, ip)),
        ];
        break;
      case Type.SRV: {
        const weight = recs.srv.length ? Math.floor(100 / recs.srv.length) : 0;
        const seen = new Set<string>();
        for (const s of recs.srv) {
          const target = abs(s.target);
          answers.push(this.rr(qname, Type.SRV, { priority: 0, weight, port: s.port, target }));
          if (seen.has(target)) continue;
          seen.add(target);
          const t = this.names.get(s.target);
          if (t) {
            const m = mergeRecords(t);
            for (const ip of m.a) additional.push(this.rr(target, Type.A, ip));
            for (const ip of m.aaaa) additional.push(this.rr(target, Type.AAAA, ip));
          }
        }
        break;
      }
    }
    if (answers.length === 0) return this.negative(zone, Rcode.NOERROR);
    return { rcode: 0, answers, authority: [], additional };
  }

  private lookupPod(labels: string[], qname: string, zone: string, qtype: number): Answer {
    if (this.opts.pods === 'disabled') return this.negative(zone, Rcode.NXDOMAIN);
    if (labels.length === 1) return this.negative(zone, Rcode.NOERROR);
    const ns = labels[labels.length - 2];
    if (!this.exposedNamespace(ns)) return this.negative(zone, Rcode.NXDOMAIN);
    if (labels.length === 2) {
      const exists = this.namespaces.has(ns) || this.podIPs.has(ns) || this.opts.pods === 'insecure';
      return this.negative(zone, exists ? Rcode.NOERROR : Rcode.NXDOMAIN);
    }
    if (labels.length !== 3) return this.negative(zone, Rcode.NXDOMAIN);
    const ip = podLabelToIP(labels[0]);
    if (!ip) return this.negative(zone, Rcode.NXDOMAIN);
    if (this.opts.pods === 'verified' && !this.podIPs.get(ns)?.has(ip))
      return this.negative(zone, Rcode.NXDOMAIN);
    const want = net.isIPv6(ip) ? Type.AAAA : Type.A;
    if (qtype !== want && qtype !== Type.ANY) return this.negative(zone, Rcode.NOERROR);
    return { rcode: 0, answers: [this.rr(qname, want, ip)], authority: [], additional: [] };
  }

  private lookupReverse(qname: string, zone: string, qtype: number): Answer {
    const owners = this.ptrs.get(qname);
    const clusterZone = this.opts.zones.find((z) => !z.endsWith('arpa.')) ?? 'cluster.local.';
    if (!owners || !addressOfReverseName(qname)) {
      // Partial reverse names above an address we hold exist as empty non-terminals.
      for (const k of this.ptrs.keys())
        if (k.endsWith(`.${qname}`)) return this.negative(zone, Rcode.NOERROR);
      return this.negative(zone, Rcode.NXDOMAIN);
    }
    if (qtype !== Type.PTR && qtype !== Type.ANY) return this.negative(zone, Rcode.NOERROR);
    const targets = [...new Set(ownedValues(owners))];
    return {
      rcode: 0,
      answers: targets.map((t) => this.rr(qname, Type.PTR, `${t}.${clusterZone === '.' ? '' : clusterZone}`)),
      authority: [],
      additional: [],
    };
  }

  /** The namespace of the pod holding an address (autopath), undefined when none or ambiguous. */
  namespaceOfPodIP(ip: string): string | undefined {
    const n = normalizeIP(ip);
    if (!n) return undefined;
    let found: string | undefined;
    for (const [ns, ips] of this.podIPs) {
      if (!ips.has(n)) continue;
      if (found !== undefined) return undefined;
      found = ns;
    }
    return found;
  }

  /** Counts, for metrics and the benchmark. */
  stats(): { services: number; names: number; ptrs: number; pods: number } {
    return {
      services: this.services.size,
      names: this.names.size,
      ptrs: this.ptrs.size,
      pods: this.pods.size,
    };
  }
}

function mergeRecords(owners: Owned<NameRecords>): NameRecords {
  if (!(owners instanceof Map)) return owners.v;
  const out: NameRecords = { a: [], aaaa: [], srv: [] };
  for (const r of owners.values()) {
    out.a.push(...r.a);
    out.aaaa.push(...r.aaaa);
    out.srv.push(...r.srv);
    out.cname ??= r.cname;
  }
  return out;
}

/** Canonical text of an address (IPv6 per RFC 5952), undefined when it is not one. */
export function normalizeIP(ip: string): string | undefined {
  if (net.isIPv4(ip)) return ip;
  if (!net.isIPv6(ip)) return undefined;
  const rev = reverseName(ip);
  return rev ? addressOfReverseName(rev) : undefined;
}

/** "10-244-1-5" → 10.244.1.5; "fd00--1" → fd00::1 (CoreDNS: dashes become colons for IPv6). */
export function podLabelToIP(label: string): string | undefined {
  const v4 = label.split('-');
  if (v4.length === 4) {
    const ip = v4.join('.');
    if (net.isIPv4(ip)) return ip;
  }
  const v6 = label.replace(/-/g, ':');
  return normalizeIP(v6);
}
