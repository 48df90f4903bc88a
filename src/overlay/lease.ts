/**
 * A node's network lease as the other nodes see it: its podCIDRs and what its backend published on its Node
 * object. flannel's kube subnet manager keeps the same facts in `flannel.alpha.coreos.com/*` annotations
 * (backend-type, backend-data, public-ip); twill uses its own prefix, `overlay.twill.dev/`, with the same
 * meanings, so the two never read each other's.
 */
import type { KubeObject } from '../model/types.js';

export const ANNOTATION_PREFIX = 'overlay.twill.dev/';
export const Annotations = {
  /** vxlan | host-gw | wireguard. */
  backendType: `${ANNOTATION_PREFIX}backend-type`,
  /** JSON: {"VNI":1,"VtepMAC":"0a:74:..."} for vxlan, {"PublicKey":"..."} for wireguard, null for host-gw. */
  backendData: `${ANNOTATION_PREFIX}backend-data`,
  /** The node's underlay address: VXLAN/WireGuard endpoint, host-gw next hop. */
  publicIP: `${ANNOTATION_PREFIX}public-ip`,
} as const;

export type BackendType = 'vxlan' | 'host-gw' | 'wireguard';
export const BACKEND_TYPES: readonly BackendType[] = ['vxlan', 'host-gw', 'wireguard'];

/** What this node publishes; see ../README.md. */
export interface Lease {
  nodeName: string;
  /** IPv4 podCIDRs (the underlay and the backends are IPv4). */
  podCIDRs: string[];
  publicIP: string;
  backendType: BackendType;
  backendData: Record<string, unknown> | null;
}

const isIPv4CIDR = (c: string) => /^\d+\.\d+\.\d+\.\d+\/\d+$/.test(c);

export function podCIDRsOfNode(node: KubeObject): string[] {
  const spec = (node.spec ?? {}) as { podCIDR?: string; podCIDRs?: string[] };
  const all = spec.podCIDRs?.length ? spec.podCIDRs : spec.podCIDR ? [spec.podCIDR] : [];
  return all.filter(isIPv4CIDR);
}

/** The annotations that publish a lease (pure). */
export function leaseAnnotations(l: Lease): Record<string, string> {
  return {
    [Annotations.backendType]: l.backendType,
    [Annotations.backendData]: JSON.stringify(l.backendData),
    [Annotations.publicIP]: l.publicIP,
  };
}

/**
 * Reads a Node's lease (pure); undefined while the node has no podCIDR or its backend has not published yet,
 * so that nothing is written for a node that cannot receive traffic.
 */
export function leaseOfNode(node: KubeObject): Lease | undefined {
  const a = node.metadata.annotations ?? {};
  const type = a[Annotations.backendType] as BackendType | undefined;
  const publicIP = a[Annotations.publicIP];
  const podCIDRs = podCIDRsOfNode(node);
  if (!type || !BACKEND_TYPES.includes(type) || !publicIP || podCIDRs.length === 0) return undefined;
  if (node.metadata.deletionTimestamp) return undefined;
  let data: Record<string, unknown> | null = null;
  try {
    data = JSON.parse(a[Annotations.backendData] ?? 'null') as Record<string, unknown> | null;
  } catch {
    return undefined;
  }
  return { nodeName: node.metadata.name!, podCIDRs, publicIP, backendType: type, backendData: data };
}
