/**
 * The overlay backend interface, flannel's two steps: `registerNetwork` makes (or takes over) this node's
 * devices and returns the network, which knows its lease (what the node publishes on its Node) and its MTU;
 * the component (./component.ts) then runs the network until stopped, handing it the full set of remote leases
 * after every change of the Nodes. `sync` converges the kernel to exactly that set — adding what is missing,
 * removing what no lease names, leaving the rest untouched — so a restart or a repeated event never flaps an
 * entry that is already right.
 */
import type { Netns } from '../linux/exec.js';
import type { BackendType, Lease } from './lease.js';

export interface Underlay {
  /** The device the node's underlay address is on (eth0 of a `twill up` node). */
  dev: string;
  /** That address: the VXLAN/WireGuard endpoint, the host-gw next hop other nodes use. */
  ip: string;
  /** Its prefix length (host-gw's one-L2-segment check). */
  prefixlen: number;
  mtu: number;
}

export interface BackendContext {
  nodeName: string;
  /** IPv4 podCIDRs of this node. */
  podCIDRs: string[];
  underlay: Underlay;
  netns?: Netns;
  /** `<agent data dir>/overlay`: keys and state that stay on the node. */
  dataDir: string;
}

export interface SyncResult {
  added: number;
  removed: number;
  /** Remote nodes this backend cannot serve (host-gw: not on this L2 segment), with why. */
  refused: Array<{ node: string; reason: string }>;
}

export interface OverlayNetwork {
  readonly lease: Lease;
  readonly mtu: number;
  /** Converges the kernel to these remote leases (this node's own is never among them). Idempotent. */
  sync(remotes: Lease[]): Promise<SyncResult>;
  /** Stops what runs; with teardown also removes the devices, routes and entries. */
  close(teardown: boolean): Promise<void>;
}

export interface OverlayBackend {
  readonly type: BackendType;
  /**
   * Makes (or adopts, after a restart) this node's devices; `peers` are the leases known at start, for
   * checks a backend makes before it agrees to run (host-gw's L2 check).
   */
  registerNetwork(ctx: BackendContext, peers: Lease[]): Promise<OverlayNetwork>;
}

/** The network address of an IPv4 CIDR ("10.241.3.0/24" → "10.241.3.0"). */
export function networkAddress(cidr: string): string {
  const [ip, len] = cidr.split('/');
  const n = ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const mask = Number(len) === 0 ? 0 : (0xffffffff << (32 - Number(len))) >>> 0;
  const net = (n & mask) >>> 0;
  return [24, 16, 8, 0].map((s) => (net >>> s) & 255).join('.');
}

/** True when ip lies in cidr (IPv4). */
export function ipInCIDR(ip: string, cidr: string): boolean {
  const len = cidr.split('/')[1];
  return networkAddress(`${ip}/${len}`) === networkAddress(cidr);
}
