/**
 * NetworkPolicy → nftables, as a pure function: (policies, pods, namespaces, node) → the text of one `nft -f`
 * transaction that replaces `table inet twill-policy`.
 *
 * Design (built for scale: nothing grows with pairs of pods):
 * - Every policy rule becomes a few named sets: its pod peers' addresses (`pN-in0-peers4`), its numeric ports
 *   as `l4proto . port` intervals (`pN-in0-ports`), and its named ports resolved per destination pod as
 *   `address . l4proto . port` (`pN-in0-named4`). ipBlocks stay in the rule (`ip saddr CIDR ip saddr != {…}`).
 * - Local pods are grouped by the set of policies that isolate them in a direction; each group is one chain
 *   holding the rules of those policies, each of which `return`s when it allows the packet. A verdict map
 *   keyed by pod address (`ingress4`: destination → `jump ingress-gK`) sends the first packet of a connection
 *   to its group; falling off the end of the group chain denies (rate-limited nflog, then drop or reject).
 *   A `return` resumes the base chain, so a packet between two local pods is checked for the source's egress
 *   and then for the destination's ingress.
 * - The base chains accept `ct state established,related` first: replies to an allowed connection are
 *   always allowed. `forward` sees pod-to-pod traffic on this node (bridged, with bridge-nf-call-iptables) and
 *   across nodes (routed); `input` checks egress of local pods towards the node itself. There is no output
 *   chain: traffic from a pod's own node is always allowed.
 * Only pods on this node get verdict-map entries; peer sets hold every pod of the cluster.
 */
import { createHash } from 'node:crypto';
import { cidrContainsCIDR, parseCIDR } from '../ipam/cidr.js';
import {
  policySelects,
  peerSelectsPod,
  selectorMatches,
  type Direction,
  type Peer,
  type Policy,
  type PolicyPod,
  type PolicyRule,
  type PolicyState,
  type Protocol,
} from './semantics.js';

export const POLICY_TABLE = { family: 'inet' as const, name: 'twill-policy' };
/** How long a denied (source, destination, protocol, port) stays in the denial record after its last packet. */
export const DENIAL_TIMEOUT_S = 60;
const DENIAL_SET_SIZE = 4096;

export interface RenderOptions {
  /** Only pods on this node are enforced (all pods when undefined: tests and the tracer). */
  nodeName?: string;
  /** What a denied packet gets: `drop` (default) or `reject` (a TCP reset; ICMP administratively prohibited). */
  deny?: 'drop' | 'reject';
  /** nflog group of the denial log (rate-limited); undefined: no log. */
  logGroup?: number;
  /** Denials recorded (and logged) per second per group chain (default 10). */
  logRate?: number;
}

type Fam = 4 | 6;
const isV6 = (ip: string) => ip.includes(':');
const famOf = (ip: string): Fam => (isV6(ip) ? 6 : 4);
const ipKw = (f: Fam) => (f === 4 ? 'ip' : 'ip6');
const addrType = (f: Fam) => (f === 4 ? 'ipv4_addr' : 'ipv6_addr');
const proto = (p: Protocol) => p.toLowerCase();

/** nft quoted strings: our names are DNS labels and subdomains, so only a length cap matters. */
function quote(s: string, max = 120): string {
  return `"${s.replace(/["\\]/g, '').slice(0, max)}"`;
}

/**
 * Named sets shared by content: policies that name the same peers or ports (a common case: "same namespace",
 * "port 80") use one set, and a rule repeated in several group chains still has one set. Set objects are what
 * a transaction pays most for in the kernel.
 */
class SetRegistry {
  /** name → declaration block. */
  readonly decl = new Map<string, string>();
  private readonly byContent = new Map<string, string>();

  name(prefix: string, type: string, els: string[], interval = false): string {
    const key = `${type}|${interval}|${els.join(',')}`;
    let name = this.byContent.get(key);
    if (!name) {
      // Named by content: a set never changes, it is replaced, so a partial sync only adds and deletes sets.
      name = `${prefix}-${stableId(key)}`;
      this.byContent.set(key, name);
      const flags = interval ? '\t\tflags interval\n' : '';
      this.decl.set(
        name,
        `\tset ${name} {\n\t\ttype ${type}\n${flags}\t\telements = { ${els.join(', ')} }\n\t}`,
      );
    }
    return name;
  }
}

/**
 * Port ranges as set elements, overlapping and adjacent ranges of one protocol merged: the kernel refuses
 * overlapping intervals in a set ("File exists"), and `80-81` with `81` is one policy away.
 */
export function mergePortRanges(ranges: [Protocol, number, number][]): string[] {
  const out: string[] = [];
  for (const p of ['SCTP', 'TCP', 'UDP'] as Protocol[]) {
    const mine = ranges.filter((r) => r[0] === p).sort((a, b) => a[1] - b[1] || a[2] - b[2]);
    let cur: [number, number] | undefined;
    const flush = () =>
      cur && out.push(`${proto(p)} . ${cur[0] === cur[1] ? cur[0] : `${cur[0]}-${cur[1]}`}`);
    for (const [, lo, hi] of mine) {
      if (cur && lo <= cur[1] + 1) cur[1] = Math.max(cur[1], hi);
      else {
        flush();
        cur = [lo, hi];
      }
    }
    flush();
  }
  return out;
}

/** The CIDRs no other one of the list contains (duplicates once): an interval set refuses overlaps. */
export function outermostCIDRs(cidrs: string[]): string[] {
  const parsed = [...new Set(cidrs)].map((c) => ({ text: c, cidr: parseCIDR(c) }));
  return parsed
    .filter(
      (a) =>
        !parsed.some(
          (b) =>
            b !== a &&
            cidrContainsCIDR(b.cidr, a.cidr) &&
            (b.cidr.prefix < a.cidr.prefix || (b.cidr.prefix === a.cidr.prefix && b.text < a.text)),
        ),
    )
    .map((a) => a.text);
}

/** A short stable name part: 12 hex digits of SHA-1. */
function stableId(text: string): string {
  return createHash('sha1').update(text).digest('hex').slice(0, 12);
}

interface RenderContext {
  state: PolicyState;
  /** Pods with addresses. */
  pods: PolicyPod[];
  /** The same, by namespace. */
  podsByNs: Map<string, PolicyPod[]>;
  families: Set<Fam>;
  sets: SetRegistry;
  /** Peer addresses by (policy namespace, peer). */
  peerMemo: Map<string, string[]>;
}

/** The addresses of a pod peer's pods, memoised: many policies name the same peers. */
function peerAddresses(ctx: RenderContext, policy: Policy, peer: Extract<Peer, { kind: 'pods' }>): string[] {
  const key = `${peer.namespaceSelector ? '' : policy.namespace}|${JSON.stringify(peer)}`;
  let addrs = ctx.peerMemo.get(key);
  if (!addrs) {
    addrs = [];
    // Without a namespaceSelector only the policy's namespace can match: look nowhere else.
    // With one, only the pods of the namespaces it selects.
    const nsSel = peer.namespaceSelector;
    const candidates = nsSel
      ? ctx.state.namespaces
          .filter((n) => selectorMatches(nsSel, n.labels))
          .flatMap((n) => ctx.podsByNs.get(n.name) ?? [])
      : (ctx.podsByNs.get(policy.namespace) ?? []);
    for (const p of candidates)
      if (peerSelectsPod(ctx.state, peer, policy.namespace, p)) addrs.push(...p.ips);
    ctx.peerMemo.set(key, addrs);
  }
  return addrs;
}

/** The nft matches of one policy rule, one per alternative (peer kind × port kind); none: matches nothing. */
function renderRule(ctx: RenderContext, policy: Policy, rule: PolicyRule, dir: Direction): string[] {
  const { families, sets } = ctx;
  const remote = dir === 'ingress' ? 'saddr' : 'daddr';

  // Peers: undefined → every peer.
  const peerAlts = new Map<Fam, string[]>([
    [4, []],
    [6, []],
  ]);
  if (!rule.peers) {
    for (const f of families) peerAlts.get(f)!.push('');
  } else {
    const addrs = new Set<string>();
    for (const peer of rule.peers) {
      if (peer.kind === 'ipBlock') {
        const f = famOf(peer.cidr);
        const ex = outermostCIDRs(peer.except.filter((e) => famOf(e) === f));
        peerAlts
          .get(f)!
          .push(
            `${ipKw(f)} ${remote} ${peer.cidr}${ex.length ? ` ${ipKw(f)} ${remote} != { ${ex.join(', ')} }` : ''}`,
          );
      } else {
        for (const ip of peerAddresses(ctx, policy, peer)) addrs.add(ip);
      }
    }
    for (const f of [4, 6] as Fam[]) {
      const mine = [...addrs].filter((a) => famOf(a) === f).sort();
      if (mine.length === 0) continue;
      peerAlts.get(f)!.unshift(`${ipKw(f)} ${remote} @${sets.name(`peers${f}`, addrType(f), mine)}`);
    }
  }

  // Ports: undefined → every port.
  const portAlts = new Map<Fam, string[]>([
    [4, []],
    [6, []],
  ]);
  if (!rule.ports) {
    for (const f of families) portAlts.get(f)!.push('');
  } else {
    const numeric: [Protocol, number, number][] = [];
    const named = new Map<Fam, Set<string>>([
      [4, new Set()],
      [6, new Set()],
    ]);
    for (const p of rule.ports) {
      if (p.port === undefined) numeric.push([p.protocol, 0, 65535]);
      else if (typeof p.port === 'number') numeric.push([p.protocol, p.port, p.endPort ?? p.port]);
      else {
        // A named port means, on each destination pod, the container port of that name and protocol. For
        // ingress the destinations are the policy's own pods; for egress, any pod.
        const dsts =
          dir === 'ingress'
            ? (ctx.podsByNs.get(policy.namespace) ?? []).filter((d) => policySelects(policy, d))
            : ctx.pods;
        for (const d of dsts)
          for (const c of d.ports)
            if (c.name === p.port && c.protocol === p.protocol)
              for (const ip of d.ips)
                named.get(famOf(ip))!.add(`${ip} . ${proto(p.protocol)} . ${c.containerPort}`);
      }
    }
    if (numeric.length) {
      // Interval sets of concatenations cost more to build: only when a range needs one.
      const els = mergePortRanges(numeric);
      const interval = els.some((n) => n.includes('-'));
      const name = sets.name('ports', 'inet_proto . inet_service', els, interval);
      for (const f of families) portAlts.get(f)!.push(`meta l4proto . th dport @${name}`);
    }
    for (const f of [4, 6] as Fam[]) {
      const els = [...named.get(f)!].sort();
      if (els.length === 0) continue;
      const name = sets.name(`named${f}`, `${addrType(f)} . inet_proto . inet_service`, els);
      portAlts.get(f)!.push(`${ipKw(f)} daddr . meta l4proto . th dport @${name}`);
    }
  }

  const matches = new Set<string>();
  for (const f of [4, 6] as Fam[])
    for (const peer of peerAlts.get(f)!)
      for (const port of portAlts.get(f)!) {
        // A family-less alternative (every peer, numeric or every port) would also match the other family:
        // the verdict maps already split by family, so one copy is enough.
        matches.add([peer, port].filter(Boolean).join(' '));
      }
  return [...matches];
}

/** A local pod's group: the indexes of the policies isolating it in a direction (only its namespace's). */
function isolation(byNs: Map<string, [Policy, number][]>, pod: PolicyPod, dir: Direction): number[] {
  const out: number[] = [];
  for (const [p, i] of byNs.get(pod.namespace) ?? [])
    if ((dir === 'ingress' ? p.ingressIsolation : p.egressIsolation) && policySelects(p, pod)) out.push(i);
  return out;
}

/**
 * The table as objects, for full and partial syncs: sets (named by content), group chains (named by their
 * policies), verdict-map elements, and the fixed part (denial sets, base chains) as text.
 */
export interface PolicyTable {
  sets: Map<string, string>;
  /** Group chain → its lines (comments first, then rules). */
  chains: Map<string, string[]>;
  /** Map name → element key → verdict. */
  maps: Map<string, Map<string, string>>;
  /** Denial sets and base chains: a change here (address families, options) needs a full sync. */
  fixed: { head: string[]; tail: string[] };
}

/** The nft script that replaces the table. */
export function renderPolicies(state: PolicyState, opts: RenderOptions = {}): string {
  return fullScript(renderTable(state, opts));
}

export function renderTable(state: PolicyState, opts: RenderOptions = {}): PolicyTable {
  const keyOf = (p: Policy) => `${p.namespace}/${p.name}`;
  const policies = [...state.policies].sort((a, b) =>
    keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0,
  );
  const byNs = new Map<string, [Policy, number][]>();
  policies.forEach((p, i) => {
    const list = byNs.get(p.namespace) ?? [];
    list.push([p, i]);
    byNs.set(p.namespace, list);
  });
  const families = new Set<Fam>([4]);
  for (const p of state.pods) for (const ip of p.ips) families.add(famOf(ip));

  const local = state.pods.filter(
    (p) =>
      !p.hostNetwork && p.ips.length > 0 && (opts.nodeName === undefined || p.nodeName === opts.nodeName),
  );

  // Groups per direction: key "1,4,7" → pods.
  const groups: Record<Direction, Map<string, PolicyPod[]>> = { ingress: new Map(), egress: new Map() };
  for (const pod of local)
    for (const dir of ['ingress', 'egress'] as Direction[]) {
      const ids = isolation(byNs, pod, dir);
      if (ids.length === 0) continue;
      const key = ids.join(',');
      const g = groups[dir].get(key) ?? [];
      g.push(pod);
      groups[dir].set(key, g);
    }

  // Only the rules of policies some local pod uses are rendered.
  const withIPs = state.pods.filter((p) => p.ips.length > 0);
  const podsByNs = new Map<string, PolicyPod[]>();
  for (const p of withIPs) {
    const list = podsByNs.get(p.namespace) ?? [];
    list.push(p);
    podsByNs.set(p.namespace, list);
  }
  const ctx: RenderContext = {
    state,
    pods: withIPs,
    podsByNs,
    families,
    sets: new SetRegistry(),
    peerMemo: new Map(),
  };
  const ruleMatches = new Map<string, { comment: string; matches: string[] }[]>();
  const used = new Set<string>();
  for (const dir of ['ingress', 'egress'] as Direction[])
    for (const key of groups[dir].keys()) for (const id of key.split(',')) used.add(`${dir}:${id}`);
  const byIndex = (a: string, b: string) => {
    const [da, ia] = a.split(':');
    const [db, ib] = b.split(':');
    return da === db ? Number(ia) - Number(ib) : da < db ? -1 : 1;
  };
  for (const u of [...used].sort(byIndex)) {
    const [dir, idText] = u.split(':') as [Direction, string];
    const i = Number(idText);
    const pol = policies[i];
    const rules = dir === 'ingress' ? pol.ingress : pol.egress;
    const out: { comment: string; matches: string[] }[] = [];
    rules.forEach((rule, j) => {
      const matches = renderRule(ctx, pol, rule, dir);
      out.push({ comment: `${pol.namespace}/${pol.name} ${dir}[${j}]`, matches });
    });
    ruleMatches.set(u, out);
  }

  // TCP gets a reset: the kernel rate-limits the ICMP errors it sends per peer (icmp_ratelimit), so a burst of
  // rejected connections would soon look dropped; other protocols get ICMP administratively prohibited.
  const denyStmts =
    opts.deny === 'reject'
      ? ['meta l4proto tcp reject with tcp reset', 'reject with icmpx admin-prohibited']
      : ['drop'];
  const chains = new Map<string, string[]>();
  const maps = new Map<string, Map<string, string>>(
    ['ingress4', 'ingress6', 'egress4', 'egress6'].map((m) => [m, new Map<string, string>()]),
  );
  for (const dir of ['ingress', 'egress'] as Direction[]) {
    for (const [key, pods] of [...groups[dir].entries()].sort((a, b) =>
      a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0,
    )) {
      const ids = key.split(',').map(Number);
      const names = ids.map((i) => `${policies[i].namespace}/${policies[i].name}`);
      // Named by the policies that isolate its pods: stable while they stay, whatever else changes.
      const chain = `${dir}-${stableId(names.join(' '))}`;
      const shown = pods.slice(0, 8).map((p) => `${p.namespace}/${p.name}`);
      if (pods.length > 8) shown.push(`and ${pods.length - 8} more`);
      const lines: string[] = [`\t\t# ${dir} of ${shown.join(' ')}`];
      lines.push(`\t\t# policies: ${names.join(' ')}`);
      for (const id of ids)
        for (const r of ruleMatches.get(`${dir}:${id}`) ?? [])
          for (const m of r.matches) lines.push(`\t\t${m ? `${m} ` : ''}return comment ${quote(r.comment)}`);
      // The denial record: the last denied tuples with a 60 s timeout, read by `twill logs --denied` and the
      // agent's log (no daemon, no kernel log: a set the kernel keeps up to date).
      for (const f of [4, 6] as Fam[])
        if (families.has(f))
          lines.push(
            `\t\tmeta l4proto { tcp, udp, sctp } limit rate ${opts.logRate ?? 10}/second update @deny-${dir}${f} ` +
              `{ ${ipKw(f)} saddr . ${ipKw(f)} daddr . meta l4proto . th dport }`,
          );
      if (opts.logGroup !== undefined) {
        const prefix = `twill-policy deny ${dir} `;
        lines.push(
          `\t\tlimit rate ${opts.logRate ?? 10}/second log prefix ${quote(prefix)} group ${opts.logGroup}`,
        );
      }
      for (const d of denyStmts) lines.push(`\t\t${d}`);
      chains.set(chain, lines);
      for (const p of pods) for (const ip of p.ips) maps.get(`${dir}${famOf(ip)}`)!.set(ip, `jump ${chain}`);
    }
  }

  const base = (hook: string, withIngress: boolean) => {
    const rules = [
      `\t\ttype filter hook ${hook} priority filter; policy accept;`,
      `\t\tct state established,related accept`,
      // Neighbour discovery is how IPv6 finds a pod's link-layer address; bridged, it crosses this hook too.
      `\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } accept`,
      `\t\tip saddr vmap @egress4`,
      `\t\tip6 saddr vmap @egress6`,
    ];
    if (withIngress) rules.push(`\t\tip daddr vmap @ingress4`, `\t\tip6 daddr vmap @ingress6`);
    return `\tchain ${hook} {\n${rules.join('\n')}\n\t}`;
  };

  const head = (['ingress', 'egress'] as Direction[]).flatMap((dir) =>
    [...families].map(
      (f) =>
        `\tset deny-${dir}${f} {\n\t\ttype ${addrType(f)} . ${addrType(f)} . inet_proto . inet_service\n` +
        `\t\tsize ${DENIAL_SET_SIZE}\n\t\tflags dynamic,timeout\n\t\ttimeout ${DENIAL_TIMEOUT_S}s\n\t}`,
    ),
  );
  return {
    sets: ctx.sets.decl,
    chains,
    maps,
    fixed: { head, tail: [base('forward', true), base('input', false)] },
  };
}

const chainBlock = (name: string, lines: string[]) => `\tchain ${name} {\n${lines.join('\n')}\n\t}`;

function mapBlock(name: string, els: Map<string, string>): string {
  const body = [`\t\ttype ${addrType(name.endsWith('6') ? 6 : 4)} : verdict`];
  if (els.size) body.push(`\t\telements = { ${[...els].map(([k, v]) => `${k} : ${v}`).join(', ')} }`);
  return `\tmap ${name} {\n${body.join('\n')}\n\t}`;
}

/** The transaction that replaces the whole table. */
export function fullScript(t: PolicyTable): string {
  return [
    `add table inet twill-policy`,
    `delete table inet twill-policy`,
    `table inet twill-policy {`,
    ...t.fixed.head,
    ...t.sets.values(),
    ...[...t.chains].map(([name, lines]) => chainBlock(name, lines)),
    ...[...t.maps].map(([name, els]) => mapBlock(name, els)),
    ...t.fixed.tail,
    `}`,
    '',
  ].join('\n');
}

const rulesOf = (lines: string[]) => lines.filter((l) => !l.trimStart().startsWith('#')).join('\n');

/**
 * The transaction that turns table `from` (in the kernel) into `to`, touching only what differs; undefined when
 * only a full sync will do (the fixed part changed); '' when nothing differs. Order matters inside it: changed
 * chains are flushed, new sets and chains declared and changed chains refilled, map elements swapped, and only
 * then are chains and sets that nothing references any more deleted.
 */
export function partialScript(from: PolicyTable, to: PolicyTable): string | undefined {
  if (
    from.fixed.head.join('\n') !== to.fixed.head.join('\n') ||
    from.fixed.tail.join('\n') !== to.fixed.tail.join('\n')
  )
    return undefined;
  const T = 'inet twill-policy';
  const out: string[] = [];
  const block: string[] = [];
  for (const [name, decl] of to.sets) if (!from.sets.has(name)) block.push(decl);
  for (const [name, lines] of to.chains) {
    const old = from.chains.get(name);
    if (old === undefined) block.push(chainBlock(name, lines));
    else if (rulesOf(old) !== rulesOf(lines)) {
      out.push(`flush chain ${T} ${name}`);
      block.push(chainBlock(name, lines));
    }
  }
  if (block.length) out.push(`table ${T} {`, ...block, `}`);
  for (const [map, els] of to.maps) {
    const old = from.maps.get(map) ?? new Map<string, string>();
    const del = [...old.keys()].filter((k) => els.get(k) !== old.get(k));
    const add = [...els].filter(([k, v]) => old.get(k) !== v);
    if (del.length) out.push(`delete element ${T} ${map} { ${del.join(', ')} }`);
    if (add.length) out.push(`add element ${T} ${map} { ${add.map(([k, v]) => `${k} : ${v}`).join(', ')} }`);
  }
  for (const name of from.chains.keys()) if (!to.chains.has(name)) out.push(`delete chain ${T} ${name}`);
  for (const name of from.sets.keys()) if (!to.sets.has(name)) out.push(`delete set ${T} ${name}`);
  return out.length ? out.join('\n') + '\n' : '';
}
