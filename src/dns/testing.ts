/**
 * For tests: run the real `dig` against a server on loopback and read its answer the way a user reads it.
 * Never points at anything but the address it is given.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface DigResult {
  status: string;
  flags: string[];
  /** Records as dig prints them, whitespace collapsed: "web.default.svc.cluster.local. 5 IN A 10.95.0.10". */
  answer: string[];
  authority: string[];
  additional: string[];
  /** The EDNS line, e.g. "; EDNS: version: 0, flags:; udp: 1232". */
  edns?: string;
  raw: string;
}

export async function dig(server: string, port: number, args: string[]): Promise<DigResult> {
  const { stdout } = await run('dig', [`@${server}`, '-p', String(port), '+tries=1', '+time=3', ...args], {
    timeout: 15_000,
  });
  return parseDig(stdout);
}

export function parseDig(out: string): DigResult {
  const r: DigResult = { status: '', flags: [], answer: [], authority: [], additional: [], raw: out };
  let section: 'answer' | 'authority' | 'additional' | undefined;
  for (const line of out.split('\n')) {
    const st = /status: ([A-Z]+)/.exec(line);
    if (st) r.status = st[1];
    const fl = /^;; flags: ([a-z ]*);/.exec(line);
    if (fl) r.flags = fl[1].trim().split(/\s+/);
    if (line.startsWith('; EDNS:')) r.edns = line;
    if (line.startsWith(';; ANSWER SECTION')) section = 'answer';
    else if (line.startsWith(';; AUTHORITY SECTION')) section = 'authority';
    else if (line.startsWith(';; ADDITIONAL SECTION')) section = 'additional';
    else if (line.trim() === '' || line.startsWith(';')) {
      if (line.trim() === '') section = undefined;
    } else if (section) r[section].push(line.trim().replace(/\s+/g, ' '));
  }
  return r;
}
