import fs from 'node:fs';
import { LinuxError, LinuxErrorCodes, type Netns, defaultNetns, run } from './exec.js';

/**
 * "net.ipv4.ip_forward" → "net/ipv4/ip_forward". A key written with slashes is taken as is, so that interface
 * names with dots ("net/ipv6/conf/eth0.100/accept_dad") survive. Pure.
 */
export function sysctlPath(key: string): string {
  const rel = key.includes('/')
    ? key.replace(/^\/+/, '').replace(/^proc\/sys\//, '')
    : key.replace(/\./g, '/');
  if (rel.split('/').some((p) => p === '..' || p === '')) {
    throw new LinuxError(LinuxErrorCodes.Refused, `invalid sysctl key ${JSON.stringify(key)}`);
  }
  return rel;
}

/** Reads a sysctl (in netns when given: /proc/sys/net follows the namespace of the reading process). */
export async function sysctlRead(key: string, opts: { netns?: Netns } = {}): Promise<string> {
  const rel = sysctlPath(key);
  if (opts.netns === undefined && defaultNetns() === undefined) {
    try {
      return fs.readFileSync(`/proc/sys/${rel}`, 'utf8').trim();
    } catch (err) {
      throw new LinuxError(LinuxErrorCodes.NotFound, `sysctl ${key}: ${(err as Error).message}`);
    }
  }
  return (await run(['sysctl', '-n', rel], opts)).trim();
}

/** Writes a sysctl. */
export async function sysctlWrite(key: string, value: string, opts: { netns?: Netns } = {}): Promise<void> {
  const rel = sysctlPath(key);
  if (opts.netns === undefined && defaultNetns() === undefined) {
    try {
      fs.writeFileSync(`/proc/sys/${rel}`, value);
      return;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const code = e.code === 'ENOENT' ? LinuxErrorCodes.NotFound : LinuxErrorCodes.CommandFailed;
      throw new LinuxError(code, `sysctl ${key}=${value}: ${e.message}`);
    }
  }
  await run(['sysctl', '-q', '-w', `${rel}=${value}`], opts);
}
