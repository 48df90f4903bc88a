/**
 * A stub upstream for tests and examples: a tiny authoritative server on loopback (UDP and TCP, port 0) that
 * answers A records from a table and NXDOMAIN otherwise, counts the questions it gets, and can be told to go
 * silent. It stands in for a real resolver, which tests never use.
 */
import { Rcode, Type } from './codec/constants.js';
import { emptyMessage, lowerName, type Message } from './codec/message.js';
import { DnsServer } from './server/server.js';
import type { Request } from './plugin.js';

export interface StubUpstream {
  port: number;
  /** Questions received, lower-case name → count. */
  seen: Map<string, number>;
  total(): number;
  /** While true, queries are dropped (an upstream that is down). */
  silent: boolean;
  records: Map<string, string[]>;
  stop(): Promise<void>;
}

export async function startStubUpstream(
  records: Record<string, string | string[]>,
  ttl = 60,
): Promise<StubUpstream> {
  const table = new Map(
    Object.entries(records).map(([k, v]) => [
      lowerName(k.endsWith('.') ? k : `${k}.`),
      Array.isArray(v) ? v : [v],
    ]),
  );
  const server = new DnsServer('127.0.0.1', 0, 'the stub upstream');
  const stub: StubUpstream = {
    port: 0,
    seen: new Map(),
    total: () => [...stub.seen.values()].reduce((a, b) => a + b, 0),
    silent: false,
    records: table,
    stop: () => server.close(),
  };
  const handler = async (req: Request): Promise<Message> => {
    stub.seen.set(req.qname, (stub.seen.get(req.qname) ?? 0) + 1);
    if (stub.silent) throw new Error('silent');
    const m = emptyMessage(req.msg.id);
    m.qr = true;
    m.ra = true;
    m.rd = req.msg.rd;
    m.questions = req.msg.questions;
    const ips = table.get(req.qname);
    if (req.qtype === Type.NS && req.qname === '.') {
      m.answers.push({ name: '.', type: Type.NS, class: 1, ttl, data: 'stub.test.' });
    } else if (!ips) {
      m.rcode = Rcode.NXDOMAIN;
      m.authority.push({
        name: '.',
        type: Type.SOA,
        class: 1,
        ttl,
        data: {
          mname: 'stub.test.',
          rname: 'hostmaster.stub.test.',
          serial: 1,
          refresh: 1,
          retry: 1,
          expire: 1,
          minimum: ttl,
        },
      });
    } else if (req.qtype === Type.A) {
      for (const ip of ips)
        m.answers.push({ name: req.msg.questions[0].name, type: Type.A, class: 1, ttl, data: ip });
    }
    return m;
  };
  server.setBlocks([
    {
      zones: ['.'],
      handler: async (req) => {
        const m = await handler(req);
        return m;
      },
    },
  ]);
  await server.listen();
  stub.port = server.boundPort;
  // A silent stub counts the question and answers nothing at all.
  const orig = server.handleSync.bind(server);
  server.handleSync = (raw, proto, remote) => {
    const r = orig(raw, proto, remote);
    if (!stub.silent) return r;
    if (r instanceof Promise) r.catch(() => undefined);
    return undefined;
  };
  return stub;
}
