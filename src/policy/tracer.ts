/**
 * A small packet tracer over the nftables text render.ts produces: it reads the sets, verdict maps and chains
 * of the table and walks one packet (the first of a connection, ct state new) through a base chain the way the
 * kernel does — matches, `vmap` jumps, `return`, terminal verdicts, the chain policy at the end. It knows only
 * the statements the renderer writes and throws on anything else, so a renderer change it cannot follow fails
 * the tests instead of passing silently. Used without root to check the rendered rules against the evaluator.
 */
import { cidrContains, parseCIDR, parseIP } from '../ipam/cidr.js';

export interface Packet {
  saddr: string;
  daddr: string;
  protocol: 'tcp' | 'udp' | 'sctp';
  dport: number;
}

export type TraceVerdict = 'accept' | 'drop' | 'reject';

interface Chain {
  hook?: string;
  policy: TraceVerdict;
  rules: string[][];
}

export interface Ruleset {
  sets: Map<string, string[]>;
  maps: Map<string, Map<string, string>>;
  chains: Map<string, Chain>;
}

/** Splits a rule into tokens; `{ ... }` and quoted strings stay whole. */
function tokenize(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    const ch = line[i];
    if (/\s/.test(ch)) {
      i++;
    } else if (ch === '"') {
      const j = line.indexOf('"', i + 1);
      out.push(line.slice(i, j + 1));
      i = j + 1;
    } else if (ch === '{') {
      const j = line.indexOf('}', i);
      out.push(line.slice(i, j + 1));
      i = j + 1;
    } else {
      let j = i;
      while (j < line.length && !/\s/.test(line[j])) j++;
      out.push(line.slice(i, j));
      i = j;
    }
  }
  return out;
}

function elementsOf(text: string): string[] {
  const m = /elements = \{(.*)\}/.exec(text);
  if (!m) return [];
  return m[1]
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function parseRuleset(text: string): Ruleset {
  const rs: Ruleset = { sets: new Map(), maps: new Map(), chains: new Map() };
  let block: { kind: 'set' | 'map' | 'chain'; name: string; lines: string[] } | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const open = /^(set|map|chain) (\S+) \{$/.exec(line);
    if (open) {
      block = { kind: open[1] as 'set' | 'map' | 'chain', name: open[2], lines: [] };
      continue;
    }
    if (line === '}') {
      if (!block) continue; // the table's own brace
      if (block.kind === 'set') rs.sets.set(block.name, block.lines.flatMap(elementsOf));
      else if (block.kind === 'map') {
        const m = new Map<string, string>();
        for (const e of block.lines.flatMap(elementsOf)) {
          const [k, v] = e.split(' : ');
          m.set(k.trim(), v.trim());
        }
        rs.maps.set(block.name, m);
      } else {
        const chain: Chain = { policy: 'accept', rules: [] };
        for (const l of block.lines) {
          const hook = /^type filter hook (\w+) priority \w+; policy (\w+);$/.exec(l);
          if (hook) {
            chain.hook = hook[1];
            chain.policy = hook[2] as TraceVerdict;
          } else chain.rules.push(tokenize(l));
        }
        rs.chains.set(block.name, chain);
      }
      block = undefined;
      continue;
    }
    if (block) block.lines.push(line);
  }
  return rs;
}

function addrIn(element: string, ip: string): boolean {
  const addr = parseIP(ip);
  if (!addr) return false;
  if (element.includes('/')) return cidrContains(parseCIDR(element), addr);
  const e = parseIP(element);
  return !!e && e.family === addr.family && e.value === addr.value;
}

function portIn(element: string, port: number): boolean {
  const [lo, hi] = element.split('-').map(Number);
  return hi === undefined ? port === lo : port >= lo && port <= hi;
}

function inSet(rs: Ruleset, name: string, key: string[]): boolean {
  const set = rs.sets.get(name);
  if (!set) throw new Error(`tracer: no set ${name}`);
  return set.some((el) => {
    const parts = el.split(' . ').map((s) => s.trim());
    if (parts.length !== key.length)
      throw new Error(`tracer: set ${name} element ${el} does not fit ${key.join(' . ')}`);
    return parts.every((p, i) => {
      if (/^(tcp|udp|sctp)$/.test(p)) return p === key[i];
      if (/^[\d-]+$/.test(p) && !p.includes('.')) return portIn(p, Number(key[i]));
      return addrIn(p, key[i]);
    });
  });
}

function literalMatches(token: string, ip: string): boolean {
  if (token.startsWith('{')) {
    return token
      .slice(1, -1)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .some((c) => addrIn(c, ip));
  }
  return addrIn(token, ip);
}

type Outcome = { verdict: TraceVerdict } | { ret: true } | undefined;

/** Runs a chain; returns a terminal verdict, a return, or undefined (fell off the end of a regular chain). */
function runChain(rs: Ruleset, name: string, pkt: Packet, depth: number): Outcome {
  if (depth > 16) throw new Error('tracer: chain depth');
  const chain = rs.chains.get(name);
  if (!chain) throw new Error(`tracer: no chain ${name}`);
  const fam = pkt.daddr.includes(':') ? 'ip6' : 'ip';
  rules: for (const tokens of chain.rules) {
    let i = 0;
    while (i < tokens.length) {
      const t = tokens[i];
      if (t === 'icmpv6') {
        // Traced packets are TCP, UDP or SCTP.
        continue rules;
      } else if (t === 'ct' && tokens[i + 1] === 'state') {
        // The first packet of a connection is "new": this match fails.
        continue rules;
      } else if (t === 'ip' || t === 'ip6') {
        if (t !== fam) continue rules;
        const field = tokens[i + 1];
        const addr = field === 'saddr' ? pkt.saddr : pkt.daddr;
        if (tokens[i + 2] === 'vmap') {
          const target = rs.maps.get(tokens[i + 3].slice(1))?.get(addr);
          i += 4;
          if (target === undefined) continue;
          const [verb, chainName] = target.split(' ');
          if (verb !== 'jump') throw new Error(`tracer: verdict ${target}`);
          const out = runChain(rs, chainName, pkt, depth + 1);
          if (out && 'verdict' in out) return out;
          continue;
        }
        if (tokens[i + 2] === '.') {
          // ip daddr . meta l4proto . th dport @set
          if (tokens.slice(i + 3, i + 8).join(' ') !== 'meta l4proto . th dport')
            throw new Error(`tracer: ${tokens.join(' ')}`);
          if (!inSet(rs, tokens[i + 8].slice(1), [addr, pkt.protocol, String(pkt.dport)])) continue rules;
          i += 9;
          continue;
        }
        if (tokens[i + 2] === '!=') {
          if (literalMatches(tokens[i + 3], addr)) continue rules;
          i += 4;
          continue;
        }
        const v = tokens[i + 2];
        const hit = v.startsWith('@') ? inSet(rs, v.slice(1), [addr]) : literalMatches(v, addr);
        if (!hit) continue rules;
        i += 3;
      } else if (t === 'meta' && tokens[i + 1] === 'l4proto' && tokens[i + 2]?.startsWith('{')) {
        const protos = tokens[i + 2]
          .slice(1, -1)
          .split(',')
          .map((x) => x.trim());
        if (!protos.includes(pkt.protocol)) continue rules;
        i += 3;
      } else if (
        t === 'meta' &&
        tokens[i + 1] === 'l4proto' &&
        /^(tcp|udp|sctp)$/.test(tokens[i + 2] ?? '')
      ) {
        if (tokens[i + 2] !== pkt.protocol) continue rules;
        i += 3;
      } else if (t === 'update' && tokens[i + 1]?.startsWith('@')) {
        // Records the packet in a dynamic set: no effect on the verdict.
        i += 3;
      } else if (t === 'meta' && tokens.slice(i, i + 5).join(' ') === 'meta l4proto . th dport') {
        if (!inSet(rs, tokens[i + 5].slice(1), [pkt.protocol, String(pkt.dport)])) continue rules;
        i += 6;
      } else if (t === 'limit') {
        // limit rate N/second: under the rate in a trace.
        i += 3;
      } else if (t === 'log') {
        i++;
        while (i < tokens.length && ['prefix', 'group', 'level'].includes(tokens[i])) i += 2;
      } else if (t === 'comment') {
        i += 2;
      } else if (t === 'return') {
        return { ret: true };
      } else if (t === 'accept' || t === 'drop') {
        return { verdict: t };
      } else if (t === 'reject') {
        return { verdict: 'reject' };
      } else {
        throw new Error(`tracer: cannot read "${t}" in: ${tokens.join(' ')}`);
      }
    }
  }
  return chain.hook ? { verdict: chain.policy } : undefined;
}

/** The verdict of a base chain (by hook) for the first packet of a connection. */
export function trace(rs: Ruleset, hook: 'forward' | 'input', pkt: Packet): TraceVerdict {
  const base = [...rs.chains.entries()].find(([, c]) => c.hook === hook);
  if (!base) return 'accept';
  const out = runChain(rs, base[0], pkt, 0);
  return out && 'verdict' in out ? out.verdict : base[1].policy;
}
