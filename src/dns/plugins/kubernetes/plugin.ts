/**
 * The kubernetes plugin: its Corefile options, and serve() over a ClusterIndex with answers memoised per
 * (name, type) for one index generation, so that a repeated question returns the same Message and the server
 * sends bytes it already encoded.
 */
import { Rcode } from '../../codec/constants.js';
import type { Message } from '../../codec/message.js';
import { argErr, parseServerKey, parseUint, type Directive } from '../../corefile/parse.js';
import {
  answerWith,
  inZone,
  matchZone,
  type Plugin,
  type Request,
  type SetupContext,
  type Next,
} from '../../plugin.js';
import type { ApiClient } from '../../../client/rest.js';
import { ClusterIndex, defaultKubernetesOptions, type KubernetesOptions, type PodMode } from './index.js';
import { ClusterSource } from './source.js';

export interface KubernetesConfig extends KubernetesOptions {
  /** Zones where NXDOMAIN passes to the next plugin; [] means none, ['.'] every zone. */
  fallthrough: string[] | undefined;
}

/** Parses `kubernetes [ZONES...] { ... }` as CoreDNS does. */
export function parseKubernetes(d: Directive, blockZones: string[]): KubernetesConfig {
  const zones = d.args.length ? d.args.map((a) => parseServerKey(a, d.line).zone) : blockZones;
  const c: KubernetesConfig = { ...defaultKubernetesOptions, zones, fallthrough: undefined, namespaces: [] };
  for (const o of d.block) {
    switch (o.name) {
      case 'pods':
        if (o.args.length !== 1 || !['disabled', 'insecure', 'verified'].includes(o.args[0])) {
          throw argErr(o, `pods: expected disabled, insecure or verified`);
        }
        c.pods = o.args[0] as PodMode;
        break;
      case 'ttl':
        if (o.args.length !== 1) throw argErr(o);
        c.ttl = parseUint(o, o.args[0]);
        if (c.ttl > 3600) throw argErr(o, `ttl must be in range [0, 3600]: ${c.ttl}`);
        break;
      case 'fallthrough':
        c.fallthrough = o.args.length ? o.args.map((a) => parseServerKey(a, o.line).zone) : ['.'];
        break;
      case 'endpoint_pod_names':
        if (o.args.length) throw argErr(o);
        c.endpointPodNames = true;
        break;
      case 'namespaces':
        if (!o.args.length) throw argErr(o);
        c.namespaces = o.args;
        break;
      case 'ignore':
        if (o.args.length !== 1 || o.args[0] !== 'empty_service')
          throw argErr(o, `unable to parse ignore value: '${o.args.join(' ')}'`);
        c.ignoreEmptyService = true;
        break;
      case 'noendpoints':
        if (o.args.length) throw argErr(o);
        c.noEndpoints = true;
        break;
      // Accepted for compatibility: twill's DNS reaches the API through its own client.
      case 'kubeconfig':
      case 'endpoint':
      case 'tls':
      case 'labels':
      case 'namespace_labels':
      case 'multicluster':
      case 'startup_timeout':
        break;
      default:
        throw argErr(o, `unknown property '${o.name}'`);
    }
  }
  return c;
}

const MEMO_LIMIT = 200_000;

interface Memo {
  byType: Map<number, Map<string, Message>>;
  size: number;
  gen: number;
}

/** Whether qname (in zone) is under `pod.<zone>`, without building strings. */
function isPodName(qname: string, zone: string): boolean {
  const at = qname.length - (zone === '.' ? 0 : zone.length) - 4;
  return at >= 0 && qname.startsWith('pod.', at) && (at === 0 || qname.charCodeAt(at - 1) === 46);
}

export class KubernetesPlugin implements Plugin {
  readonly name = 'kubernetes';
  readonly index: ClusterIndex;
  /** qtype → lower-case name → answer, valid for one index generation (class IN only). */
  private readonly memo: Memo = { byType: new Map(), size: 0, gen: -1 };
  /** The same for `<ip>.<ns>.pod.<zone>` names, which also change with Pods. */
  private readonly podMemo: Memo = { byType: new Map(), size: 0, gen: -1 };

  constructor(
    readonly config: KubernetesConfig,
    private readonly source?: ClusterSource,
    /** Pods are watched for `pods verified` and for autopath (the client's namespace). */
    private readonly needPods = config.pods === 'verified',
  ) {
    this.index = new ClusterIndex(config);
  }

  async start(): Promise<void> {
    if (!this.source) return;
    this.source.add(this.index, this.needPods);
    this.source.start();
    // As CoreDNS, wait for the first sync (at most 5 s) so that the first answers are not false NXDOMAINs.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.source.waitForSync(), new Promise<void>((r) => (timer = setTimeout(r, 5000)))]);
    clearTimeout(timer);
  }

  async stop(): Promise<void> {
    this.source?.remove(this.index);
  }

  ready(): boolean {
    return !this.source || this.source.hasSynced();
  }

  serve(req: Request, next: Next): Message | Promise<Message> {
    // Only class IN lives here; other classes go on, as in CoreDNS.
    if (req.qclass !== 1) return next(req);
    const zone = matchZone(req.qname, this.config.zones);
    if (zone === undefined) return next(req);
    const memo = isPodName(req.qname, zone) ? this.podMemo : this.memo;
    const gen =
      memo === this.podMemo
        ? this.index.podGeneration + this.index.generation * 2 ** 26
        : this.index.generation;
    if (memo.gen !== gen) {
      memo.byType.clear();
      memo.size = 0;
      memo.gen = gen;
    }
    let byName = memo.byType.get(req.qtype);
    let m = byName?.get(req.qname);
    if (!m) {
      const a = this.index.lookup(req.qname, req.qtype);
      if (!a) return next(req);
      if (a.rcode === Rcode.NXDOMAIN && this.fallsThrough(req.qname)) return next(req);
      m = answerWith(req, a.rcode, a.answers, a.authority, a.additional);
      if (memo.size >= MEMO_LIMIT) {
        memo.byType.clear();
        memo.size = 0;
      }
      if (!byName) memo.byType.set(req.qtype, (byName = new Map()));
      byName.set(req.qname, m);
      memo.size++;
    } else if (m.rcode === Rcode.NXDOMAIN && this.fallsThrough(req.qname)) {
      return next(req);
    }
    return m;
  }

  private fallsThrough(qname: string): boolean {
    return !!this.config.fallthrough?.some((z) => inZone(qname, z));
  }

  /** The search path of the pod at `ip` (autopath @kubernetes): [ns.svc.zone, svc.zone, zone]. */
  searchPath(ip: string): string[] | undefined {
    const ns = this.index.namespaceOfPodIP(ip);
    if (ns === undefined) return undefined;
    const zone = this.config.zones.find((z) => !z.endsWith('arpa.')) ?? 'cluster.local.';
    return [`${ns}.svc.${zone}`, `svc.${zone}`, zone];
  }
}

export function setupKubernetes(d: Directive, ctx: SetupContext): KubernetesPlugin {
  const config = parseKubernetes(d, ctx.zones);
  const client = ctx.shared.singleton<ApiClient | undefined>('api-client', () => undefined);
  const source = client
    ? ctx.shared.singleton('kubernetes-source', () => new ClusterSource(client))
    : undefined;
  const needPods = config.pods === 'verified' || ctx.block.some((x) => x.name === 'autopath');
  return new KubernetesPlugin(config, source, needPods);
}
