/**
 * The DNS wire format of RFC 1035 §4, written by hand: the header, questions and resource records, with name
 * compression on write (§4.1.4) and loop-safe decompression on read, plus EDNS0's OPT pseudo-record (RFC 6891).
 *
 * Names are kept in presentation form, fully qualified ("web.default.svc.cluster.local."), with the bytes of a
 * label that would be ambiguous ('.', '\\', non-printables) escaped as \DDD or \. as zone files write them.
 * Matching is case-insensitive on ASCII only (RFC 4343), so `lowerName` never touches escapes.
 *
 * Decompression is safe against loops because a pointer must point strictly before the label that holds it:
 * every jump then moves backwards and the walk ends in at most len(message) steps. Names longer than 255
 * octets, label types 01/10 (RFC 6891 retired the extended ones) and reads past the end are FORMERR.
 *
 * Every parse failure is a TwillError with code TWILL_DNS_MALFORMED and nothing else (the fuzz test holds
 * the parser to that), so the server can answer FORMERR and go on.
 */
import { ErrorCodes, TwillError } from '../../util/errors.js';
import { Type } from './constants.js';
import { formatIPv4, formatIPv6, ipv4Bytes, ipv6Bytes } from './ip.js';

export interface Question {
  name: string;
  type: number;
  class: number;
}

export interface SrvData {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

export interface SoaData {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

export interface MxData {
  preference: number;
  exchange: string;
}

/**
 * A: dotted quad; AAAA: RFC 5952 text; NS/CNAME/PTR: a name; TXT: the character-strings (latin1);
 * SRV/SOA/MX: their fields; anything else: the raw RDATA.
 */
export type RData = string | string[] | SrvData | SoaData | MxData | Buffer;

export interface RR {
  name: string;
  type: number;
  class: number;
  ttl: number;
  data: RData;
}

export interface EdnsOption {
  code: number;
  data: Buffer;
}

/** The OPT pseudo-RR's meaning (RFC 6891 §6.1.3). */
export interface Edns {
  udpSize: number;
  /** The upper 8 bits of the 12-bit rcode. */
  extRcode: number;
  version: number;
  dnssecOk: boolean;
  options: EdnsOption[];
}

export interface Message {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  ad: boolean;
  cd: boolean;
  /** The full rcode; values above 15 are sent with their upper bits in the OPT record. */
  rcode: number;
  questions: Question[];
  answers: RR[];
  authority: RR[];
  /** Without the OPT record, which is `edns`. */
  additional: RR[];
  edns?: Edns;
  /**
   * When set, every record's TTL is sent as min(its TTL, ttlCap): the cache's time left, applied to the bytes
   * so that one encoding serves the entry's whole life.
   */
  ttlCap?: number;
}

export function malformed(why: string): TwillError {
  return new TwillError(ErrorCodes.DnsMalformed, `malformed DNS message: ${why}`);
}

export function emptyMessage(id = 0): Message {
  return {
    id,
    qr: false,
    opcode: 0,
    aa: false,
    tc: false,
    rd: false,
    ra: false,
    ad: false,
    cd: false,
    rcode: 0,
    questions: [],
    answers: [],
    authority: [],
    additional: [],
  };
}

// ---------- names ----------

/** ASCII-only lower case (RFC 4343): escapes and non-ASCII bytes stay as they are. */
export function lowerName(name: string): string {
  // Fast path: most names have no upper-case letters.
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) return name.replace(/[A-Z]/g, (ch) => ch.toLowerCase());
  }
  return name;
}

/** Fully qualifies a presentation name: "a.b" → "a.b.", "" → ".". */
export function fqdn(name: string): string {
  if (name === '' || name === '.') return '.';
  return name.endsWith('.') && !name.endsWith('\\.') ? name : `${name}.`;
}

/** Splits a presentation name into its labels' bytes (root: []). Throws on a label > 63 or a name > 255. */
export function nameToLabels(name: string): Buffer[] {
  const labels: Buffer[] = [];
  if (name === '.' || name === '') return labels;
  let cur: number[] = [];
  let total = 1;
  const push = () => {
    if (cur.length === 0) throw malformed(`empty label in "${name}"`);
    if (cur.length > 63) throw malformed(`label longer than 63 octets in "${name}"`);
    total += cur.length + 1;
    labels.push(Buffer.from(cur));
    cur = [];
  };
  for (let i = 0; i < name.length; i++) {
    const ch = name.charCodeAt(i);
    if (ch === 0x5c) {
      const d = name.slice(i + 1, i + 4);
      if (/^\d{3}$/.test(d) && Number(d) < 256) {
        cur.push(Number(d));
        i += 3;
      } else if (i + 1 < name.length) {
        cur.push(name.charCodeAt(i + 1) & 0xff);
        i += 1;
      } else throw malformed(`dangling escape in "${name}"`);
    } else if (ch === 0x2e) {
      push();
    } else cur.push(ch & 0xff);
  }
  if (cur.length) push();
  if (total > 255) throw malformed(`name longer than 255 octets`);
  return labels;
}

function labelText(buf: Buffer, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c === 0x2e || c === 0x5c) s += `\\${String.fromCharCode(c)}`;
    else if (c < 0x21 || c > 0x7e) s += `\\${c.toString().padStart(3, '0')}`;
    else s += String.fromCharCode(c);
  }
  return s;
}

/** Reads a (possibly compressed) name at off: the name and the offset just after it in the original stream. */
export function readName(buf: Buffer, off: number): { name: string; next: number } {
  let name = '';
  let pos = off;
  let next = -1;
  let octets = 1;
  // Every pointer must go strictly below the lowest position read so far: termination without a counter.
  let floor = off;
  while (true) {
    if (pos >= buf.length) throw malformed('name runs past the end');
    const len = buf[pos];
    if (len === 0) {
      if (next < 0) next = pos + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= buf.length) throw malformed('compression pointer runs past the end');
      const ptr = ((len & 0x3f) << 8) | buf[pos + 1];
      if (next < 0) next = pos + 2;
      if (ptr >= floor) throw malformed('compression pointer does not point backwards (loop)');
      floor = ptr;
      pos = ptr;
      continue;
    }
    if (kind !== 0) throw malformed(`unsupported label type 0x${kind.toString(16)}`);
    if (pos + 1 + len > buf.length) throw malformed('label runs past the end');
    octets += len + 1;
    if (octets > 255) throw malformed('name longer than 255 octets');
    name += `${labelText(buf, pos + 1, pos + 1 + len)}.`;
    pos += 1 + len;
  }
  return { name: name || '.', next };
}

// ---------- writer ----------

/** A growable buffer with a compression table (lower-cased suffix → offset). */
export class Writer {
  buf: Buffer;
  len = 0;
  private readonly table = new Map<string, number>();

  constructor(size = 512) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const b = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(b, 0, 0, this.len);
    this.buf = b;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v;
  }

  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v & 0xffff, this.len);
    this.len += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
  }

  bytes(b: Buffer): void {
    this.ensure(b.length);
    b.copy(this.buf, this.len);
    this.len += b.length;
  }

  /** Writes a name, compressed against what was written before unless compress is false. */
  name(name: string, compress = true): void {
    const labels = nameToLabels(name);
    for (let i = 0; i < labels.length; i++) {
      const suffix = compress ? suffixKey(labels, i) : '';
      if (compress) {
        const at = this.table.get(suffix);
        if (at !== undefined) {
          this.u16(0xc000 | at);
          return;
        }
        if (this.len < 0x3fff) this.table.set(suffix, this.len);
      }
      this.u8(labels[i].length);
      this.bytes(labels[i]);
    }
    this.u8(0);
  }

  /** Makes later names compress against a name already present at `offset` (e.g. a question copied in). */
  remember(name: string, offset: number): void {
    const labels = nameToLabels(name);
    let at = offset;
    for (let i = 0; i < labels.length; i++) {
      if (at < 0x3fff && !this.table.has(suffixKey(labels, i))) this.table.set(suffixKey(labels, i), at);
      at += labels[i].length + 1;
    }
  }

  result(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

function suffixKey(labels: Buffer[], from: number): string {
  let s = '';
  for (let i = from; i < labels.length; i++) s += `${labels[i].toString('latin1').toLowerCase()}.`;
  return s;
}

function writeRData(w: Writer, rr: RR): void {
  const d = rr.data;
  switch (rr.type) {
    case Type.A: {
      const b = ipv4Bytes(d as string);
      if (!b) throw malformed(`bad A address "${String(d)}"`);
      w.bytes(b);
      return;
    }
    case Type.AAAA: {
      const b = ipv6Bytes(d as string);
      if (!b) throw malformed(`bad AAAA address "${String(d)}"`);
      w.bytes(b);
      return;
    }
    case Type.NS:
    case Type.CNAME:
    case Type.PTR:
      w.name(d as string);
      return;
    case Type.MX: {
      const mx = d as MxData;
      w.u16(mx.preference);
      w.name(mx.exchange);
      return;
    }
    case Type.SRV: {
      const s = d as SrvData;
      w.u16(s.priority);
      w.u16(s.weight);
      w.u16(s.port);
      // RFC 2782: the target is not compressed.
      w.name(s.target, false);
      return;
    }
    case Type.SOA: {
      const s = d as SoaData;
      w.name(s.mname);
      w.name(s.rname);
      w.u32(s.serial);
      w.u32(s.refresh);
      w.u32(s.retry);
      w.u32(s.expire);
      w.u32(s.minimum);
      return;
    }
    case Type.TXT: {
      for (const str of d as string[]) {
        const b = Buffer.from(str, 'latin1');
        if (b.length > 255) throw malformed('TXT string longer than 255 octets');
        w.u8(b.length);
        w.bytes(b);
      }
      return;
    }
    default:
      w.bytes(d as Buffer);
  }
}

export function writeRR(w: Writer, rr: RR, ttlAt?: number[]): void {
  w.name(rr.name);
  w.u16(rr.type);
  w.u16(rr.class);
  ttlAt?.push(w.len, rr.ttl);
  w.u32(rr.ttl);
  const lenAt = w.len;
  w.u16(0);
  writeRData(w, rr);
  w.buf.writeUInt16BE(w.len - lenAt - 2, lenAt);
}

function writeOpt(w: Writer, e: Edns, rcode: number): void {
  w.u8(0); // root
  w.u16(Type.OPT);
  w.u16(e.udpSize);
  w.u8((rcode >> 4) & 0xff);
  w.u8(e.version);
  w.u16(e.dnssecOk ? 0x8000 : 0);
  const lenAt = w.len;
  w.u16(0);
  for (const o of e.options) {
    w.u16(o.code);
    w.u16(o.data.length);
    w.bytes(o.data);
  }
  w.buf.writeUInt16BE(w.len - lenAt - 2, lenAt);
}

export function flagsOf(m: Message): number {
  return (
    (m.qr ? 0x8000 : 0) |
    ((m.opcode & 0xf) << 11) |
    (m.aa ? 0x400 : 0) |
    (m.tc ? 0x200 : 0) |
    (m.rd ? 0x100 : 0) |
    (m.ra ? 0x80 : 0) |
    (m.ad ? 0x20 : 0) |
    (m.cd ? 0x10 : 0) |
    (m.rcode & 0xf)
  );
}

/**
 * Encodes a message; the OPT record (if `edns`) goes last in the additional section. ttlAt, if given, gets
 * (offset, TTL) pairs of every record's TTL field, for patchTtls.
 */
export function encode(m: Message, sizeHint = 512, ttlAt?: number[]): Buffer {
  const w = new Writer(sizeHint);
  w.u16(m.id);
  w.u16(flagsOf(m));
  w.u16(m.questions.length);
  w.u16(m.answers.length);
  w.u16(m.authority.length);
  w.u16(m.additional.length + (m.edns ? 1 : 0));
  for (const q of m.questions) {
    w.name(q.name);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const rr of m.answers) writeRR(w, rr, ttlAt);
  for (const rr of m.authority) writeRR(w, rr, ttlAt);
  for (const rr of m.additional) writeRR(w, rr, ttlAt);
  if (m.edns) writeOpt(w, m.edns, m.rcode);
  return Buffer.from(w.result());
}

/** Writes min(TTL, cap) at each (offset, TTL) pair that encode() recorded. */
export function patchTtls(wire: Buffer, ttlAt: number[], cap: number): void {
  for (let i = 0; i < ttlAt.length; i += 2) wire.writeUInt32BE(Math.min(ttlAt[i + 1], cap) >>> 0, ttlAt[i]);
}

// ---------- reader ----------

function need(buf: Buffer, off: number, n: number, what: string): void {
  if (off + n > buf.length) throw malformed(`${what} runs past the end`);
}

function readRData(buf: Buffer, type: number, off: number, len: number): RData {
  const end = off + len;
  const nameIn = (at: number): { name: string; next: number } => {
    const r = readName(buf, at);
    if (r.next > end) throw malformed('name runs past its RDATA');
    return r;
  };
  switch (type) {
    case Type.A:
      if (len !== 4) throw malformed('A RDATA is not 4 octets');
      return formatIPv4(buf, off);
    case Type.AAAA:
      if (len !== 16) throw malformed('AAAA RDATA is not 16 octets');
      return formatIPv6(buf, off);
    case Type.NS:
    case Type.CNAME:
    case Type.PTR: {
      const r = nameIn(off);
      if (r.next !== end) throw malformed('trailing octets after a name in RDATA');
      return r.name;
    }
    case Type.MX: {
      if (len < 3) throw malformed('MX RDATA too short');
      const r = nameIn(off + 2);
      if (r.next !== end) throw malformed('trailing octets in MX RDATA');
      return { preference: buf.readUInt16BE(off), exchange: r.name };
    }
    case Type.SRV: {
      if (len < 7) throw malformed('SRV RDATA too short');
      const r = nameIn(off + 6);
      if (r.next !== end) throw malformed('trailing octets in SRV RDATA');
      return {
        priority: buf.readUInt16BE(off),
        weight: buf.readUInt16BE(off + 2),
        port: buf.readUInt16BE(off + 4),
        target: r.name,
      };
    }
    case Type.SOA: {
      const a = nameIn(off);
      const b = nameIn(a.next);
      if (b.next + 20 !== end) throw malformed('SOA RDATA has the wrong length');
      return {
        mname: a.name,
        rname: b.name,
        serial: buf.readUInt32BE(b.next),
        refresh: buf.readUInt32BE(b.next + 4),
        retry: buf.readUInt32BE(b.next + 8),
        expire: buf.readUInt32BE(b.next + 12),
        minimum: buf.readUInt32BE(b.next + 16),
      };
    }
    case Type.TXT: {
      const out: string[] = [];
      let p = off;
      while (p < end) {
        const l = buf[p];
        if (p + 1 + l > end) throw malformed('TXT string runs past its RDATA');
        out.push(buf.toString('latin1', p + 1, p + 1 + l));
        p += 1 + l;
      }
      return out;
    }
    default:
      return Buffer.from(buf.subarray(off, end));
  }
}

/** The 12-octet header alone; undefined when the packet is shorter (such packets are dropped). */
export function readHeader(buf: Buffer): { id: number; flags: number; counts: number[] } | undefined {
  if (buf.length < 12) return undefined;
  return {
    id: buf.readUInt16BE(0),
    flags: buf.readUInt16BE(2),
    counts: [buf.readUInt16BE(4), buf.readUInt16BE(6), buf.readUInt16BE(8), buf.readUInt16BE(10)],
  };
}

/**
 * Decodes a whole message. Throws TWILL_DNS_MALFORMED for anything RFC 1035/6891 makes a format error:
 * counts that do not match the data, trailing garbage, a bad name, more than one OPT or an OPT that is not
 * in the additional section or not owned by the root.
 */
export function decode(buf: Buffer): Message {
  const h = readHeader(buf);
  if (!h) throw malformed('shorter than a header');
  const f = h.flags;
  const m: Message = {
    id: h.id,
    qr: (f & 0x8000) !== 0,
    opcode: (f >> 11) & 0xf,
    aa: (f & 0x400) !== 0,
    tc: (f & 0x200) !== 0,
    rd: (f & 0x100) !== 0,
    ra: (f & 0x80) !== 0,
    ad: (f & 0x20) !== 0,
    cd: (f & 0x10) !== 0,
    rcode: f & 0xf,
    questions: [],
    answers: [],
    authority: [],
    additional: [],
  };
  let off = 12;
  const [qd, an, ns, ar] = h.counts;
  // Each question takes at least 5 octets and each RR at least 11: refuse impossible counts before looping.
  if (12 + qd * 5 + (an + ns + ar) * 11 > buf.length) throw malformed('section counts exceed the message');
  for (let i = 0; i < qd; i++) {
    const r = readName(buf, off);
    need(buf, r.next, 4, 'question');
    m.questions.push({ name: r.name, type: buf.readUInt16BE(r.next), class: buf.readUInt16BE(r.next + 2) });
    off = r.next + 4;
  }
  const sections: [RR[], number, boolean][] = [
    [m.answers, an, false],
    [m.authority, ns, false],
    [m.additional, ar, true],
  ];
  for (const [list, count, isAdditional] of sections) {
    for (let i = 0; i < count; i++) {
      const r = readName(buf, off);
      need(buf, r.next, 10, 'resource record');
      const type = buf.readUInt16BE(r.next);
      const cls = buf.readUInt16BE(r.next + 2);
      const ttl = buf.readUInt32BE(r.next + 4);
      const rdlen = buf.readUInt16BE(r.next + 8);
      const rdOff = r.next + 10;
      need(buf, rdOff, rdlen, 'RDATA');
      off = rdOff + rdlen;
      if (type === Type.OPT) {
        if (!isAdditional) throw malformed('OPT outside the additional section');
        if (m.edns) throw malformed('more than one OPT record');
        if (r.name !== '.') throw malformed('OPT not owned by the root');
        const options: EdnsOption[] = [];
        for (let p = rdOff; p < off;) {
          need(buf, p, 4, 'EDNS option');
          const code = buf.readUInt16BE(p);
          const len = buf.readUInt16BE(p + 2);
          if (p + 4 + len > off) throw malformed('EDNS option runs past its RDATA');
          options.push({ code, data: Buffer.from(buf.subarray(p + 4, p + 4 + len)) });
          p += 4 + len;
        }
        m.edns = {
          udpSize: cls,
          extRcode: ttl >>> 24,
          version: (ttl >>> 16) & 0xff,
          dnssecOk: (ttl & 0x8000) !== 0,
          options,
        };
        m.rcode |= (ttl >>> 24) << 4;
        continue;
      }
      list.push({ name: r.name, type, class: cls, ttl, data: readRData(buf, type, rdOff, rdlen) });
    }
  }
  if (off !== buf.length) throw malformed('trailing octets after the last record');
  return m;
}

const PLAIN_LABEL_CHAR = (() => {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) {
    t[c] =
      (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 95 ? 1 : 0;
  }
  return t;
})();

/**
 * The common query, read without the general decoder: one question whose name has only letters, digits, '-'
 * and '_', no other records but perhaps an OPT without options. Anything else returns undefined and goes to
 * decode(), which gives the same Message for these packets (the fast path is checked against it in tests).
 */
export function decodeSimpleQuery(buf: Buffer): Message | undefined {
  const len = buf.length;
  if (len < 17 || len > 512) return undefined;
  if (
    buf[4] !== 0 ||
    buf[5] !== 1 ||
    buf[6] !== 0 ||
    buf[7] !== 0 ||
    buf[8] !== 0 ||
    buf[9] !== 0 ||
    buf[10] !== 0
  ) {
    return undefined;
  }
  const ar = buf[11];
  if (ar > 1) return undefined;
  let p = 12;
  let name = '';
  for (;;) {
    const l = buf[p];
    if (l === 0) break;
    if (l > 63 || p + 1 + l >= len) return undefined;
    for (let i = p + 1; i <= p + l; i++) if (!PLAIN_LABEL_CHAR[buf[i]]) return undefined;
    name += buf.toString('latin1', p + 1, p + 1 + l) + '.';
    p += l + 1;
  }
  if (name.length > 254) return undefined;
  p++;
  if (p + 4 > len) return undefined;
  const type = (buf[p] << 8) | buf[p + 1];
  const cls = (buf[p + 2] << 8) | buf[p + 3];
  p += 4;
  const f = (buf[2] << 8) | buf[3];
  const m: Message = {
    id: (buf[0] << 8) | buf[1],
    qr: (f & 0x8000) !== 0,
    opcode: (f >> 11) & 0xf,
    aa: (f & 0x400) !== 0,
    tc: (f & 0x200) !== 0,
    rd: (f & 0x100) !== 0,
    ra: (f & 0x80) !== 0,
    ad: (f & 0x20) !== 0,
    cd: (f & 0x10) !== 0,
    rcode: f & 0xf,
    questions: [{ name: name || '.', type, class: cls }],
    answers: [],
    authority: [],
    additional: [],
  };
  if (ar === 0) return p === len ? m : undefined;
  // OPT: root name, type 41, class = UDP size, TTL = ext rcode/version/flags, RDLENGTH 0.
  if (
    p + 11 !== len ||
    buf[p] !== 0 ||
    buf[p + 1] !== 0 ||
    buf[p + 2] !== 41 ||
    buf[p + 9] !== 0 ||
    buf[p + 10] !== 0
  ) {
    return undefined;
  }
  m.edns = {
    udpSize: (buf[p + 3] << 8) | buf[p + 4],
    extRcode: buf[p + 5],
    version: buf[p + 6],
    dnssecOk: (buf[p + 7] & 0x80) !== 0,
    options: [],
  };
  m.rcode |= buf[p + 5] << 4;
  return m;
}
