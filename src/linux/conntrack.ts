/**
 * Conntrack entries: the Services dataplane removes UDP flows that still point at an endpoint that is gone
 * (UDP has no end, so such a flow would keep sending a client's packets to a dead address), as kube-proxy does
 * with `conntrack -D`.
 */
import { type Netns, isLinuxError, LinuxErrorCodes, run } from './exec.js';

/** `conntrack -D` arguments for flows of one protocol to origDst, optionally only those NATed to dnatTo. Pure. */
export function conntrackDeleteArgs(
  proto: 'udp' | 'tcp' | 'sctp',
  origDst: string,
  dnatTo?: string,
): string[] {
  const argv = [
    'conntrack',
    '-D',
    '-p',
    proto,
    ...(origDst.includes(':') ? ['-f', 'ipv6'] : []),
    '--orig-dst',
    origDst,
  ];
  if (dnatTo) argv.push('--dst-nat', dnatTo);
  return argv;
}

/**
 * Deletes the matching flows; returns false when there were none (conntrack then exits 1, which is not a
 * failure here).
 */
export async function conntrackDelete(
  proto: 'udp' | 'tcp' | 'sctp',
  origDst: string,
  opts: { dnatTo?: string; netns?: Netns } = {},
): Promise<boolean> {
  try {
    await run(conntrackDeleteArgs(proto, origDst, opts.dnatTo), { netns: opts.netns });
    return true;
  } catch (err) {
    if (isLinuxError(err, LinuxErrorCodes.MissingDependency)) throw err;
    if (isLinuxError(err) && /0 flow entries have been deleted/.test(err.stderr ?? '')) return false;
    throw err;
  }
}
