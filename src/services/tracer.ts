/**
 * A small packet tracer over the nftables text src/services/render.ts emits: it reads the `add table/chain/
 * set/map/rule/element` commands of a full sync, then runs one packet (the first packet of a connection, or a
 * later one) through the base chains in the kernel's order (hook, then priority) and says what happened:
 * accepted, dropped or rejected, DNATed to which endpoint, masqueraded or not, and the chains it went through.
 *
 * It understands exactly the expressions the renderer writes (and says so when it meets another), so a test
 * can check a behaviour — "a pod reaching itself through its service is masqueraded" — without root, and a
 * renderer change that breaks the behaviour shows up as a wrong verdict rather than as a text diff.
 *
 * Packet paths (netfilter's): a packet arriving on an interface goes prerouting → (routing: local address?)
 * input, else forward → postrouting; a packet the node sends goes output → postrouting. NAT chains see only
 * the first packet of a connection (`ct state new`); later packets follow the conntrack entry, which the
 * tracer does not model beyond that.
 */
import { cidrContains, parseCIDR, parseIP } from '../ipam/cidr.js';

export interface TracePacket {
  src: string;
  dst: string;
  proto: 'tcp' | 'udp' | 'sctp';
  dport: number;
  /** 'remote' (arrives on an interface: a pod, another node, a client) or 'local' (sent by the node). */
  origin?: 'remote' | 'local';
  /** Default 'new': the first packet of a connection. */
  ctState?: 'new' | 'established';
}

export interface TraceOptions {
  /** The node's own addresses: `fib ... type local` and the routing decision (input or forward). */
  localAddrs: string[];
  /** The value `numgen random` yields (taken mod N), or a function of N; default 0. */
  numgen?: number | ((mod: number) => number);
  /** Affinity sets' contents (set name → addresses); `update @set` adds to it. */
  affinity?: Map<string, Set<string>>;
}

export interface TraceResult {
  verdict: 'accept' | 'drop' | 'reject';
  /** 'tcp reset' or 'icmp' when rejected. */
  reject?: 'tcp reset' | 'icmp';
  /** The DNAT target, when the packet was sent to an endpoint. */
  dnat?: { ip: string; port: number };
  masquerade: boolean;
  /** Every chain entered, in order. */
  chains: string[];
}

interface Chain {
  hook?: string;
  priority?: number;
  type?: string;
  rules: string[];
}

interface Parsed {
  chains: Map<string, Chain>;
  maps: Map<string, Map<string, string>>;
  sets: Map<string, { dynamic: boolean; elements: Set<string> }>;
}

/** Splits `a, b, c` at top-level commas (no nesting occurs in what the renderer writes). */
function splitList(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
}

/** Reads the nft commands a full sync is made of. Unknown commands are an error. */
export function parseRuleset(text: string): Parsed {
  const p: Parsed = { chains: new Map(), maps: new Map(), sets: new Map() };
  for (const line of text.split('\n')) {
    const l = line.trim();
    if (!l) continue;
    let m: RegExpExecArray | null;
    if ((m = /^add table /.exec(l))) continue;
    if ((m = /^flush (chain|set|map) \S+ \S+ (\S+)$/.exec(l))) {
      if (m[1] === 'chain') p.chains.get(m[2])!.rules = [];
      else if (m[1] === 'set') p.sets.get(m[2])!.elements.clear();
      else p.maps.get(m[2])!.clear();
      continue;
    }
    if ((m = /^add chain \S+ \S+ (\S+)(?: \{ type (\w+) hook (\w+) priority (-?\d+) ; \})?$/.exec(l))) {
      if (!p.chains.has(m[1])) {
        p.chains.set(m[1], {
          rules: [],
          ...(m[3] ? { type: m[2], hook: m[3], priority: Number(m[4]) } : {}),
        });
      }
      continue;
    }
    if ((m = /^add set \S+ \S+ (\S+) \{ (.*) \}$/.exec(l))) {
      if (!p.sets.has(m[1])) p.sets.set(m[1], { dynamic: m[2].includes('dynamic'), elements: new Set() });
      continue;
    }
    if ((m = /^add map \S+ \S+ (\S+) \{/.exec(l))) {
      if (!p.maps.has(m[1])) p.maps.set(m[1], new Map());
      continue;
    }
    if ((m = /^add rule \S+ \S+ (\S+) (.*)$/.exec(l))) {
      const c = p.chains.get(m[1]);
      if (!c) throw new Error(`rule for unknown chain ${m[1]}`);
      c.rules.push(m[2]);
      continue;
    }
    if ((m = /^add element \S+ \S+ (\S+) \{ (.*) \}$/.exec(l))) {
      const map = p.maps.get(m[1]);
      if (map) {
        for (const entry of splitList(m[2])) {
          const [k, v] = entry.split(' : ');
          map.set(k.trim(), v.trim());
        }
      } else {
        const set = p.sets.get(m[1]);
        if (!set) throw new Error(`element for unknown set or map ${m[1]}`);
        for (const e of splitList(m[2])) set.elements.add(e);
      }
      continue;
    }
    throw new Error(`tracer does not understand: ${l}`);
  }
  return p;
}

function inAddrs(ip: string, items: Iterable<string>): boolean {
  const a = parseIP(ip);
  if (!a) return false;
  for (const it of items) {
    if (it.includes('/')) {
      if (cidrContains(parseCIDR(it), a)) return true;
    } else {
      const b = parseIP(it);
      if (b && b.family === a.family && b.value === a.value) return true;
    }
  }
  return false;
}

/** A verdict statement's outcome. */
type Flow =
  | { kind: 'continue' }
  | { kind: 'jump' | 'goto'; chain: string }
  | { kind: 'return' }
  | { kind: 'final'; verdict: 'accept' | 'drop' | 'reject'; reject?: 'tcp reset' | 'icmp' };

interface State {
  pkt: Required<TracePacket>;
  dst: string;
  dport: number;
  mark: number;
  masquerade: boolean;
  dnat?: { ip: string; port: number };
  chains: string[];
}

export class Tracer {
  private readonly p: Parsed;
  private readonly affinity: Map<string, Set<string>>;

  constructor(
    text: string,
    private readonly opts: TraceOptions,
  ) {
    this.p = parseRuleset(text);
    this.affinity = opts.affinity ?? new Map();
  }

  /** The affinity state (set name → client addresses), as `update @set` left it. */
  affinityState(): Map<string, Set<string>> {
    return this.affinity;
  }

  trace(packet: TracePacket): TraceResult {
    const pkt: Required<TracePacket> = { origin: 'remote', ctState: 'new', ...packet };
    const st: State = { pkt, dst: pkt.dst, dport: pkt.dport, mark: 0, masquerade: false, chains: [] };
    const hooks =
      pkt.origin === 'local'
        ? ['output', 'postrouting']
        : ['prerouting', inAddrs(pkt.dst, this.opts.localAddrs) ? 'input' : 'forward', 'postrouting'];
    for (let i = 0; i < hooks.length; i++) {
      // The routing decision follows DNAT (prerouting's NAT runs before it).
      if (i === 1 && pkt.origin === 'remote')
        hooks[1] = inAddrs(st.dst, this.opts.localAddrs) ? 'input' : 'forward';
      const bases = [...this.p.chains.entries()]
        .filter(([, c]) => c.hook === hooks[i])
        .sort((a, b) => a[1].priority! - b[1].priority!);
      for (const [name, c] of bases) {
        if (c.type === 'nat' && pkt.ctState !== 'new') continue;
        const flow = this.runChain(name, st);
        if (flow.kind === 'final' && flow.verdict !== 'accept') return this.result(st, flow);
      }
    }
    return this.result(st, { kind: 'final', verdict: 'accept' });
  }

  private result(st: State, flow: Extract<Flow, { kind: 'final' }>): TraceResult {
    return {
      verdict: flow.verdict,
      ...(flow.reject ? { reject: flow.reject } : {}),
      ...(st.dnat ? { dnat: st.dnat } : {}),
      masquerade: st.masquerade,
      chains: st.chains,
    };
  }

  /** Runs a chain; jump returns here, goto replaces it (as nft does), a final verdict ends the hook. */
  private runChain(name: string, st: State, depth = 0): Flow {
    if (depth > 32) throw new Error('chain loop');
    let current = name;
    for (;;) {
      const c = this.p.chains.get(current);
      if (!c) throw new Error(`no chain ${current}`);
      st.chains.push(current);
      let next: string | undefined;
      for (const rule of c.rules) {
        const flow = this.runRule(rule, st);
        if (flow.kind === 'continue') continue;
        if (flow.kind === 'return') return { kind: 'continue' };
        if (flow.kind === 'final') return flow;
        if (flow.kind === 'jump') {
          const r = this.runChain(flow.chain, st, depth + 1);
          if (r.kind === 'final') return r;
          continue;
        }
        next = flow.chain; // goto
        break;
      }
      if (next === undefined) return { kind: 'continue' };
      current = next;
    }
  }

  private verdictOf(text: string): Flow {
    const t = text.trim();
    let m: RegExpExecArray | null;
    if ((m = /^(jump|goto) (\S+)$/.exec(t))) return { kind: m[1] as 'jump' | 'goto', chain: m[2] };
    if (t === 'drop') return { kind: 'final', verdict: 'drop' };
    if (t === 'accept') return { kind: 'final', verdict: 'accept' };
    if (t === 'return') return { kind: 'return' };
    throw new Error(`tracer does not understand the verdict: ${t}`);
  }

  private lookup(mapName: string, key: string): Flow {
    const map = this.p.maps.get(mapName);
    if (!map) throw new Error(`no map ${mapName}`);
    const v = map.get(key);
    return v === undefined ? { kind: 'continue' } : this.verdictOf(v);
  }

  /** One rule: its matches left to right, then its statement. */
  private runRule(rule: string, st: State): Flow {
    const { pkt } = st;
    let rest = rule;
    let m: RegExpExecArray | null;
    const eat = (re: RegExp): RegExpExecArray | null => {
      const r = re.exec(rest);
      if (r) rest = rest.slice(r[0].length);
      return r;
    };
    const addr = (which: string) => (which === 'saddr' ? pkt.src : st.dst);
    for (;;) {
      if (eat(/^ct state new /)) {
        if (pkt.ctState !== 'new') return { kind: 'continue' };
      } else if ((m = eat(/^ip6? (saddr|daddr) \. meta l4proto \. th dport vmap @(\S+)$/))) {
        return this.lookup(m[2], `${addr(m[1])} . ${pkt.proto} . ${st.dport}`);
      } else if ((m = eat(/^meta l4proto \. th dport vmap @(\S+)$/))) {
        return this.lookup(m[1], `${pkt.proto} . ${st.dport}`);
      } else if ((m = eat(/^ip6? (saddr|daddr) (!= )?@(\S+) /))) {
        const set = this.p.sets.get(m[3]);
        if (!set) throw new Error(`no set ${m[3]}`);
        const items = set.dynamic ? (this.affinity.get(m[3]) ?? new Set<string>()) : set.elements;
        if (inAddrs(addr(m[1]), items) === !!m[2]) return { kind: 'continue' };
      } else if ((m = eat(/^ip6? (saddr|daddr) (!= )?(?:\{ ([^}]*) \}|([0-9a-fA-F:./]+)) /))) {
        const items = m[3] !== undefined ? splitList(m[3]) : [m[4]];
        if (inAddrs(addr(m[1]), items) === !!m[2]) return { kind: 'continue' };
      } else if ((m = eat(/^(tcp|udp|sctp) dport (\d+) /))) {
        if (pkt.proto !== m[1] || st.dport !== Number(m[2])) return { kind: 'continue' };
      } else if ((m = eat(/^meta l4proto (tcp|udp|sctp) /))) {
        if (pkt.proto !== m[1]) return { kind: 'continue' };
      } else if ((m = eat(/^meta mark & (0x[0-9a-f]+) == 0 /))) {
        if ((st.mark & Number(m[1])) !== 0) return { kind: 'continue' };
      } else if (eat(/^fib saddr type local /)) {
        if (!inAddrs(pkt.src, this.opts.localAddrs)) return { kind: 'continue' };
      } else {
        break;
      }
    }
    // Statements.
    if ((m = /^numgen random mod (\d+) vmap @(\S+)$/.exec(rest))) {
      const n = Number(m[1]);
      const g = this.opts.numgen ?? 0;
      return this.lookup(m[2], String((typeof g === 'function' ? g(n) : g) % n));
    }
    if ((m = /^numgen random mod (\d+) vmap \{ (.*) \}$/.exec(rest))) {
      const n = Number(m[1]);
      const g = this.opts.numgen ?? 0;
      const pick = (typeof g === 'function' ? g(n) : g) % n;
      for (const entry of splitList(m[2])) {
        const [k, v] = entry.split(' : ');
        if (Number(k) === pick) return this.verdictOf(v);
      }
      return { kind: 'continue' };
    }
    if ((m = /^meta mark set meta mark (\||\^) (0x[0-9a-f]+)$/.exec(rest))) {
      st.mark = m[1] === '|' ? st.mark | Number(m[2]) : st.mark ^ Number(m[2]);
      return { kind: 'continue' };
    }
    if (rest === 'masquerade fully-random') {
      st.masquerade = true;
      return { kind: 'final', verdict: 'accept' };
    }
    if ((m = /^update @(\S+) \{ ip6? saddr \}$/.exec(rest))) {
      let s = this.affinity.get(m[1]);
      if (!s) this.affinity.set(m[1], (s = new Set()));
      s.add(pkt.src);
      return { kind: 'continue' };
    }
    if ((m = /^dnat to (?:\[([0-9a-f:]+)\]|([0-9.]+)):(\d+)$/.exec(rest))) {
      st.dnat = { ip: m[1] ?? m[2], port: Number(m[3]) };
      st.dst = st.dnat.ip;
      st.dport = st.dnat.port;
      return { kind: 'final', verdict: 'accept' };
    }
    if (rest === 'reject with tcp reset') {
      // Only for TCP: nft requires `meta l4proto tcp` before it, which the matches above checked.
      return { kind: 'final', verdict: 'reject', reject: 'tcp reset' };
    }
    if (rest === 'reject') return { kind: 'final', verdict: 'reject', reject: 'icmp' };
    return this.verdictOf(rest);
  }
}
