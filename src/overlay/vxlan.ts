/**
 * The vxlan backend (flannel's model, VNI 1 on UDP 4789 by default).
 *
 * Every node has one VTEP, `twill.<VNI>` (`twill.1`; kernel link names are at most 15 bytes), a VXLAN device
 * without learning whose address is the network address of the node's podCIDR (10.241.3.0/32) and whose MTU
 * is the underlay's minus 50 (outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14). Its MAC is derived from
 * the underlay address, so a restarted agent recreates the same VTEP and no peer has to relearn it.
 *
 * For each remote node R (podCIDR 10.241.5.0/24, VTEP MAC M, underlay IP P) this node writes exactly three
 * kernel entries, all before any packet needs them, so the kernel never has to ask (no L2/L3 miss callouts,
 * no multicast, no learning):
 *   - route  10.241.5.0/24 via 10.241.5.0 dev twill.1 onlink — pods' packets for R go into the VTEP, with R's
 *     VTEP address as next hop (onlink: it lies in no subnet of the device, and need not);
 *   - neighbour 10.241.5.0 lladdr M (permanent) — the next hop resolves to R's VTEP MAC without ARP;
 *   - FDB entry M dst P (permanent) — a frame for M is encapsulated to R's underlay address.
 * One route per node rather than per pod, one ARP entry and one FDB entry per node: the cost grows with nodes,
 * not pods. Adds go FDB, neighbour, then route (a route is never usable before its entries); removes go in
 * reverse. `sync` reads the three tables of the device and changes only what differs from the leases, so a
 * restart or a repeated event never removes an entry that is right.
 */
import { ipBatch, isLinuxError, LinuxErrorCodes, run } from '../linux/exec.js';
import { linkDelete, linkShow, type Link } from '../linux/link.js';
import { logger } from '../util/log.js';
import { TwillError, ErrorCodes } from '../util/errors.js';
import {
  networkAddress,
  type BackendContext,
  type OverlayBackend,
  type OverlayNetwork,
  type SyncResult,
} from './backend.js';
import type { Lease } from './lease.js';

const log = logger('overlay');

export const VXLAN_DEFAULT_VNI = 1;
export const VXLAN_DEFAULT_PORT = 4789;
/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const VXLAN_OVERHEAD = 50;
/** Routes twill's backends write carry this protocol number, so that they are told from anyone else's. */
export const ROUTE_PROTO = '77';

export interface VxlanConfig {
  vni?: number;
  port?: number;
}

export function vtepName(vni: number): string {
  return `twill.${vni}`;
}

/** A locally administered unicast MAC from the underlay IPv4 address: 0a:74 + its four bytes. Pure. */
export function vtepMac(underlayIP: string): string {
  return ['0a', '74', ...underlayIP.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

/** What the device holds: permanent neighbours, FDB entries with a destination, routes (`ip -j` / `bridge -j`). */
export interface VtepState {
  neigh: Array<{ dst: string; lladdr: string }>;
  fdb: Array<{ mac: string; dst: string }>;
  routes: Array<{ dst: string; gateway?: string }>;
}

export interface RemoteVtep {
  node: string;
  podCIDR: string;
  /** The remote VTEP's address: its podCIDR's network address. */
  gateway: string;
  mac: string;
  publicIP: string;
}

/** The remote VTEPs the leases name (pure): vxlan leases with a VtepMAC, one entry per IPv4 podCIDR. */
export function remoteVteps(remotes: Lease[], vni: number): RemoteVtep[] {
  const out: RemoteVtep[] = [];
  for (const l of remotes) {
    if (l.backendType !== 'vxlan') continue;
    const d = (l.backendData ?? {}) as { VNI?: number; VtepMAC?: string };
    if (typeof d.VtepMAC !== 'string' || (d.VNI ?? VXLAN_DEFAULT_VNI) !== vni) continue;
    for (const cidr of l.podCIDRs) {
      out.push({
        node: l.nodeName,
        podCIDR: cidr,
        gateway: networkAddress(cidr),
        mac: d.VtepMAC.toLowerCase(),
        publicIP: l.publicIP,
      });
    }
  }
  return out;
}

export interface VxlanPlan {
  /** `ip -batch` lines (without "ip"): neighbours and routes. */
  ip: string[][];
  /** `bridge -batch` lines (without "bridge"): FDB entries. */
  fdbAdd: string[][];
  fdbDel: string[][];
  added: number;
  removed: number;
}

/**
 * The commands that take the device from `cur` to exactly `want` (pure). Entries already right are not
 * touched; a remote whose MAC or address changed is rewritten in place (`replace`).
 */
export function planVxlan(dev: string, cur: VtepState, want: RemoteVtep[]): VxlanPlan {
  const ip: string[][] = [];
  const fdbAdd: string[][] = [];
  const fdbDel: string[][] = [];
  let added = 0;
  let removed = 0;
  const wantNeigh = new Map(want.map((w) => [w.gateway, w.mac]));
  const wantFdb = new Map<string, string>();
  for (const w of want) wantFdb.set(w.mac, w.publicIP);
  const wantRoute = new Map(want.map((w) => [w.podCIDR, w.gateway]));

  // Removes first, routes before their entries.
  const delRoutes = cur.routes.filter((r) => r.gateway && !wantRoute.has(r.dst));
  for (const r of delRoutes) {
    ip.push(['route', 'del', r.dst, 'dev', dev]);
    removed++;
  }
  for (const n of cur.neigh.filter((x) => !wantNeigh.has(x.dst)))
    ip.push(['neigh', 'del', n.dst, 'dev', dev]);
  const curFdb = new Map<string, string[]>();
  for (const f of cur.fdb) curFdb.set(f.mac, [...(curFdb.get(f.mac) ?? []), f.dst]);
  for (const [mac, dsts] of curFdb) {
    const keep = wantFdb.get(mac);
    for (const dst of dsts) if (dst !== keep) fdbDel.push(['fdb', 'del', mac, 'dev', dev, 'dst', dst]);
  }

  // Adds: FDB, neighbour, route.
  for (const [mac, dst] of wantFdb) {
    if (curFdb.get(mac)?.includes(dst)) continue;
    fdbAdd.push(['fdb', 'append', mac, 'dev', dev, 'dst', dst, 'self', 'permanent']);
  }
  const neighAdds: string[][] = [];
  for (const w of want) {
    const have = cur.neigh.find((n) => n.dst === w.gateway);
    if (have && have.lladdr.toLowerCase() === w.mac) continue;
    neighAdds.push(['neigh', 'replace', w.gateway, 'lladdr', w.mac, 'dev', dev, 'nud', 'permanent']);
  }
  const routeAdds: string[][] = [];
  for (const w of want) {
    const have = cur.routes.find((r) => r.dst === w.podCIDR);
    if (have && have.gateway === w.gateway) continue;
    routeAdds.push([
      'route',
      'replace',
      w.podCIDR,
      'via',
      w.gateway,
      'dev',
      dev,
      'onlink',
      'proto',
      ROUTE_PROTO,
    ]);
    added++;
  }
  ip.push(...neighAdds, ...routeAdds);
  return { ip, fdbAdd, fdbDel, added, removed };
}

/** Reads the device's neighbours, FDB and routes. */
export async function readVtepState(dev: string, netns?: string): Promise<VtepState> {
  const [neigh, fdb, routes] = await Promise.all([
    run(['ip', '-j', '-4', 'neigh', 'show', 'dev', dev, 'nud', 'permanent'], { netns }),
    run(['bridge', '-j', 'fdb', 'show', 'dev', dev], { netns }),
    run(['ip', '-j', '-4', 'route', 'show', 'dev', dev], { netns }),
  ]);
  return {
    neigh: (JSON.parse(neigh || '[]') as Array<{ dst: string; lladdr?: string }>)
      .filter((n) => n.lladdr)
      .map((n) => ({ dst: n.dst, lladdr: n.lladdr! })),
    fdb: (JSON.parse(fdb || '[]') as Array<{ mac: string; dst?: string }>)
      .filter((f) => f.dst && f.mac !== '00:00:00:00:00:00')
      .map((f) => ({ mac: f.mac, dst: f.dst! })),
    routes: (JSON.parse(routes || '[]') as Array<{ dst: string; gateway?: string }>).map((r) => ({
      dst: r.dst,
      gateway: r.gateway,
    })),
  };
}

/** Applies a plan: removes (ip, then FDB), then adds (FDB, then ip: neighbours before routes). */
async function applyPlan(plan: VxlanPlan, netns?: string): Promise<void> {
  const dels = plan.ip.filter((c) => c[1] === 'del');
  const adds = plan.ip.filter((c) => c[1] !== 'del');
  if (dels.length) await ipBatch(dels, { netns, force: true }).catch(ignoreNotFound);
  for (const c of plan.fdbDel) await run(['bridge', ...c], { netns }).catch(ignoreNotFound);
  if (plan.fdbAdd.length) {
    await run(['bridge', '-batch', '-'], {
      netns,
      input: plan.fdbAdd.map((c) => c.join(' ')).join('\n') + '\n',
    });
  }
  if (adds.length) await ipBatch(adds, { netns });
}

function ignoreNotFound(err: unknown): void {
  if (!isLinuxError(err, LinuxErrorCodes.NotFound)) throw err;
}

/** The `ip link add` argv of the VTEP (pure). */
export function vtepAddArgs(o: {
  name: string;
  vni: number;
  port: number;
  mac: string;
  mtu: number;
  local: string;
  dev: string;
}): string[] {
  return [
    'ip',
    'link',
    'add',
    o.name,
    'address',
    o.mac,
    'mtu',
    String(o.mtu),
    'type',
    'vxlan',
    'id',
    String(o.vni),
    'local',
    o.local,
    'dev',
    o.dev,
    'dstport',
    String(o.port),
    'nolearning',
  ];
}

interface VxlanInfo {
  id?: number;
  local?: string;
  port?: number;
  learning?: boolean;
}

/** True when an existing link is the VTEP we would make (adopted after a restart, not recreated). */
function sameVtep(link: Link, info: VxlanInfo | undefined, want: Parameters<typeof vtepAddArgs>[0]): boolean {
  return (
    link.kind === 'vxlan' &&
    link.mac.toLowerCase() === want.mac &&
    link.mtu === want.mtu &&
    info?.id === want.vni &&
    info?.local === want.local &&
    info?.port === want.port &&
    info?.learning === false
  );
}

export function vxlanBackend(cfg: VxlanConfig = {}): OverlayBackend {
  const vni = cfg.vni ?? VXLAN_DEFAULT_VNI;
  const port = cfg.port ?? VXLAN_DEFAULT_PORT;
  return {
    type: 'vxlan',
    async registerNetwork(ctx: BackendContext): Promise<OverlayNetwork> {
      const { netns } = ctx;
      const name = vtepName(vni);
      const mtu = ctx.underlay.mtu - VXLAN_OVERHEAD;
      const want = {
        name,
        vni,
        port,
        mac: vtepMac(ctx.underlay.ip),
        mtu,
        local: ctx.underlay.ip,
        dev: ctx.underlay.dev,
      };
      if (ctx.podCIDRs.length === 0) {
        throw new TwillError(ErrorCodes.BadConfig, `vxlan: node ${ctx.nodeName} has no IPv4 podCIDR`);
      }
      const existing = await linkShow(name, { netns });
      let info: VxlanInfo | undefined;
      if (existing) {
        const raw = JSON.parse(
          await run(['ip', '-j', '-d', 'link', 'show', 'dev', name], { netns }),
        ) as Array<{
          linkinfo?: { info_data?: VxlanInfo };
        }>;
        info = raw[0]?.linkinfo?.info_data;
      }
      if (existing && !sameVtep(existing, info, want)) {
        log.info({ node: ctx.nodeName, dev: name }, 'VTEP differs from the configuration: recreating it');
        await linkDelete(name, { netns });
      }
      if (!existing || !sameVtep(existing, info, want)) await run(vtepAddArgs(want), { netns });
      // The VTEP's own address: the network address of the podCIDR (as flannel.1 holds), so that packets this
      // node sends to remote pods leave with a source the remote can route back.
      await ipBatch(
        [
          ['addr', 'replace', `${networkAddress(ctx.podCIDRs[0])}/32`, 'dev', name],
          ['link', 'set', 'dev', name, 'up'],
        ],
        { netns },
      );
      const lease: Lease = {
        nodeName: ctx.nodeName,
        podCIDRs: ctx.podCIDRs,
        publicIP: ctx.underlay.ip,
        backendType: 'vxlan',
        backendData: { VNI: vni, VtepMAC: want.mac },
      };
      return {
        lease,
        mtu,
        async sync(remotes: Lease[]): Promise<SyncResult> {
          const wantVteps = remoteVteps(remotes, vni);
          const plan = planVxlan(name, await readVtepState(name, netns), wantVteps);
          await applyPlan(plan, netns);
          return { added: plan.added, removed: plan.removed, refused: [] };
        },
        async close(teardown: boolean) {
          if (teardown) await linkDelete(name, { netns });
        },
      };
    },
  };
}
