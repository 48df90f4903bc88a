/**
 * ipMasq, as flannel's --ip-masq: pods' traffic to addresses outside the cluster leaves with the node's
 * address (the outside world has no route to pod addresses); pod-to-pod traffic never does, so every pod sees
 * every other pod's own address. One nftables table of twill's own, `ip twill-overlay`, in the node's
 * namespace, replaced whole in one transaction:
 *
 *   chain postrouting (nat, hook postrouting, priority srcnat):
 *     ip saddr <cluster> ip daddr <cluster> return              pod to pod: never
 *     ip saddr <this podCIDR> ip daddr != 224.0.0.0/4 masquerade fully-random
 *
 * The cluster is `--cluster-cidr` where the flags give it (`twill up`), else every podCIDR known (this
 * node's and every lease's). Multicast is left alone, as flannel does.
 */
import type { NftTable } from '../linux/nft.js';

export const MASQ_TABLE: NftTable = { family: 'ip', name: 'twill-overlay' };

/** The table's script (pure): IPv4 only (the underlay is IPv4). */
export function renderMasq(o: { podCIDRs: string[]; clusterCIDRs: string[] }): string {
  const v4 = (l: string[]) => [...new Set(l.filter((c) => !c.includes(':')))].sort();
  const cluster = v4(o.clusterCIDRs);
  const own = v4(o.podCIDRs);
  const set = (l: string[]) => (l.length === 1 ? l[0] : `{ ${l.join(', ')} }`);
  const rules: string[] = [];
  if (cluster.length)
    rules.push(
      `ip saddr ${set(cluster)} ip daddr ${set(cluster)} return comment "pod to pod: never masqueraded"`,
    );
  if (own.length)
    rules.push(
      `ip saddr ${set(own)} ip daddr != 224.0.0.0/4 masquerade fully-random comment "pod egress leaves as the node"`,
    );
  return [
    `add table ip ${MASQ_TABLE.name}`,
    `flush table ip ${MASQ_TABLE.name}`,
    `table ip ${MASQ_TABLE.name} {`,
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    ...rules.map((r) => `    ${r}`),
    '  }',
    '}',
    '',
  ].join('\n');
}
