/**
 * The plugin contract, as CoreDNS's plugin.Handler: `serve(request, next)` answers or calls the next plugin of
 * its server block. The order of plugins in a chain is not the order in the Corefile but the one list in
 * ./plugins.ts (CoreDNS's plugin.cfg).
 */
import { Class, Rcode } from './codec/constants.js';
import { emptyMessage, type Edns, type Message, type RR } from './codec/message.js';
import type { Directive } from './corefile/parse.js';

export interface Request {
  /** The decoded query; exactly one question. */
  msg: Message;
  raw: Buffer;
  /** The question's name in lower case (matching is case-insensitive); msg.questions[0].name keeps its case. */
  qname: string;
  qtype: number;
  qclass: number;
  proto: 'udp' | 'tcp';
  remote: { address: string; port: number };
  /** The largest response the client takes over this transport. */
  size: number;
  /** The server block zone that matched the question. */
  zone: string;
}

/** A plugin may answer synchronously (memoised answers); callers `await` either. */
export type Next = (req: Request) => Message | Promise<Message>;

export interface Plugin {
  readonly name: string;
  serve(req: Request, next: Next): Message | Promise<Message>;
  /** Runs after every plugin of every block is set up, before the first query. */
  start?(): Promise<void>;
  stop?(): Promise<void>;
  /** Called once the block's plugins exist, in chain order (autopath finds kubernetes here). */
  link?(blockPlugins: Plugin[]): void;
  /** For the ready plugin: false until the plugin can answer (e.g. the kubernetes informers synced). */
  ready?(): boolean;
}

/** What a plugin's setup gets besides its own directive. */
export interface SetupContext {
  /** The zones of the server block (lower-case FQDNs). */
  zones: string[];
  /** Where the block listens, "HOST:PORT". */
  listen: string;
  /** Shared services of the DNS process (the API feed, HTTP listeners, metrics, every block's plugins). */
  shared: SharedServices;
  /** The server block's other directives, for plugins that look at their neighbours (loop, autopath). */
  block: Directive[];
}

export interface SharedServices {
  /** Returns the same object for the same key across blocks and reloads (informers, HTTP listeners). */
  singleton<T>(key: string, make: () => T): T;
  /** Every plugin of the current configuration (ready and health ask them). */
  plugins(): Plugin[];
  /** Sends a query to this process's own server (the loop plugin). */
  selfQuery?(name: string, qtype: number): Promise<Message | undefined>;
}

export type Setup = (d: Directive, ctx: SetupContext) => Plugin;

/** A response skeleton for a request: its id, opcode, RD and question, QR set. */
export function reply(req: Request, rcode: number = Rcode.NOERROR): Message {
  const m = emptyMessage(req.msg.id);
  m.qr = true;
  m.opcode = req.msg.opcode;
  m.rd = req.msg.rd;
  m.cd = req.msg.cd;
  m.rcode = rcode;
  m.questions = req.msg.questions;
  return m;
}

export function answerWith(
  req: Request,
  rcode: number,
  answers: RR[],
  authority: RR[] = [],
  additional: RR[] = [],
  aa = true,
): Message {
  const m = reply(req, rcode);
  m.aa = aa;
  m.answers = answers;
  m.authority = authority;
  m.additional = additional;
  return m;
}

export const serverEdns = (udpSize = 1232): Edns => ({
  udpSize,
  extRcode: 0,
  version: 0,
  dnssecOk: false,
  options: [],
});

export function isIN(req: Request): boolean {
  return req.qclass === Class.IN;
}

/** Whether name (lower FQDN) is zone or below it. */
export function inZone(name: string, zone: string): boolean {
  if (zone === '.' || name === zone) return true;
  // name ends with "." + zone, without building that string (this runs for every query).
  const at = name.length - zone.length;
  return at > 0 && name.charCodeAt(at - 1) === 46 && name.endsWith(zone);
}

/** The most specific of zones that holds name. */
export function matchZone(name: string, zones: string[]): string | undefined {
  let best: string | undefined;
  for (const z of zones) if (inZone(name, z) && (!best || z.length > best.length)) best = z;
  return best;
}
