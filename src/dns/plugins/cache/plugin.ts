/**
 * cache: keeps what the rest of the chain answered, positive (NOERROR with answers) and negative (NXDOMAIN, and
 * NOERROR without answers, for the SOA's minimum as RFC 2308 says), each with a capacity, a ceiling and a
 * floor on the TTL, as CoreDNS's cache does:
 *
 *   cache [TTL] [ZONES...] {
 *     success CAPACITY [TTL] [MINTTL]     # default 9984, 3600, 5
 *     denial CAPACITY [TTL] [MINTTL]      # default 9984, 1800, 5
 *     prefetch AMOUNT [[DURATION] [PERCENTAGE%]]   # default 1, 1m, 10%
 *     serve_stale [DURATION] [immediate|verify]    # default 1h, immediate
 *     disable success|denial [ZONES...]
 *   }
 *
 * A hit answers with every TTL set to what is left. The answer for one second of age is memoised, so the
 * server sends bytes it already encoded for all the hits of that second. At capacity the oldest entry goes.
 */
import { Rcode, Type } from '../../codec/constants.js';
import type { Message, SoaData } from '../../codec/message.js';
import { argErr, parseDuration, parseServerKey, parseUint, type Directive } from '../../corefile/parse.js';
import { dnsMetrics } from '../../metrics.js';
import { inZone, matchZone, type Next, type Plugin, type Request, type SetupContext } from '../../plugin.js';
import { logger } from '../../../util/log.js';

const log = logger('dns.cache');

export interface CacheConfig {
  zones: string[];
  success: { capacity: number; maxTtl: number; minTtl: number };
  denial: { capacity: number; maxTtl: number; minTtl: number };
  prefetch?: { amount: number; durationMs: number; percentage: number };
  serveStale?: { durationMs: number; verify: boolean };
  disableSuccess?: string[];
  disableDenial?: string[];
}

type Kind = 'success' | 'denial';

interface Entry {
  msg: Message;
  kind: Kind;
  storedMs: number;
  ttl: number;
  hits: number;
  windowStartMs: number;
  refreshing?: boolean;
}

export function parseCache(d: Directive, blockZones: string[]): CacheConfig {
  const c: CacheConfig = {
    zones: blockZones,
    success: { capacity: 9984, maxTtl: 3600, minTtl: 5 },
    denial: { capacity: 9984, maxTtl: 1800, minTtl: 5 },
  };
  const args = [...d.args];
  if (args.length && /^\d+$/.test(args[0])) {
    const ttl = parseUint(d, args.shift()!);
    if (ttl === 0) throw argErr(d, 'cache TTL can not be zero');
    c.success.maxTtl = ttl;
    c.denial.maxTtl = ttl;
    if (ttl < c.success.minTtl) c.success.minTtl = ttl;
    if (ttl < c.denial.minTtl) c.denial.minTtl = ttl;
  }
  if (args.length) c.zones = args.map((a) => parseServerKey(a, d.line).zone);
  for (const o of d.block) {
    switch (o.name) {
      case 'success':
      case 'denial': {
        if (o.args.length < 1 || o.args.length > 3) throw argErr(o);
        const t = c[o.name];
        t.capacity = parseUint(o, o.args[0]);
        if (o.args[1] !== undefined) t.maxTtl = parseUint(o, o.args[1]);
        if (o.args[2] !== undefined) t.minTtl = parseUint(o, o.args[2]);
        break;
      }
      case 'prefetch': {
        if (o.args.length < 1 || o.args.length > 3) throw argErr(o);
        const p = { amount: parseUint(o, o.args[0]), durationMs: 60_000, percentage: 10 };
        if (p.amount < 1) throw argErr(o, 'prefetch amount should be positive');
        for (const a of o.args.slice(1)) {
          const pct = /^(\d+)%$/.exec(a);
          if (pct) {
            p.percentage = Number(pct[1]);
            if (p.percentage > 100) throw argErr(o, 'percentage should fall in range [0, 100]');
          } else p.durationMs = parseDuration(o, a);
        }
        c.prefetch = p;
        break;
      }
      case 'serve_stale': {
        if (o.args.length > 2) throw argErr(o);
        const s = { durationMs: 3_600_000, verify: false };
        if (o.args[0]) s.durationMs = parseDuration(o, o.args[0]);
        if (o.args[1]) {
          if (o.args[1] !== 'immediate' && o.args[1] !== 'verify')
            throw argErr(o, `invalid value for serve_stale refresh mode: ${o.args[1]}`);
          s.verify = o.args[1] === 'verify';
        }
        c.serveStale = s;
        break;
      }
      case 'disable': {
        if (o.args.length < 1 || (o.args[0] !== 'success' && o.args[0] !== 'denial')) throw argErr(o);
        const zones = o.args.length > 1 ? o.args.slice(1).map((a) => parseServerKey(a, o.line).zone) : ['.'];
        if (o.args[0] === 'success') c.disableSuccess = zones;
        else c.disableDenial = zones;
        break;
      }
      case 'servfail':
      case 'keepttl':
        break;
      default:
        throw argErr(o, `unknown property '${o.name}'`);
    }
  }
  return c;
}

/** What kind of answer a response is and for how long it may be kept (seconds), or undefined: not cacheable. */
export function classify(m: Message, c: CacheConfig): { kind: Kind; ttl: number } | undefined {
  if (m.tc) return undefined;
  let kind: Kind;
  let ttl: number;
  if (m.rcode === Rcode.NOERROR && m.answers.length) {
    kind = 'success';
    ttl = Math.min(...m.answers.map((r) => r.ttl), ...m.authority.map((r) => r.ttl));
  } else if (m.rcode === Rcode.NXDOMAIN || (m.rcode === Rcode.NOERROR && !m.answers.length)) {
    kind = 'denial';
    const soa = m.authority.find((r) => r.type === Type.SOA);
    if (!soa) return undefined;
    ttl = Math.min(soa.ttl, (soa.data as SoaData).minimum);
  } else return undefined;
  const t = c[kind];
  return { kind, ttl: Math.max(t.minTtl, Math.min(t.maxTtl, ttl)) };
}

/** A Map that can also drop a random entry in O(1): keys in an array, each entry knowing its slot. */
class RandomMap<T> {
  private readonly map = new Map<string, { v: T; i: number }>();
  private readonly keys: string[] = [];

  get size(): number {
    return this.map.size;
  }

  get(k: string): T | undefined {
    return this.map.get(k)?.v;
  }

  set(k: string, v: T): void {
    const cur = this.map.get(k);
    if (cur) cur.v = v;
    else {
      this.map.set(k, { v, i: this.keys.length });
      this.keys.push(k);
    }
  }

  delete(k: string): void {
    const cur = this.map.get(k);
    if (!cur) return;
    this.map.delete(k);
    const last = this.keys.pop()!;
    if (last !== k) {
      this.keys[cur.i] = last;
      this.map.get(last)!.i = cur.i;
    }
  }

  deleteRandom(): void {
    if (this.keys.length) this.delete(this.keys[Math.floor(Math.random() * this.keys.length)]);
  }
}

export class CachePlugin implements Plugin {
  readonly name = 'cache';
  private readonly entries: Record<Kind, RandomMap<Entry>> = {
    success: new RandomMap(),
    denial: new RandomMap(),
  };
  now: () => number = () => Date.now();

  // Metric children bound once: label lookups per hit would cost more than the hit itself.
  private readonly hits: Record<Kind, { inc(): void }>;

  constructor(
    readonly config: CacheConfig,
    private readonly server: string,
  ) {
    this.hits = {
      success: dnsMetrics.cacheHits.labels({ server, type: 'success' }),
      denial: dnsMetrics.cacheHits.labels({ server, type: 'denial' }),
    };
  }

  private key(req: Request): string {
    return `${req.qtype}/${req.qclass}/${req.msg.edns?.dnssecOk ? 1 : 0}${req.msg.cd ? 1 : 0}/${req.qname}`;
  }

  private lookupEntry(key: string): Entry | undefined {
    return this.entries.success.get(key) ?? this.entries.denial.get(key);
  }

  /** Synchronous on a fresh hit, so the server can answer in the same tick. */
  serve(req: Request, next: Next): Message | Promise<Message> {
    if (!matchZone(req.qname, this.config.zones)) return next(req);
    const key = this.key(req);
    const e = this.lookupEntry(key);
    const now = this.now();
    if (e) {
      const ageMs = now - e.storedMs;
      const left = e.ttl - Math.floor(ageMs / 1000);
      if (left > 0) {
        this.hits[e.kind].inc();
        this.maybePrefetch(req, next, key, e, left, now);
        return this.view(e, Math.floor(ageMs / 1000), left);
      }
    }
    return this.serveSlow(req, next, key, e, now);
  }

  private async serveSlow(
    req: Request,
    next: Next,
    key: string,
    e: Entry | undefined,
    now: number,
  ): Promise<Message> {
    if (e) {
      const ageMs = now - e.storedMs;
      const stale = this.config.serveStale;
      if (stale && ageMs - e.ttl * 1000 <= stale.durationMs) {
        if (stale.verify) {
          try {
            const fresh = await next(req);
            if (fresh.rcode !== Rcode.SERVFAIL) return this.store(key, fresh, now);
          } catch {
            // fall through to the stale answer
          }
        } else this.refresh(req, next, key, e);
        dnsMetrics.cacheServedStale.inc({ server: this.server });
        return this.view(e, -1, 0);
      }
      this.entries[e.kind].delete(key);
    }
    dnsMetrics.cacheMisses.inc({ server: this.server });
    return this.store(key, await next(req), now);
  }

  private disabled(kind: Kind, qname: string): boolean {
    const zones = kind === 'success' ? this.config.disableSuccess : this.config.disableDenial;
    return !!zones?.some((z) => inZone(qname, z));
  }

  private store(key: string, m: Message, now: number): Message {
    const c = classify(m, this.config);
    const q = m.questions[0];
    if (
      !c ||
      !q ||
      this.disabled(c.kind, key.slice(key.lastIndexOf('/') + 1)) ||
      this.config[c.kind].capacity === 0
    )
      return m;
    const map = this.entries[c.kind];
    const other = this.entries[c.kind === 'success' ? 'denial' : 'success'];
    other.delete(key);
    map.delete(key);
    // At capacity a random entry goes, as in CoreDNS: evicting the oldest would make a cyclic working set a
    // little larger than the cache miss every time.
    if (map.size >= this.config[c.kind].capacity) map.deleteRandom();
    const e: Entry = { msg: m, kind: c.kind, storedMs: now, ttl: c.ttl, hits: 0, windowStartMs: now };
    map.set(key, e);
    dnsMetrics.cacheEntries.set({ server: this.server, type: c.kind }, map.size);
    // As CoreDNS, the first answer already carries the capped TTL, so clients see no jump on the next one.
    return this.view(e, 0, c.ttl);
  }

  /**
   * The entry's answer with every TTL capped at what is left (stale: 0). The stored Message itself is returned
   * with ttlCap set, so the server keeps one encoding for the entry's life and patches the TTL fields; a plugin
   * that reads records itself applies ttlCap (autopath does).
   */
  private view(e: Entry, _age: number, left: number): Message {
    e.msg.ttlCap = left;
    return e.msg;
  }

  private maybePrefetch(req: Request, next: Next, key: string, e: Entry, left: number, now: number): void {
    const p = this.config.prefetch;
    if (!p) return;
    if (now - e.windowStartMs > p.durationMs) {
      e.windowStartMs = now;
      e.hits = 0;
    }
    e.hits++;
    if (e.hits >= p.amount && left <= Math.ceil((e.ttl * p.percentage) / 100)) {
      dnsMetrics.cachePrefetch.inc({ server: this.server });
      this.refresh(req, next, key, e);
    }
  }

  private refresh(req: Request, next: Next, key: string, e: Entry): void {
    if (e.refreshing) return;
    e.refreshing = true;
    Promise.resolve(next(req)).then(
      (m) => {
        e.refreshing = false;
        if (m.rcode !== Rcode.SERVFAIL) this.store(key, m, this.now());
      },
      (err: Error) => {
        e.refreshing = false;
        log.warn({ qname: req.qname, err: err.message }, 'cache refresh failed');
      },
    );
  }

  size(): { success: number; denial: number } {
    return { success: this.entries.success.size, denial: this.entries.denial.size };
  }
}

export function setupCache(d: Directive, ctx: SetupContext): CachePlugin {
  return new CachePlugin(parseCache(d, ctx.zones), `dns://${ctx.listen}`);
}
