/**
 * forward: sends what the rest of the chain does not answer to upstream resolvers, as CoreDNS's forward does.
 *
 *   forward FROM TO... {          # TO: IP[:PORT], dns://IP[:PORT], or a resolv.conf-style file
 *     except NAMES...
 *     force_tcp | prefer_udp
 *     max_fails N                 # default 2; an upstream with N failures in a row is down
 *     health_check DURATION [no_rec] [domain NAME]   # default 0.5s; checks run while an upstream is down
 *     policy random|round_robin|sequential           # default random
 *     max_concurrent N            # more queries in flight than this are REFUSED
 *     expire DURATION             # accepted (connections are not pooled)
 *   }
 *
 * Each upstream has one UDP socket; queries get a fresh ID so that answers are matched to them, and the client's
 * ID goes back on the way out. A truncated UDP answer is asked again over TCP (unless prefer_udp). When every
 * upstream is down, one is tried anyway, as CoreDNS does, so that a recovery is seen.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import { Rcode, Type } from '../../codec/constants.js';
import { decode, emptyMessage, encode, lowerName, type Message } from '../../codec/message.js';
import { argErr, parseDuration, parseServerKey, parseUint, type Directive } from '../../corefile/parse.js';
import { dnsMetrics } from '../../metrics.js';
import { inZone, reply, type Next, type Plugin, type Request, type SetupContext } from '../../plugin.js';
import { logger } from '../../../util/log.js';

const log = logger('dns.forward');

export type Policy = 'random' | 'round_robin' | 'sequential';

export interface ForwardConfig {
  from: string;
  to: { host: string; port: number }[];
  except: string[];
  forceTcp: boolean;
  preferUdp: boolean;
  maxFails: number;
  healthCheckMs: number;
  healthRecursion: boolean;
  healthDomain: string;
  policy: Policy;
  maxConcurrent: number;
  timeoutMs: number;
}

function parseUpstream(d: Directive, s: string): { host: string; port: number }[] {
  let t = s;
  if (t.startsWith('dns://')) t = t.slice(6);
  else if (/^[a-z+]+:\/\//.test(t)) throw argErr(d, `only dns:// upstreams are supported: ${s}`);
  if (net.isIP(t)) return [{ host: t, port: 53 }];
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(t);
  if (m && net.isIP(m[1] ?? m[2])) {
    const port = Number(m[3]);
    if (port < 1 || port > 65535) throw argErr(d, `invalid port in ${s}`);
    return [{ host: m[1] ?? m[2], port }];
  }
  // A file in resolv.conf format: its nameservers.
  let text: string;
  try {
    text = fs.readFileSync(t, 'utf8');
  } catch {
    throw argErr(d, `not an IP address or file: "${s}"`);
  }
  // A file without nameservers leaves this forward without upstreams (SERVFAIL), as an empty resolv.conf
  // should not keep the cluster zone from being served.
  return [...text.matchAll(/^\s*nameserver\s+(\S+)/gm)]
    .map((x) => x[1])
    .filter((ip) => net.isIP(ip))
    .map((host) => ({ host, port: 53 }));
}

export function parseForward(d: Directive): ForwardConfig {
  if (d.args.length < 2) throw argErr(d);
  const c: ForwardConfig = {
    from: parseServerKey(d.args[0], d.line).zone,
    to: d.args.slice(1).flatMap((a) => parseUpstream(d, a)),
    except: [],
    forceTcp: false,
    preferUdp: false,
    maxFails: 2,
    healthCheckMs: 500,
    healthRecursion: true,
    healthDomain: '.',
    policy: 'random',
    maxConcurrent: 0,
    timeoutMs: 2000,
  };
  if (c.to.length > 15) throw argErr(d, 'more than 15 upstreams');
  for (const o of d.block) {
    switch (o.name) {
      case 'except':
        if (!o.args.length) throw argErr(o);
        c.except = o.args.map((a) => parseServerKey(a, o.line).zone);
        break;
      case 'force_tcp':
        c.forceTcp = true;
        break;
      case 'prefer_udp':
        c.preferUdp = true;
        break;
      case 'max_fails':
        if (o.args.length !== 1) throw argErr(o);
        c.maxFails = parseUint(o, o.args[0]);
        break;
      case 'health_check':
        if (!o.args.length) throw argErr(o);
        c.healthCheckMs = parseDuration(o, o.args[0]);
        for (let i = 1; i < o.args.length; i++) {
          if (o.args[i] === 'no_rec') c.healthRecursion = false;
          else if (o.args[i] === 'domain' && o.args[i + 1])
            c.healthDomain = parseServerKey(o.args[++i], o.line).zone;
          else throw argErr(o, `health_check: unknown option ${o.args[i]}`);
        }
        break;
      case 'policy':
        if (o.args.length !== 1 || !['random', 'round_robin', 'sequential'].includes(o.args[0])) {
          throw argErr(o, `unknown policy '${o.args.join(' ')}'`);
        }
        c.policy = o.args[0] as Policy;
        break;
      case 'max_concurrent':
        if (o.args.length !== 1) throw argErr(o);
        c.maxConcurrent = parseUint(o, o.args[0]);
        break;
      case 'expire':
        if (o.args.length !== 1) throw argErr(o);
        parseDuration(o, o.args[0]);
        break;
      default:
        throw argErr(o, `unknown property '${o.name}'`);
    }
  }
  // Both given: force_tcp takes precedence (CoreDNS's documented rule).
  if (c.forceTcp) c.preferUdp = false;
  return c;
}

/** One upstream: a UDP socket with queries matched by ID, TCP per query, a failure count and health checks. */
export class Upstream {
  fails = 0;
  private udp?: dgram.Socket;
  private readonly pending = new Map<number, (b: Buffer) => void>();
  private checking?: NodeJS.Timeout;
  private closed = false;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly cfg: ForwardConfig,
  ) {}

  get addr(): string {
    return net.isIPv6(this.host) ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`;
  }

  down(): boolean {
    return this.cfg.maxFails > 0 && this.fails >= this.cfg.maxFails;
  }

  private socket(): dgram.Socket {
    if (this.udp) return this.udp;
    const s = dgram.createSocket(net.isIPv6(this.host) ? 'udp6' : 'udp4');
    s.on('message', (msg, rinfo) => {
      if (msg.length < 12 || rinfo.port !== this.port) return;
      const cb = this.pending.get(msg.readUInt16BE(0));
      if (cb) cb(msg);
    });
    s.on('error', (err) => log.warn({ to: this.addr, err: err.message }, 'upstream socket error'));
    s.unref();
    this.udp = s;
    return s;
  }

  /** Sends a query (its ID replaced in flight) and returns the raw answer with the query's ID back. */
  exchange(query: Buffer, tcp: boolean, timeoutMs: number): Promise<Buffer> {
    if (this.closed) return Promise.reject(new Error('upstream closed'));
    dnsMetrics.forwardRequests.inc({ to: this.addr });
    return tcp ? this.exchangeTcp(query, timeoutMs) : this.exchangeUdp(query, timeoutMs);
  }

  private exchangeUdp(query: Buffer, timeoutMs: number): Promise<Buffer> {
    const sock = this.socket();
    let id = randomInt(65536);
    for (let i = 0; this.pending.has(id) && i < 100; i++) id = randomInt(65536);
    if (this.pending.has(id)) return Promise.reject(new Error('too many queries in flight'));
    const out = Buffer.from(query);
    const origId = query.readUInt16BE(0);
    out.writeUInt16BE(id, 0);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`timeout after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, (b) => {
        // The answer must be to our question: same question section as what we sent.
        if (!sameQuestion(out, b)) return;
        clearTimeout(timer);
        this.pending.delete(id);
        const r = Buffer.from(b);
        r.writeUInt16BE(origId, 0);
        resolve(r);
      });
      sock.send(out, this.port, this.host, (err) => {
        if (err) {
          clearTimeout(timer);
          this.pending.delete(id);
          reject(err);
        }
      });
    });
  }

  private exchangeTcp(query: Buffer, timeoutMs: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: this.host, port: this.port });
      let buf = Buffer.alloc(0);
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`timeout after ${timeoutMs} ms`));
      }, timeoutMs);
      s.on('connect', () => {
        const framed = Buffer.allocUnsafe(query.length + 2);
        framed.writeUInt16BE(query.length, 0);
        query.copy(framed, 2);
        s.write(framed);
      });
      s.on('data', (c) => {
        buf = Buffer.concat([buf, c]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          clearTimeout(timer);
          s.destroy();
          resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        }
      });
      s.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      s.on('close', () => {
        clearTimeout(timer);
        reject(new Error('connection closed before an answer'));
      });
    });
  }

  failed(): void {
    this.fails++;
    if (!this.checking && !this.closed && this.cfg.healthCheckMs > 0) {
      this.checking = setInterval(() => void this.check(), this.cfg.healthCheckMs);
      this.checking.unref();
    }
  }

  succeeded(): void {
    this.fails = 0;
    if (this.checking) clearInterval(this.checking);
    this.checking = undefined;
  }

  /** CoreDNS's health check: `<domain> IN NS`, any answer at all means alive. */
  async check(): Promise<boolean> {
    const m = emptyMessage(0);
    m.rd = this.cfg.healthRecursion;
    m.questions.push({ name: this.cfg.healthDomain, type: Type.NS, class: 1 });
    try {
      await this.exchange(encode(m), this.cfg.forceTcp, Math.min(1000, this.cfg.timeoutMs));
      this.succeeded();
      return true;
    } catch {
      dnsMetrics.forwardHealthcheckFailures.inc({ to: this.addr });
      this.fails++;
      return false;
    }
  }

  close(): void {
    this.closed = true;
    if (this.checking) clearInterval(this.checking);
    this.udp?.close();
    this.udp = undefined;
  }
}

function sameQuestion(q: Buffer, a: Buffer): boolean {
  if (a.length < 12 || a.readUInt16BE(4) !== q.readUInt16BE(4)) return false;
  // Compare the question section bytes case-insensitively (servers may change case, RFC 4343 allows it).
  let p = 12;
  while (p < q.length && q[p] !== 0) p += q[p] + 1;
  const end = p + 5;
  if (a.length < end) return false;
  for (let i = 12; i < end; i++) {
    const x = q[i] >= 65 && q[i] <= 90 ? q[i] | 0x20 : q[i];
    const y = a[i] >= 65 && a[i] <= 90 ? a[i] | 0x20 : a[i];
    if (x !== y) return false;
  }
  return true;
}

export class ForwardPlugin implements Plugin {
  readonly name = 'forward';
  readonly upstreams: Upstream[];
  private rr = 0;
  private inflight = 0;

  constructor(readonly config: ForwardConfig) {
    this.upstreams = config.to.map((t) => new Upstream(t.host, t.port, config));
  }

  private order(): Upstream[] {
    const u = this.upstreams;
    let list: Upstream[];
    if (this.config.policy === 'sequential') list = [...u];
    else if (this.config.policy === 'round_robin') {
      const k = this.rr++ % u.length;
      list = [...u.slice(k), ...u.slice(0, k)];
    } else {
      list = [...u];
      for (let i = list.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [list[i], list[j]] = [list[j], list[i]];
      }
    }
    const up = list.filter((x) => !x.down());
    // All down: try one anyway (CoreDNS picks at random), so a recovered upstream is found.
    return up.length ? up : list.slice(0, 1);
  }

  async serve(req: Request, next: Next): Promise<Message> {
    if (!inZone(req.qname, this.config.from) || this.config.except.some((z) => inZone(req.qname, z))) {
      return next(req);
    }
    if (this.config.maxConcurrent && this.inflight >= this.config.maxConcurrent) {
      dnsMetrics.forwardMaxConcurrentRejects.inc();
      return reply(req, Rcode.REFUSED);
    }
    if (!this.upstreams.length) return reply(req, Rcode.SERVFAIL);
    this.inflight++;
    try {
      const deadline = Date.now() + 5000;
      let lastErr: Error | undefined;
      for (const u of this.order()) {
        if (Date.now() >= deadline) break;
        const tcp = this.config.forceTcp || (req.proto === 'tcp' && !this.config.preferUdp);
        try {
          let raw = await u.exchange(req.raw, tcp, this.config.timeoutMs);
          let m = decode(raw);
          // A truncated answer goes back to a UDP client as it is (it retries over TCP); a TCP client that we
          // asked over UDP (prefer_udp) gets the full answer from a second try over TCP, as CoreDNS does.
          if (m.tc && !tcp && req.proto === 'tcp') {
            raw = await u.exchange(req.raw, true, this.config.timeoutMs);
            m = decode(raw);
          }
          u.succeeded();
          if (m.questions[0] && lowerName(m.questions[0].name) !== req.qname)
            throw new Error('answer to another question');
          m.questions = req.msg.questions;
          return m;
        } catch (err) {
          lastErr = err as Error;
          u.failed();
          log.debug({ to: u.addr, err: lastErr.message }, 'upstream failed');
        }
      }
      log.warn({ qname: req.qname, err: lastErr?.message }, 'no upstream answered');
      return reply(req, Rcode.SERVFAIL);
    } finally {
      this.inflight--;
    }
  }

  async stop(): Promise<void> {
    for (const u of this.upstreams) u.close();
  }
}

export function setupForward(d: Directive, ctx: SetupContext): ForwardPlugin {
  const c = parseForward(d);
  // A resolv.conf that names this very server would be a loop: leave such upstreams out.
  const own = ctx.listen;
  const to = c.to.filter((u) => `${u.host}:${u.port}` !== own);
  if (!to.length)
    log.warn({ listen: own }, 'no upstream (none given, or only this server); forwarded names get SERVFAIL');
  return new ForwardPlugin({ ...c, to });
}
