/**
 * LoadBalancer IPs from a configured pool (`--lb-pool CIDR[,CIDR6]`), what a cloud provider's service
 * controller (or MetalLB's controller) does: every Service of type LoadBalancer without a
 * spec.loadBalancerClass gets one address per IP family it has and the pool covers, written to
 * status.loadBalancer.ingress; a Service that stops being a LoadBalancer gets its status cleared and its
 * address back in the pool. The node dataplane (src/services/) answers for the address.
 *
 * The pool's state is the Services themselves: an address is taken when some LoadBalancer Service's status
 * holds it. The controller runs under leader election, so one process decides at a time; two Services holding
 * one address (a status written by hand) keep the older one and the newer is given another.
 *
 * spec.loadBalancerIP (deprecated in Kubernetes but still honoured by most implementations) asks for one
 * address; one outside the pool or taken leaves the Service pending, as a cloud would.
 */
import { ApiClient, Resources, isConflict, isNotFound } from '../../client/rest.js';
import { Informer } from '../../client/informer.js';
import { WorkQueue, runWorkers } from '../../client/workqueue.js';
import type { KubeObject } from '../../model/types.js';
import { logger } from '../../util/log.js';
import { ErrorCodes, TwillError } from '../../util/errors.js';
import { type CIDR, cidrContains, formatIP, parseCIDR, parseIP, cidrSize } from '../../ipam/cidr.js';

const log = logger('loadbalancer-controller');

interface LBService extends KubeObject {
  spec?: {
    type?: string;
    loadBalancerClass?: string;
    loadBalancerIP?: string;
    ipFamilies?: string[];
    clusterIPs?: string[];
  };
  status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string; ipMode?: string }[] } };
}

/** Parses `--lb-pool`: one CIDR per family at most. Throws BadConfig. */
export function parsePools(cidrs: string[]): CIDR[] {
  const pools = cidrs.map((c) => {
    try {
      return parseCIDR(c, { strict: true });
    } catch (err) {
      throw new TwillError(ErrorCodes.BadConfig, `--lb-pool: ${(err as Error).message}`);
    }
  });
  if (new Set(pools.map((p) => p.family)).size !== pools.length) {
    throw new TwillError(ErrorCodes.BadConfig, '--lb-pool: at most one range per IP family');
  }
  return pools;
}

/** Addresses of a pool a Service may get: all but an IPv4 range's network and broadcast addresses. Pure. */
export function poolAddresses(pool: CIDR): { first: bigint; last: bigint } {
  const size = cidrSize(pool);
  const skipEnds = pool.family === 'IPv4' && size > 2n;
  return { first: pool.network + (skipEnds ? 1n : 0n), last: pool.network + size - (skipEnds ? 2n : 1n) };
}

function inPools(pools: CIDR[], ip: string): CIDR | undefined {
  const a = parseIP(ip);
  return a ? pools.find((p) => cidrContains(p, a)) : undefined;
}

const isLB = (s: LBService) => s.spec?.type === 'LoadBalancer' && !s.spec?.loadBalancerClass;

/**
 * The ingress a Service should have (pure): for each of its families the pool serves, the address it already
 * holds (if in the pool and not held by an older Service), the one it asks for, or the lowest free one.
 * `taken` maps address → the key of the Service holding it. Undefined addresses mean the pool is full.
 */
export function desiredIngress(
  svc: LBService,
  pools: CIDR[],
  taken: Map<string, string>,
  key: string,
): { ips: string[]; pending: string[] } {
  if (!isLB(svc)) return { ips: [], pending: [] };
  const families = svc.spec?.ipFamilies ?? ['IPv4'];
  const current = (svc.status?.loadBalancer?.ingress ?? [])
    .map((i) => i.ip)
    .filter((ip): ip is string => !!ip);
  const ips: string[] = [];
  const pending: string[] = [];
  for (const fam of families) {
    const pool = pools.find((p) => p.family === fam);
    if (!pool) continue;
    const free = (ip: string) => !taken.has(ip) || taken.get(ip) === key;
    const have = current.find((ip) => inPools([pool], ip) && free(ip));
    const asked = svc.spec?.loadBalancerIP;
    if (asked && parseIP(asked)?.family === fam) {
      if (inPools([pool], asked) && free(asked)) ips.push(asked);
      else pending.push(`${asked} is ${inPools([pool], asked) ? 'already allocated' : 'not in the pool'}`);
      continue;
    }
    if (have) {
      ips.push(have);
      continue;
    }
    const { first, last } = poolAddresses(pool);
    let got: string | undefined;
    for (let v = first; v <= last; v++) {
      const ip = formatIP({ family: pool.family, value: v });
      if (free(ip)) {
        got = ip;
        break;
      }
    }
    if (got) ips.push(got);
    else
      pending.push(
        `no free ${fam} address in ${formatIP({ family: pool.family, value: pool.network })}/${pool.prefix}`,
      );
  }
  return { ips, pending };
}

export class LoadBalancerController {
  private readonly informer: Informer<LBService>;
  private readonly queue = new WorkQueue({ baseDelayMs: 200 });
  private workers?: Promise<void>;
  private readonly pools: CIDR[];

  constructor(private readonly opts: { client: ApiClient; pools: string[] }) {
    this.pools = parsePools(opts.pools);
    this.informer = new Informer<LBService>(opts.client, Resources.services);
    const enqueue = (o: KubeObject) => this.queue.add(`${o.metadata.namespace}/${o.metadata.name}`);
    this.informer.addEventHandler({
      onAdd: enqueue,
      onUpdate: (_a, b) => enqueue(b),
      // A deleted LoadBalancer frees its address: Services waiting for one get another look.
      onDelete: () => {
        for (const s of this.informer.list())
          if (isLB(s) && !s.status?.loadBalancer?.ingress?.length) enqueue(s);
      },
    });
  }

  async start(): Promise<void> {
    this.informer.start();
    await this.informer.waitForSync();
    this.workers = runWorkers(
      this.queue,
      1,
      (k) => this.sync(k),
      (key, err) => log.warn({ key, err: (err as Error).message }, 'sync failed'),
    );
  }

  async stop(): Promise<void> {
    this.queue.shutDown();
    await this.informer.stop();
    await this.workers;
  }

  /** Which Service holds each pool address, the oldest first when two claim one. */
  private taken(): Map<string, string> {
    const owners = [...this.informer.list()]
      .filter(isLB)
      .sort((a, b) =>
        String(a.metadata.creationTimestamp ?? '') < String(b.metadata.creationTimestamp ?? '') ? -1 : 1,
      );
    const taken = new Map<string, string>();
    for (const s of owners) {
      for (const i of s.status?.loadBalancer?.ingress ?? []) {
        if (i.ip && inPools(this.pools, i.ip) && !taken.has(i.ip))
          taken.set(i.ip, `${s.metadata.namespace}/${s.metadata.name}`);
      }
    }
    return taken;
  }

  private async sync(key: string): Promise<void> {
    const [ns, name] = key.split('/');
    const svc = this.informer.getByName(ns, name);
    if (!svc) return;
    const { ips, pending } = desiredIngress(svc, this.pools, this.taken(), key);
    const current = svc.status?.loadBalancer?.ingress ?? [];
    // Entries that are not ours (outside the pool, hostnames) are left alone while the Service is a
    // LoadBalancer; all of them go when it is not one any more (Kubernetes' service controller does so).
    const foreign = isLB(svc) ? current.filter((i) => !i.ip || !inPools(this.pools, i.ip)) : [];
    const ingress: { ip?: string; hostname?: string }[] = [...ips.map((ip) => ({ ip })), ...foreign];
    const same =
      JSON.stringify(current.map((i) => i.ip ?? i.hostname)) ===
      JSON.stringify(ingress.map((i) => i.ip ?? i.hostname));
    if (pending.length) log.warn({ service: key, why: pending }, 'LoadBalancer IP pending');
    if (same) return;
    try {
      await this.opts.client.updateStatus(Resources.services, ns, {
        ...svc,
        status: { ...(svc.status ?? {}), loadBalancer: ingress.length ? { ingress } : {} },
      });
      log.info({ service: key, ingress: ips }, 'LoadBalancer ingress set');
    } catch (err) {
      if (isNotFound(err)) return;
      // A conflict: the informer brings the newer object, and the retry works from it.
      if (isConflict(err)) log.debug({ service: key }, 'status conflict; retrying');
      throw err;
    }
  }
}
