/**
 * The host-gw backend (flannel's): no encapsulation, one route per remote node,
 * `<its podCIDR> via <its underlay IP> dev <underlay> proto 77`. It only works when every node is a direct
 * neighbour of every other on one L2 segment (the next hop must be on-link), so it refuses to start when a
 * known node's underlay address lies outside this node's underlay subnet, and refuses (logs, writes nothing
 * for) a node that joins from elsewhere. The MTU is the underlay's.
 */
import { ipBatch, isLinuxError, LinuxErrorCodes, run } from '../linux/exec.js';
import { ErrorCodes, TwillError } from '../util/errors.js';
import {
  ipInCIDR,
  networkAddress,
  type BackendContext,
  type OverlayBackend,
  type SyncResult,
} from './backend.js';
import type { Lease } from './lease.js';
import { ROUTE_PROTO } from './vxlan.js';

export interface HostGwRoute {
  dst: string;
  via: string;
}

/** The leases that are not on this node's segment, with why (pure). */
export function offSegment(underlay: { ip: string; prefixlen: number; dev: string }, peers: Lease[]) {
  const subnet = `${networkAddress(`${underlay.ip}/${underlay.prefixlen}`)}/${underlay.prefixlen}`;
  return peers
    .filter((l) => l.backendType === 'host-gw' && !ipInCIDR(l.publicIP, subnet))
    .map((l) => ({
      node: l.nodeName,
      reason: `host-gw: node ${l.nodeName} (${l.publicIP}) is not on this node's L2 segment ${subnet} (${underlay.dev}); host-gw needs every node on one segment: use --backend vxlan`,
    }));
}

/** Route commands from cur to want (pure): `ip -batch` lines, deletes first. */
export function planHostGw(
  dev: string,
  cur: HostGwRoute[],
  want: HostGwRoute[],
): { ip: string[][]; added: number; removed: number } {
  const ip: string[][] = [];
  const wantBy = new Map(want.map((w) => [w.dst, w.via]));
  let removed = 0;
  let added = 0;
  for (const c of cur) {
    if (!wantBy.has(c.dst)) {
      ip.push(['route', 'del', c.dst, 'proto', ROUTE_PROTO]);
      removed++;
    }
  }
  for (const w of want) {
    if (cur.some((c) => c.dst === w.dst && c.via === w.via)) continue;
    ip.push(['route', 'replace', w.dst, 'via', w.via, 'dev', dev, 'proto', ROUTE_PROTO]);
    added++;
  }
  return { ip, added, removed };
}

export function hostGwBackend(): OverlayBackend {
  return {
    type: 'host-gw',
    async registerNetwork(ctx: BackendContext, peers: Lease[]) {
      const { netns, underlay } = ctx;
      const bad = offSegment(underlay, peers);
      if (bad.length > 0) throw new TwillError(ErrorCodes.OverlayNotOneSegment, bad[0].reason);
      const lease: Lease = {
        nodeName: ctx.nodeName,
        podCIDRs: ctx.podCIDRs,
        publicIP: underlay.ip,
        backendType: 'host-gw',
        backendData: null,
      };
      const readRoutes = async (): Promise<HostGwRoute[]> =>
        (
          JSON.parse(
            (await run(['ip', '-j', '-4', 'route', 'show', 'proto', ROUTE_PROTO, 'dev', underlay.dev], {
              netns,
            })) || '[]',
          ) as Array<{ dst: string; gateway?: string }>
        ).map((r) => ({ dst: r.dst, via: r.gateway ?? '' }));
      return {
        lease,
        mtu: underlay.mtu,
        async sync(remotes: Lease[]): Promise<SyncResult> {
          const refused = offSegment(underlay, remotes);
          const want: HostGwRoute[] = [];
          for (const l of remotes) {
            if (l.backendType !== 'host-gw' || refused.some((r) => r.node === l.nodeName)) continue;
            for (const dst of l.podCIDRs) want.push({ dst, via: l.publicIP });
          }
          const plan = planHostGw(underlay.dev, await readRoutes(), want);
          const dels = plan.ip.filter((c) => c[1] === 'del');
          const adds = plan.ip.filter((c) => c[1] !== 'del');
          if (dels.length)
            await ipBatch(dels, { netns, force: true }).catch((err) => {
              if (!isLinuxError(err, LinuxErrorCodes.NotFound)) throw err;
            });
          if (adds.length) await ipBatch(adds, { netns });
          return { added: plan.added, removed: plan.removed, refused };
        },
        async close(teardown: boolean) {
          if (!teardown) return;
          const dels = (await readRoutes()).map((r) => ['route', 'del', r.dst, 'proto', ROUTE_PROTO]);
          if (dels.length) await ipBatch(dels, { netns, force: true }).catch(() => undefined);
        },
      };
    },
  };
}
