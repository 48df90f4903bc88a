/**
 * The Services dataplane as a node component (src/agent/components.ts): a Proxier in the node's network
 * namespace, converging `ip twill-services` (and `ip6 twill-services` on a dual-stack node) from the API.
 */
import type { NodeComponentFactory } from '../agent/components.js';
import { isIPv6, type Family } from './render.js';
import { Proxier, tableOf } from './proxier.js';
import { nftDeleteTable } from '../linux/nft.js';
import { sysctlWrite } from '../linux/sysctl.js';
import { addrList, routeAdd, routeDel, routeList, type Route } from '../linux/addr.js';
import { isLinuxError, LinuxErrorCodes } from '../linux/exec.js';
import { cidrContainsCIDR, parseCIDR } from '../ipam/cidr.js';
import { logger } from '../util/log.js';

const log = logger('services');

export interface ServicesFlags {
  /** `--cluster-cidr` (pod ranges); without it the node's own podCIDRs (kube-proxy's detect-local NodeCIDR). */
  clusterCidr?: string;
  /** `--service-cidr`: addresses in it that no service holds are dropped. */
  serviceCidr?: string;
}

function split(v: unknown): string[] {
  return typeof v === 'string'
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : [];
}

/**
 * Pods on one node sit on a Linux bridge. A pod reaching another pod of the same bridge through a ClusterIP
 * is DNATed on the way in (routed, through the bridge's own address), but the endpoint's answer goes straight
 * back across the bridge — bridged, not routed — so without br_netfilter it never meets conntrack, is not
 * un-DNATed, and the client drops it. `bridge-nf-call-iptables` (per network namespace) makes bridged IPv4
 * frames pass the ip family's hooks too, as every kube-proxy node needs.
 */
export async function enableBridgeNetfilter(families: Family[], netns?: string): Promise<void> {
  const keys = families.map((f) =>
    f === 'ip6' ? 'net.bridge.bridge-nf-call-ip6tables' : 'net.bridge.bridge-nf-call-iptables',
  );
  for (const key of keys) await sysctlWrite(key, '1', { netns });
}

/**
 * A ClusterIP must be routable on the node, although no packet to it should ever leave: the node's own
 * connections are routed before DNAT (output), and a packet that is not DNATed (a port the service lacks, a
 * service without endpoints) must reach the forward hook to be rejected, not die in routing with "network
 * unreachable". kube-proxy relies on the node's default route for this. A `twill up` node has no default
 * route (nothing leaves the machine), so when nothing covers a service range, it gets a route out the
 * interface holding the node's address. Returns the routes added (removed again on teardown).
 */
export async function ensureServiceRoutes(
  serviceCIDRs: string[],
  nodeIPs: string[],
  netns?: string,
): Promise<Route[]> {
  const added: Route[] = [];
  const addrs = await addrList({ netns });
  for (const cidr of serviceCIDRs) {
    const family = isIPv6(cidr) ? 6 : 4;
    const range = parseCIDR(cidr);
    const routes = await routeList({ netns, family });
    const covered = routes.some(
      (r) => r.dst === 'default' || (r.dst.includes('/') && cidrContainsCIDR(parseCIDR(r.dst), range)),
    );
    if (covered) continue;
    const dev = addrs.find((a) => nodeIPs.includes(a.address))?.dev;
    if (!dev) continue;
    const route: Route = { dst: cidr, dev };
    try {
      await routeAdd(route, { netns, family });
    } catch (err) {
      if (!isLinuxError(err, LinuxErrorCodes.Exists)) throw err;
    }
    added.push(route);
  }
  return added;
}

export function servicesComponent(flags: ServicesFlags = {}): NodeComponentFactory {
  return async (ctx) => {
    const families = [...new Set(ctx.podCIDRs.map((c) => (isIPv6(c) ? 'ip6' : 'ip') as Family))];
    if (families.length === 0) families.push('ip');
    const addresses = (ctx.node.status as { addresses?: { type: string; address: string }[] } | undefined)
      ?.addresses;
    const nodeIPs = [
      ...new Set([
        ...(ctx.nodeIP ? [ctx.nodeIP] : []),
        ...(addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => a.address),
      ]),
    ];
    const clusterCIDRs = split(flags.clusterCidr);
    await enableBridgeNetfilter(families, ctx.netns).catch((err: Error) =>
      // Without br_netfilter (a host that has not loaded it) everything but a pod reaching a pod of its own
      // bridge through a Service works; say so rather than refuse to start.
      log.warn({ err: err.message }, 'cannot enable bridge-nf-call-iptables (is br_netfilter loaded?)'),
    );
    const serviceCIDRs = split(flags.serviceCidr);
    const routes = await ensureServiceRoutes(serviceCIDRs, nodeIPs, ctx.netns);
    const proxier = new Proxier({
      client: ctx.client,
      nodeName: ctx.nodeName,
      nodeIPs,
      clusterCIDRs: clusterCIDRs.length > 0 ? clusterCIDRs : ctx.podCIDRs,
      serviceCIDRs,
      families,
      netns: ctx.netns,
    });
    await proxier.start();
    log.info({ node: ctx.nodeName, netns: ctx.netns, families, nodeIPs }, 'services dataplane running');
    return {
      name: 'services',
      proxier,
      async stop(opts) {
        await proxier.stop();
        if (opts?.teardown) {
          for (const f of families) await nftDeleteTable(tableOf(f), { netns: ctx.netns });
          for (const r of routes) await routeDel(r, { netns: ctx.netns });
        }
      },
    };
  };
}
