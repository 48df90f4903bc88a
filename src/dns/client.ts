/** A minimal stub resolver: one question to one server over UDP or TCP, the decoded answer back. */
import dgram from 'node:dgram';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import { typeFromName } from './codec/constants.js';
import { decode, emptyMessage, encode, fqdn, type Message } from './codec/message.js';

export interface QueryOptions {
  tcp?: boolean;
  timeoutMs?: number;
  /** Add an OPT record with this UDP size. */
  edns?: number;
  rd?: boolean;
}

export async function query(
  server: string,
  port: number,
  name: string,
  type: string | number = 'A',
  o: QueryOptions = {},
): Promise<Message> {
  const m = emptyMessage(randomInt(65536));
  m.rd = o.rd ?? true;
  const t = typeof type === 'number' ? type : typeFromName(type);
  if (t === undefined) throw new Error(`unknown type ${type}`);
  m.questions.push({ name: fqdn(name), type: t, class: 1 });
  if (o.edns) m.edns = { udpSize: o.edns, extRcode: 0, version: 0, dnssecOk: false, options: [] };
  const wire = encode(m);
  const timeout = o.timeoutMs ?? 3000;
  const raw = o.tcp ? await viaTcp(server, port, wire, timeout) : await viaUdp(server, port, wire, timeout);
  return decode(raw);
}

function viaUdp(server: string, port: number, wire: Buffer, timeoutMs: number): Promise<Buffer> {
  const s = dgram.createSocket(net.isIPv6(server) ? 'udp6' : 'udp4');
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      s.close();
      reject(new Error(`no answer from ${server}:${port} in ${timeoutMs} ms`));
    }, timeoutMs);
    s.on('message', (b) => {
      if (b.length < 2 || b.readUInt16BE(0) !== wire.readUInt16BE(0)) return;
      clearTimeout(t);
      s.close();
      resolve(b);
    });
    s.send(wire, port, server);
  });
}

function viaTcp(server: string, port: number, wire: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: server, port });
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer from ${server}:${port} in ${timeoutMs} ms`));
    }, timeoutMs);
    s.on('connect', () => {
      const f = Buffer.alloc(2 + wire.length);
      f.writeUInt16BE(wire.length, 0);
      wire.copy(f, 2);
      s.write(f);
    });
    s.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        clearTimeout(t);
        s.destroy();
        resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      }
    });
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}
