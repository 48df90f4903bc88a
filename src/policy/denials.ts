/**
 * The denial record: each group chain of the policy table, before it drops, adds the packet's (source,
 * destination, protocol, port) to a dynamic set `deny-<direction><4|6>` with a 60 s timeout (rate-limited).
 * The kernel keeps it current without a daemon or the kernel log (which is silent in non-initial network
 * namespaces); `twill logs --denied` and the agent's log read it and name the pods by their addresses.
 */
import { DENIAL_TIMEOUT_S } from './render.js';
import type { Direction, PolicyPod } from './semantics.js';

export interface Denial {
  direction: Direction;
  saddr: string;
  daddr: string;
  protocol: string;
  port: number;
  /** Seconds since the last denied packet (to the set's one-second resolution). */
  ageSeconds: number;
  /** The set's remaining time for the entry: grows again when a new packet is denied. */
  expires: number;
}

/** The denials in the objects of `nft -j list table inet twill-policy` (nftListTable). Pure. */
export function parseDenials(objects: Record<string, any>[] | undefined): Denial[] {
  const out: Denial[] = [];
  for (const o of objects ?? []) {
    const set = o.set;
    const m = set && /^deny-(ingress|egress)[46]$/.exec(String(set.name));
    if (!m) continue;
    for (const e of set.elem ?? []) {
      const el = e.elem ?? e;
      const concat = el.val?.concat;
      if (!Array.isArray(concat) || concat.length !== 4) continue;
      const expires = Number(el.expires ?? 0);
      out.push({
        direction: m[1] as Direction,
        saddr: String(concat[0]),
        daddr: String(concat[1]),
        protocol: String(concat[2]).toUpperCase(),
        port: Number(concat[3]),
        ageSeconds: Math.max(0, DENIAL_TIMEOUT_S - expires),
        expires,
      });
    }
  }
  return out.sort((a, b) => a.ageSeconds - b.ageSeconds);
}

export function podsByIP(pods: PolicyPod[]): Map<string, PolicyPod> {
  const m = new Map<string, PolicyPod>();
  for (const p of pods) if (!p.hostNetwork) for (const ip of p.ips) m.set(ip, p);
  return m;
}

const name = (byIP: Map<string, PolicyPod>, ip: string) => {
  const p = byIP.get(ip);
  return p ? `${p.namespace}/${p.name}` : ip;
};

/** One line: "x/b -> x/a TCP/80 denied (ingress of x/a), 3s ago". */
export function denialText(d: Denial, byIP: Map<string, PolicyPod>): string {
  const from = name(byIP, d.saddr);
  const to = name(byIP, d.daddr);
  const whose = d.direction === 'ingress' ? to : from;
  return `${from} -> ${to} ${d.protocol}/${d.port} denied (${d.direction} of ${whose}), ${d.ageSeconds}s ago`;
}

/**
 * Which entries are new since the last poll: a key not seen before, or seen with an `expires` that grew (a
 * later packet refreshed it). `seen` is updated in place. Pure apart from that.
 */
export function newDenials(current: Denial[], seen: Map<string, number>, pollSeconds: number): Denial[] {
  const fresh: Denial[] = [];
  const keep = new Set<string>();
  for (const d of current) {
    const key = `${d.direction} ${d.saddr} ${d.daddr} ${d.protocol} ${d.port}`;
    keep.add(key);
    const before = seen.get(key);
    // Without a refresh, expires falls by the poll interval; anything higher means a new denied packet.
    if (before === undefined || d.expires > before - pollSeconds + 1) fresh.push(d);
    seen.set(key, d.expires);
  }
  for (const k of [...seen.keys()]) if (!keep.has(k)) seen.delete(k);
  return fresh;
}
