/**
 * Delegation to an IPAM plugin, as libcni's invoke.DelegateAdd/Del/Check/Status/GC do it for the reference
 * plugins: find the executable named by ipam.type in CNI_PATH, run it with this process's environment and
 * CNI_COMMAND set to the operation, the network config we received on stdin unchanged, and read its stdout —
 * a result for ADD, a CNI error object when it exits non-zero (its code is passed up as is).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseResult } from '../skel/result.js';
import { CniError } from '../skel/types.js';
import type { Result } from '../skel/types.js';

/** Go's %v of a []string: [a b]. */
function goList(items: string[]): string {
  return `[${items.join(' ')}]`;
}

/** libcni's invoke.FindInPath. */
export function findInPath(plugin: string, paths: string[]): string {
  if (plugin === '') throw new CniError(0, 'no plugin name provided');
  if (plugin.includes(path.sep)) throw new CniError(0, `invalid plugin name: ${plugin}`);
  if (paths.length === 0) throw new CniError(0, 'no paths provided');
  for (const dir of paths) {
    const full = path.join(dir, plugin);
    try {
      if (fs.statSync(full).isFile()) return full;
    } catch {
      // not in this directory
    }
  }
  throw new CniError(0, `failed to find plugin "${plugin}" in path ${goList(paths)}`);
}

/** What libcni's RawExec makes of a failed plugin: its error object, or a description of what it printed. */
export function pluginError(status: string, stdout: string, stderr: string): CniError {
  if (stdout.trim() === '') {
    if (stderr.trim() === '') return new CniError(0, `netplugin failed with no error message: ${status}`);
    return new CniError(0, `netplugin failed: ${JSON.stringify(stderr)}`);
  }
  try {
    const e = JSON.parse(stdout) as { code?: unknown; msg?: unknown; details?: unknown };
    return new CniError(
      typeof e.code === 'number' ? e.code : 0,
      typeof e.msg === 'string' ? e.msg : '',
      typeof e.details === 'string' ? e.details : '',
    );
  } catch (err) {
    return new CniError(
      0,
      `netplugin failed but error parsing its diagnostic message ${JSON.stringify(stdout)}: ${(err as Error).message}`,
    );
  }
}

export type DelegateCommand = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC';

/**
 * The CNI environment of the request being served in-process (the agent's thick-plugin server): what a
 * delegate exec gets instead of the process's own environment.
 */
export const requestEnv = new AsyncLocalStorage<NodeJS.ProcessEnv>();

/** Runs the delegate; resolves with its stdout on success. */
export function execDelegate(
  plugin: string,
  command: DelegateCommand,
  stdinData: string,
  env: NodeJS.ProcessEnv = requestEnv.getStore() ?? process.env,
): Promise<string> {
  const paths = (env.CNI_PATH ?? '').split(path.delimiter).filter(Boolean);
  const file = findInPath(plugin, paths);
  return new Promise((resolve, reject) => {
    const child = spawn(file, [], { env: { ...env, CNI_COMMAND: command }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      // The delegate's logs are ours too: a runtime reads the chain's stderr.
      process.stderr.write(d);
    });
    child.on('error', (err) => reject(new CniError(0, `netplugin failed: ${err.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) return resolve(stdout);
      reject(pluginError(signal ? `signal: ${signal}` : `exit status ${code}`, stdout, stderr));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdinData);
  });
}

/** ipam.ExecAdd: the delegate's result, read into the current result shape whatever version it printed. */
export async function ipamAdd(plugin: string, stdinData: string, env?: NodeJS.ProcessEnv): Promise<Result> {
  const out = await execDelegate(plugin, 'ADD', stdinData, env);
  let parsed: unknown;
  try {
    parsed = JSON.parse(out);
  } catch (err) {
    throw new CniError(0, `failed to decode IPAM result: ${(err as Error).message}`);
  }
  try {
    return parseResult(parsed);
  } catch (err) {
    throw new CniError(0, `failed to convert IPAM result: ${(err as Error).message}`);
  }
}
