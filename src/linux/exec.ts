/**
 * Running the kernel's tools. Everything in twill that changes the kernel goes through here, so that a failure
 * always reads the same way: a LinuxError with a stable code, the command line, and the tool's own message.
 *
 * A network namespace is named either by its name under /var/run/netns ("twill-t-a") or by a path
 * ("/proc/1234/ns/net", the CNI_NETNS a runtime hands over). Commands for another namespace run under
 * `nsenter --net=PATH`: it works for both forms, and it changes only the network namespace (sysctls under
 * /proc/sys/net follow the namespace of the process that reads them).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { execFile } from 'node:child_process';
import { ErrorCodes } from '../util/errors.js';

/** The codes src/linux uses, from the one catalogue in src/util/errors.ts. */
export const LinuxErrorCodes = {
  MissingDependency: ErrorCodes.MissingDependency,
  CommandFailed: ErrorCodes.LinuxCommandFailed,
  NotFound: ErrorCodes.LinuxNotFound,
  Exists: ErrorCodes.LinuxExists,
  Refused: ErrorCodes.LinuxRefused,
} as const;

export type LinuxErrorCode = (typeof LinuxErrorCodes)[keyof typeof LinuxErrorCodes];

export class LinuxError extends Error {
  constructor(
    readonly code: LinuxErrorCode,
    message: string,
    /** The argv that failed, when one ran. */
    readonly command?: string[],
    /** The tool's stderr, trimmed. */
    readonly stderr?: string,
  ) {
    super(message);
    this.name = 'LinuxError';
  }
}

/** A network namespace: a name under /var/run/netns, or a path to a namespace file. */
export type Netns = string;

export const NETNS_RUN_DIR = '/var/run/netns';

export function netnsPath(netns: Netns): string {
  return netns.includes('/') ? netns : `${NETNS_RUN_DIR}/${netns}`;
}

/** The argv that runs argv inside netns (or as is when netns is undefined). Pure. */
export function inNetns(netns: Netns | undefined, argv: string[]): string[] {
  return netns === undefined ? argv : ['nsenter', `--net=${netnsPath(netns)}`, ...argv];
}

const ambientNetns = new AsyncLocalStorage<Netns>();

/**
 * Runs fn with `netns` standing for "here" in every call under it that names no namespace: the node agent
 * serving a CNI plugin's request in-process (the thick plugin) for a node namespace it does not run in.
 */
export function withDefaultNetns<T>(netns: Netns | undefined, fn: () => T): T {
  return netns === undefined ? fn() : ambientNetns.run(netns, fn);
}

/** The namespace a call that names none works in: withDefaultNetns's, else undefined (this process's). */
export function defaultNetns(): Netns | undefined {
  return ambientNetns.getStore();
}

export interface RunOptions {
  netns?: Netns;
  /** Written to the command's stdin. */
  input?: string;
}

// Messages of iproute2 and the kernel (RTNETLINK answers / Error: ...) mapped to our codes.
const NOT_FOUND = [
  /does not exist/i,
  /Cannot find device/i,
  /No such device/i,
  /No such process/i,
  /No such file or directory/i,
  /Cannot assign requested address/i,
  /Address not found/i,
];
const EXISTS = [/File exists/i, /already exists/i, /already assigned/i];

export function classify(stderr: string): LinuxErrorCode {
  if (EXISTS.some((r) => r.test(stderr))) return LinuxErrorCodes.Exists;
  if (NOT_FOUND.some((r) => r.test(stderr))) return LinuxErrorCodes.NotFound;
  return LinuxErrorCodes.CommandFailed;
}

/** Runs argv (in netns when given); resolves with stdout, rejects with a LinuxError. */
export function run(argv: string[], opts: RunOptions = {}): Promise<string> {
  const full = inNetns(opts.netns ?? ambientNetns.getStore(), argv);
  return new Promise((resolve, reject) => {
    const child = execFile(
      full[0],
      full.slice(1),
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'ENOENT') {
          return reject(
            new LinuxError(LinuxErrorCodes.MissingDependency, `${full[0]} is not installed`, full, ''),
          );
        }
        const text = stderr.trim() || e.message;
        reject(new LinuxError(classify(text), `${full.join(' ')}: ${text}`, full, text));
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** True when err is a LinuxError with that code. */
export function isLinuxError(err: unknown, code?: LinuxErrorCode): err is LinuxError {
  return err instanceof LinuxError && (code === undefined || err.code === code);
}

/**
 * Runs several `ip` commands in one process (`ip -batch -`), for paths where every exec counts (a CNI ADD):
 * argv lists without the leading "ip". Stops at the first failing command; the error names its line.
 */
export async function ipBatch(
  commands: string[][],
  opts: { netns?: Netns; force?: boolean } = {},
): Promise<void> {
  if (commands.length === 0) return;
  for (const c of commands) {
    if (c.some((a) => a === '' || /[\s"'\\#]/.test(a))) {
      throw new LinuxError(
        LinuxErrorCodes.Refused,
        `ip batch argument cannot be quoted: ${JSON.stringify(c)}`,
      );
    }
  }
  const argv = ['ip', ...(opts.force ? ['-force'] : []), '-batch', '-'];
  await run(argv, { netns: opts.netns, input: commands.map((c) => c.join(' ')).join('\n') + '\n' });
}
