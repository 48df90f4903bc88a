/**
 * The DNS server: UDP and TCP on one address, each question dispatched to the server block whose zone holds it
 * (the most specific), then through that block's plugin chain.
 *
 * Speed: a response Message that a plugin returns again for the same question (the kubernetes plugin and the
 * cache keep theirs) is encoded once; later requests copy those bytes and patch only the ID, the RD bit and
 * the question (whose bytes come from the request, so the answer is in the question's case, and owners that
 * point at it by compression follow it). That keeps per-query work to a parse of the header and question.
 *
 * RFC behaviour: a packet shorter than a header, or a response (QR=1), is dropped; one that does not parse is
 * FORMERR (RFC 1035 §4.1.1), as is one without exactly one question; an opcode other than QUERY is NOTIMP; an
 * EDNS version above 0 is BADVERS (RFC 6891 §6.1.3); a question no block serves is REFUSED; zone transfers are
 * REFUSED. Over UDP a response larger than the client's EDNS size (or 512) is cut to its header and question
 * with TC set, and the client retries over TCP, where it gets everything.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { Rcode, Opcode, Type } from '../codec/constants.js';
import {
  decode,
  decodeSimpleQuery,
  emptyMessage,
  encode,
  lowerName,
  patchTtls,
  type Message,
} from '../codec/message.js';
import { matchZone, serverEdns, type Next, type Request } from '../plugin.js';
import { logger } from '../../util/log.js';
import { ErrorCodes, TwillError } from '../../util/errors.js';

const log = logger('dns');

export interface ServerBlockRuntime {
  zones: string[];
  handler: Next;
}

/** The UDP payload size we advertise and cap clients at (DNS flag day 2020). */
export const SERVER_UDP_SIZE = 1232;
const TCP_IDLE_MS = 10_000;

interface Template {
  qname: string;
  qtype: number;
  plain?: Buffer;
  edns?: Buffer;
  /** (offset, TTL) of every record, the same in both encodings (the OPT record comes last). */
  ttlAt: number[];
}

const templates = new WeakMap<Message, Template>();

/** Length on the wire of the uncompressed name at off, or -1. */
function nameLength(buf: Buffer, off: number): number {
  let p = off;
  while (p < buf.length) {
    const l = buf[p];
    if (l === 0) return p + 1 - off;
    if (l & 0xc0) return -1;
    p += l + 1;
  }
  return -1;
}

export class DnsServer {
  private udp?: dgram.Socket;
  private tcp?: net.Server;
  private readonly conns = new Set<net.Socket>();
  private blocks: ServerBlockRuntime[] = [];
  private zones: string[] = [];
  boundPort = 0;

  constructor(
    readonly host: string,
    readonly port: number,
    /** Names the flag or config the address came from, for the error when it is taken. */
    readonly origin = '--dns-listen',
  ) {}

  setBlocks(blocks: ServerBlockRuntime[]): void {
    this.blocks = blocks;
    this.zones = blocks.flatMap((b) => b.zones);
  }

  get address(): string {
    return net.isIPv6(this.host) ? `[${this.host}]:${this.boundPort}` : `${this.host}:${this.boundPort}`;
  }

  async listen(): Promise<void> {
    // Port 0: the UDP socket picks a port and TCP takes the same one (retried if it happens to be taken).
    for (let attempt = 0; ; attempt++) {
      const udp = dgram.createSocket({ type: net.isIPv6(this.host) ? 'udp6' : 'udp4', reuseAddr: false });
      try {
        await new Promise<void>((resolve, reject) => {
          udp.once('error', reject);
          udp.bind(this.port, this.host, () => {
            udp.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        udp.close();
        throw this.listenError(err as NodeJS.ErrnoException, 'udp');
      }
      const port = udp.address().port;
      const tcp = net.createServer((s) => this.serveTcp(s));
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen({ port, host: this.host, exclusive: true }, () => {
            tcp.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        udp.close();
        if (this.port === 0 && (err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 5) continue;
        throw this.listenError(err as NodeJS.ErrnoException, 'tcp');
      }
      udp.on('message', (msg, rinfo) => this.onUdp(udp, msg, rinfo));
      udp.on('error', (err) => log.warn({ err: err.message }, 'udp socket error'));
      this.udp = udp;
      this.tcp = tcp;
      this.boundPort = port;
      return;
    }
  }

  private listenError(err: NodeJS.ErrnoException, proto: string): TwillError {
    const where = net.isIPv6(this.host) ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`;
    const why =
      err.code === 'EADDRINUSE'
        ? 'the address is already in use (another DNS server?); choose another with'
        : err.code === 'EACCES'
          ? 'permission denied (ports below 1024 need root); choose another with'
          : `${err.message}; check`;
    return new TwillError(
      ErrorCodes.DnsListen,
      `DNS server cannot listen on ${proto} ${where}: ${why} ${this.origin}`,
      {
        cause: err,
      },
    );
  }

  async close(): Promise<void> {
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    for (const c of this.conns) c.destroy();
    await Promise.all([
      udp ? new Promise<void>((r) => udp.close(() => r())) : undefined,
      tcp ? new Promise<void>((r) => tcp.close(() => r())) : undefined,
    ]);
  }

  private onUdp(sock: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    let out: Buffer | undefined | Promise<Buffer | undefined>;
    try {
      out = this.handleSync(msg, 'udp', { address: rinfo.address, port: rinfo.port });
    } catch (err) {
      log.error({ err: (err as Error).message }, 'udp handler failed');
      return;
    }
    // Answers that need no waiting (memoised, cached) go out in this tick, without a promise.
    if (out instanceof Promise) {
      out.then(
        (b) => {
          if (b && this.udp === sock) sock.send(b, rinfo.port, rinfo.address);
        },
        (err: Error) => log.error({ err: err.message }, 'udp handler failed'),
      );
    } else if (out && this.udp === sock) sock.send(out, rinfo.port, rinfo.address);
  }

  private serveTcp(s: net.Socket): void {
    this.conns.add(s);
    s.setTimeout(TCP_IDLE_MS, () => s.destroy());
    s.on('close', () => this.conns.delete(s));
    s.on('error', () => s.destroy());
    let buf = Buffer.alloc(0);
    s.on('data', (chunk) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        this.handle(Buffer.from(msg), 'tcp', {
          address: s.remoteAddress ?? '',
          port: s.remotePort ?? 0,
        }).then(
          (out) => {
            if (!out || s.destroyed) return;
            const framed = Buffer.allocUnsafe(out.length + 2);
            framed.writeUInt16BE(out.length, 0);
            out.copy(framed, 2);
            s.write(framed);
          },
          (err: Error) => log.error({ err: err.message }, 'tcp handler failed'),
        );
      }
    });
  }

  /** One query in, one response out (undefined: drop). Never throws for bad input. */
  async handle(
    raw: Buffer,
    proto: 'udp' | 'tcp',
    remote: { address: string; port: number },
  ): Promise<Buffer | undefined> {
    return this.handleSync(raw, proto, remote);
  }

  /** handle(), but synchronous when the plugin chain answers synchronously. */
  handleSync(
    raw: Buffer,
    proto: 'udp' | 'tcp',
    remote: { address: string; port: number },
  ): Buffer | undefined | Promise<Buffer | undefined> {
    // Shorter than a header, or a response: dropped.
    if (raw.length < 12 || raw[2] & 0x80) return undefined;
    let msg: Message | undefined = decodeSimpleQuery(raw);
    if (!msg) {
      try {
        msg = decode(raw);
      } catch {
        return errorReply(raw.readUInt16BE(0), raw.readUInt16BE(2), Rcode.FORMERR);
      }
    }
    if (msg.opcode !== Opcode.QUERY) return encode(bare(msg, Rcode.NOTIMP));
    if (msg.questions.length !== 1) return encode(bare(msg, Rcode.FORMERR));
    if (msg.edns && msg.edns.version > 0) {
      const r = bare(msg, Rcode.BADVERS);
      r.edns = serverEdns(SERVER_UDP_SIZE);
      return encode(r);
    }
    const q = msg.questions[0];
    const size =
      proto === 'tcp' ? 65535 : msg.edns ? Math.min(Math.max(512, msg.edns.udpSize), SERVER_UDP_SIZE) : 512;
    if (q.type === Type.AXFR || q.type === Type.IXFR)
      return this.finish(msg, bare(msg, Rcode.REFUSED), size, raw);
    if (q.type === Type.MAILA || q.type === Type.MAILB)
      return this.finish(msg, bare(msg, Rcode.NOTIMP), size, raw);
    const qname = lowerName(q.name);
    const zone = matchZone(qname, this.zones);
    const block = zone === undefined ? undefined : this.blocks.find((b) => b.zones.includes(zone));
    if (!block || zone === undefined) return this.finish(msg, bare(msg, Rcode.REFUSED), size, raw);
    const req: Request = { msg, raw, qname, qtype: q.type, qclass: q.class, proto, remote, size, zone };
    const m = msg;
    const failed = (err: unknown) => {
      log.error({ err: (err as Error).message, qname, qtype: q.type }, 'plugin chain failed');
      return bare(m, Rcode.SERVFAIL);
    };
    let resp: Message | Promise<Message>;
    try {
      resp = block.handler(req);
    } catch (err) {
      resp = failed(err);
    }
    if (resp instanceof Promise) {
      return resp.catch(failed).then((r) => this.finish(m, r, size, raw, qname, q.type));
    }
    return this.finish(m, resp, size, raw, qname, q.type);
  }

  /** Encodes (or reuses the encoding of) a response, patches it for this request, truncates over UDP. */
  private finish(
    req: Message,
    resp: Message,
    size: number,
    raw: Buffer,
    qname?: string,
    qtype?: number,
  ): Buffer {
    const wantEdns = !!req.edns;
    const rq = resp.questions[0];
    const reusable = qname !== undefined && rq && rq.type === qtype && lowerName(rq.name) === qname;
    let out: Buffer;
    let ttlAt: number[] = [];
    if (reusable) {
      let t = templates.get(resp);
      if (!t || t.qname !== qname || t.qtype !== qtype) {
        templates.set(resp, (t = { qname: qname!, qtype: qtype!, ttlAt: [] }));
      }
      let wire = wantEdns ? t.edns : t.plain;
      if (!wire) {
        const saved = resp.edns;
        resp.edns = wantEdns ? serverEdns(SERVER_UDP_SIZE) : undefined;
        const at: number[] = [];
        wire = encode(resp, 512, at);
        resp.edns = saved;
        t.ttlAt = at;
        if (wantEdns) t.edns = wire;
        else t.plain = wire;
      }
      ttlAt = t.ttlAt;
      out = Buffer.allocUnsafe(wire.length);
      wire.copy(out);
      const qlen = nameLength(raw, 12);
      if (qlen > 0) raw.copy(out, 12, 12, 12 + qlen + 4);
    } else {
      const saved = resp.edns;
      resp.edns = wantEdns ? serverEdns(SERVER_UDP_SIZE) : undefined;
      out = encode(resp, 512, ttlAt);
      resp.edns = saved;
    }
    if (resp.ttlCap !== undefined) patchTtls(out, ttlAt, resp.ttlCap);
    out.writeUInt16BE(req.id, 0);
    // RD and CD are copied from the query (RFC 1035 §4.1.1, RFC 4035 §3.1.6); everything else is the answer's.
    out[2] = (out[2] & ~0x01) | (req.rd ? 0x01 : 0);
    out[3] = (out[3] & ~0x10) | (req.cd ? 0x10 : 0);
    const result = out.length > size ? truncated(req, out) : out;
    // RFC 3225: the DO bit of the query is copied into the response. Our OPT record has no options and comes
    // last, so its flags are the 4th and 3rd octets from the end.
    if (req.edns?.dnssecOk) result[result.length - 4] |= 0x80;
    return result;
  }
}

function bare(req: Message, rcode: number): Message {
  const m = emptyMessage(req.id);
  m.qr = true;
  m.opcode = req.opcode;
  m.rd = req.rd;
  m.rcode = rcode;
  m.questions = req.questions.slice(0, 1);
  return m;
}

/** FORMERR for a message we could not parse: the header only, its ID, opcode and RD kept. */
function errorReply(id: number, flags: number, rcode: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(0x8000 | (flags & 0x7900) | rcode, 2);
  return b;
}

/** Header and question only, TC set (RFC 2181 §9): the client asks again over TCP. */
function truncated(req: Message, full: Buffer): Buffer {
  const m = emptyMessage(req.id);
  m.questions = req.questions;
  m.edns = req.edns ? serverEdns(SERVER_UDP_SIZE) : undefined;
  const head = encode(m);
  // Keep the full response's flags (QR, AA, rcode), add TC.
  head.writeUInt16BE(full.readUInt16BE(2) | 0x200, 2);
  // Keep the request's question bytes (its case).
  return head;
}
