/**
 * The runtime side of CNI, as libcni (github.com/containernetworking/cni/libcni) does it for containerd and
 * CRI-O, so twill-cni and the reference plugins see exactly what a kubelet's runtime would give them:
 *
 * - the network is the first config file of the conf dir in name order (`.conflist`, or a single-plugin `.conf`
 *   / `.json` read as a list of one), as go-cni picks its default network;
 * - each plugin is exec'd from CNI_PATH with CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_ARGS, CNI_IFNAME and
 *   CNI_PATH, its config being the list's plugin entry with `name`, `cniVersion` and (after the first plugin)
 *   `prevResult` injected — buildOneConfig;
 * - the final ADD result is cached in `<cacheDir>/results/<network>-<containerID>-<ifName>` as libcni's
 *   `cniCacheV1` record; DEL runs the plugins in reverse with that cached result as `prevResult`, then removes
 *   the record;
 * - GC first DELs every cached attachment of the network that is not in the valid list, then (1.1 configs)
 *   sends GC to every plugin with `cni.dev/valid-attachments`; STATUS asks every plugin in order.
 *
 * Errors are libcni's: `plugin type="twill-cni" name="pods" failed (add): <msg>`, with the plugin's CNI code.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { findInPath, pluginError } from '../cni/bridge/delegate.js';
import { parseResult } from '../cni/skel/result.js';
import { CniError, type GCAttachment, type Result } from '../cni/skel/types.js';
import { greaterThanOrEqualTo } from '../cni/skel/version.js';
import { logger } from '../util/log.js';

const log = logger('agent-cni');

type Json = Record<string, unknown>;

export interface NetworkConfigList {
  name: string;
  cniVersion: string;
  disableCheck: boolean;
  disableGC: boolean;
  plugins: Json[];
  /** The file it came from, and its bytes (cached with each attachment as libcni does). */
  file: string;
  bytes: string;
}

/** One invocation's runtime arguments (libcni's RuntimeConf). */
export interface RuntimeConf {
  containerID: string;
  netns: string;
  ifName: string;
  /** CNI_ARGS pairs, e.g. K8S_POD_NAME. */
  args?: Array<[string, string]>;
  /**
   * Capability arguments (`portMappings`, ...): each plugin gets, as `runtimeConfig`, those of them its
   * `capabilities` declares true.
   */
  capabilityArgs?: Record<string, unknown>;
}

export interface CniRuntimeOptions {
  /** CNI_PATH: where plugins are found. */
  binDirs: string[];
  /** libcni's cache dir (results live in its `results/`). */
  cacheDir: string;
  /**
   * A node namespace (name under /var/run/netns) the plugins run in, under `ip netns exec`, so that the bridge
   * and the pods' host-side veths are made there; undefined: the agent's own namespace.
   */
  netns?: string;
  /** Added to every plugin's environment (TWILL_CNI_SOCKET, for the thick plugin). */
  extraEnv?: NodeJS.ProcessEnv;
}

/** A plugin's failure, with libcni's wording and the plugin's code. */
export class CniInvokeError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'CniInvokeError';
  }
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** libcni's ConfListFromBytes (plus a single plugin config read as a list, as ConfFromBytes + list). */
export function parseConfList(text: string, file: string): NetworkConfigList {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CniInvokeError(6, `error parsing configuration list: ${(err as Error).message}`);
  }
  if (!isObject(raw)) throw new CniInvokeError(6, 'error parsing configuration list: not an object');
  const single = !file.endsWith('.conflist');
  if (single) {
    if (typeof raw.type !== 'string' || !raw.type) {
      throw new CniInvokeError(7, `error parsing configuration: missing 'type'`);
    }
    raw = { name: raw.name, cniVersion: raw.cniVersion, plugins: [raw] };
  }
  const list = raw as Json;
  if (typeof list.name !== 'string' || !list.name) {
    throw new CniInvokeError(7, 'error parsing configuration list: no name');
  }
  if (!Array.isArray(list.plugins)) {
    throw new CniInvokeError(7, 'error parsing configuration list: no plugins');
  }
  if (list.plugins.length === 0) {
    throw new CniInvokeError(7, 'error parsing configuration list: no plugins in list');
  }
  const plugins = list.plugins.map((p, i) => {
    if (!isObject(p)) throw new CniInvokeError(7, `failed to parse plugin config ${i}: not an object`);
    if (typeof p.type !== 'string' || !p.type) {
      throw new CniInvokeError(7, `failed to parse plugin config ${i}: missing 'type'`);
    }
    return p;
  });
  return {
    name: list.name,
    cniVersion: typeof list.cniVersion === 'string' && list.cniVersion ? list.cniVersion : '0.1.0',
    disableCheck: list.disableCheck === true,
    disableGC: list.disableGC === true,
    plugins,
    file,
    bytes: text,
  };
}

/** libcni's ConfFiles + go-cni's choice: the first `.conf`, `.conflist` or `.json` file in name order. */
export function loadDefaultConfList(confDir: string): NetworkConfigList | undefined {
  let names: string[];
  try {
    names = fs.readdirSync(confDir);
  } catch {
    return undefined;
  }
  const file = names
    .filter((n) => ['.conf', '.conflist', '.json'].includes(path.extname(n)))
    .sort()
    .map((n) => path.join(confDir, n))
    .find((f) => fs.statSync(f).isFile());
  if (!file) return undefined;
  return parseConfList(fs.readFileSync(file, 'utf8'), file);
}

/**
 * libcni's buildOneConfig: the plugin entry with the list's name and version, prevResult when given, and
 * (injectRuntimeConfig) `runtimeConfig` with the capability arguments the plugin declares in `capabilities`.
 */
export function buildOneConfig(
  list: NetworkConfigList,
  plugin: Json,
  prevResult?: unknown,
  capabilityArgs?: Record<string, unknown>,
): Json {
  const out: Json = { ...plugin, name: list.name, cniVersion: list.cniVersion };
  const caps = isObject(plugin.capabilities) ? plugin.capabilities : {};
  const rc: Json = {};
  for (const [cap, on] of Object.entries(caps)) {
    if (on === true && capabilityArgs && cap in capabilityArgs) rc[cap] = capabilityArgs[cap];
  }
  if (Object.keys(rc).length) out.runtimeConfig = rc;
  if (prevResult !== undefined) out.prevResult = prevResult;
  return out;
}

/** invoke.Args.AsEnv: the CNI variables (always all six, empty when unused), over the caller's environment. */
export function pluginEnv(
  command: string,
  rt: Partial<RuntimeConf>,
  binDirs: string[],
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  return {
    ...base,
    CNI_COMMAND: command,
    CNI_CONTAINERID: rt.containerID ?? '',
    CNI_NETNS: rt.netns ?? '',
    CNI_ARGS: (rt.args ?? []).map(([k, v]) => `${k}=${v}`).join(';'),
    CNI_IFNAME: rt.ifName ?? '',
    CNI_PATH: binDirs.join(path.delimiter),
  };
}

/** libcni's pluginDescription. */
function describe(plugin: Json): string {
  let out = `type=${JSON.stringify(plugin.type)}`;
  if (typeof plugin.name === 'string' && plugin.name) out += ` name=${JSON.stringify(plugin.name)}`;
  return out;
}

/** types.Error's text: msg, then "; details" when there are any. */
function errorText(e: CniError): string {
  return e.details ? `${e.msg}; ${e.details}` : e.msg;
}

export function cacheFile(cacheDir: string, network: string, rt: RuntimeConf): string {
  return path.join(cacheDir, 'results', `${network}-${rt.containerID}-${rt.ifName}`);
}

/** libcni's cachedInfo ("cniCacheV1"); `config` is base64, as Go marshals a []byte. */
export interface CachedAttachment {
  kind: 'cniCacheV1';
  containerId: string;
  config: string;
  ifName: string;
  networkName: string;
  netns?: string;
  cniArgs?: Array<[string, string]>;
  capabilityArgs?: Record<string, unknown>;
  result?: Json;
}

export class CniRuntime {
  constructor(readonly opts: CniRuntimeOptions) {}

  private exec(plugin: Json, command: string, stdin: Json, rt: Partial<RuntimeConf>): Promise<string> {
    const file = findInPath(String(plugin.type), this.opts.binDirs);
    const env = pluginEnv(command, rt, this.opts.binDirs, { ...process.env, ...this.opts.extraEnv });
    return new Promise((resolve, reject) => {
      const argv = this.opts.netns ? ['ip', 'netns', 'exec', this.opts.netns, file] : [file];
      const child = spawn(argv[0], argv.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', (err) => reject(new CniError(0, `netplugin failed: ${err.message}`)));
      child.on('close', (code, signal) => {
        // The plugins' own logs (stderr) are kept in ours, as a runtime passes them through.
        if (stderr.trim())
          log.debug({ plugin: plugin.type, command, stderr: stderr.trim() }, 'plugin stderr');
        if (code === 0) return resolve(stdout);
        reject(pluginError(signal ? `signal: ${signal}` : `exit status ${code}`, stdout, stderr));
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(JSON.stringify(stdin));
    });
  }

  private async invoke(
    list: NetworkConfigList,
    plugin: Json,
    command: 'ADD' | 'DEL' | 'CHECK',
    rt: RuntimeConf,
    prevResult?: unknown,
  ): Promise<string> {
    try {
      return await this.exec(
        plugin,
        command,
        buildOneConfig(list, plugin, prevResult, rt.capabilityArgs),
        rt,
      );
    } catch (err) {
      const e = err instanceof CniError ? err : new CniError(0, (err as Error).message);
      const op = command === 'ADD' ? 'add' : command === 'DEL' ? 'delete' : 'check';
      if (command === 'CHECK') throw new CniInvokeError(e.code, errorText(e));
      throw new CniInvokeError(e.code, `plugin ${describe(plugin)} failed (${op}): ${errorText(e)}`);
    }
  }

  /** AddNetworkList: the chain in order, each plugin's result the next one's prevResult; the last is cached. */
  async add(list: NetworkConfigList, rt: RuntimeConf): Promise<Result> {
    let raw: unknown;
    for (const plugin of list.plugins) {
      const out = await this.invoke(list, plugin, 'ADD', rt, raw);
      try {
        raw = JSON.parse(out);
      } catch (err) {
        throw new CniInvokeError(
          0,
          `plugin ${describe(plugin)} failed (add): failed to decode result: ${(err as Error).message}`,
        );
      }
    }
    const cached: CachedAttachment = {
      kind: 'cniCacheV1',
      containerId: rt.containerID,
      config: Buffer.from(list.bytes).toString('base64'),
      ifName: rt.ifName,
      networkName: list.name,
      netns: rt.netns,
      ...(rt.args?.length ? { cniArgs: rt.args } : {}),
      ...(rt.capabilityArgs && Object.keys(rt.capabilityArgs).length
        ? { capabilityArgs: rt.capabilityArgs }
        : {}),
      result: raw as Json,
    };
    const file = cacheFile(this.opts.cacheDir, list.name, rt);
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    // Written whole then renamed, so a crash never leaves half a record that DEL and GC would skip.
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(cached), { mode: 0o600 });
    fs.renameSync(`${file}.tmp`, file);
    return parseResult(raw);
  }

  /** The cached record of an attachment, if any. */
  cached(list: NetworkConfigList, rt: RuntimeConf): CachedAttachment | undefined {
    try {
      const c = JSON.parse(fs.readFileSync(cacheFile(this.opts.cacheDir, list.name, rt), 'utf8'));
      return isObject(c) && c.kind === 'cniCacheV1' ? (c as unknown as CachedAttachment) : undefined;
    } catch {
      return undefined;
    }
  }

  /** The cached ADD result of an attachment, in its current shape. */
  cachedResult(list: NetworkConfigList, rt: RuntimeConf): Result | undefined {
    const c = this.cached(list, rt);
    if (!c?.result) return undefined;
    try {
      return parseResult(c.result);
    } catch {
      return undefined;
    }
  }

  /** DelNetworkList: the chain in reverse, with the cached result as prevResult (0.4.0+), then uncache. */
  async del(list: NetworkConfigList, rt: RuntimeConf): Promise<void> {
    const prev = greaterThanOrEqualTo(list.cniVersion, '0.4.0') ? this.cached(list, rt)?.result : undefined;
    for (let i = list.plugins.length - 1; i >= 0; i--) {
      await this.invoke(list, list.plugins[i], 'DEL', rt, prev);
    }
    fs.rmSync(cacheFile(this.opts.cacheDir, list.name, rt), { force: true });
  }

  /** CheckNetworkList (0.4.0+, unless disableCheck): every plugin with the cached result. */
  async check(list: NetworkConfigList, rt: RuntimeConf): Promise<void> {
    if (!greaterThanOrEqualTo(list.cniVersion, '0.4.0')) {
      throw new CniInvokeError(
        0,
        `configuration version "${list.cniVersion}" does not support the CHECK command`,
      );
    }
    if (list.disableCheck) return;
    const prev = this.cached(list, rt)?.result;
    for (const plugin of list.plugins) await this.invoke(list, plugin, 'CHECK', rt, prev);
  }

  /** Every cached attachment (GetCachedAttachments), unreadable records skipped. */
  cachedAttachments(): CachedAttachment[] {
    const dir = path.join(this.opts.cacheDir, 'results');
    let names: string[];
    try {
      names = fs.readdirSync(dir).sort();
    } catch {
      return [];
    }
    const out: CachedAttachment[] = [];
    for (const n of names) {
      try {
        const c = JSON.parse(fs.readFileSync(path.join(dir, n), 'utf8'));
        if (isObject(c) && c.kind === 'cniCacheV1' && c.ifName && c.networkName) {
          out.push(c as unknown as CachedAttachment);
        }
      } catch {
        // not a cache record
      }
    }
    return out;
  }

  /**
   * GCNetworkList: DEL for each cached attachment of this network that is not valid, then GC to every plugin
   * (1.1 configs) so that what no cache names (an ADD cut short by a crash) is released too.
   */
  async gc(list: NetworkConfigList, valid: GCAttachment[]): Promise<Error[]> {
    const errs: Error[] = [];
    if (list.disableGC) return errs;
    const keep = new Set(valid.map((a) => `${a.containerID}\n${a.ifname}`));
    for (const a of this.cachedAttachments()) {
      if (a.networkName !== list.name || keep.has(`${a.containerId}\n${a.ifName}`)) continue;
      try {
        await this.del(list, {
          containerID: a.containerId,
          ifName: a.ifName,
          netns: a.netns ?? '',
          args: a.cniArgs,
          capabilityArgs: a.capabilityArgs,
        });
      } catch (err) {
        errs.push(
          new Error(
            `failed to delete stale attachment ${a.containerId} ${a.ifName}: ${(err as Error).message}`,
          ),
        );
      }
    }
    if (greaterThanOrEqualTo(list.cniVersion, '1.1.0')) {
      for (const plugin of list.plugins) {
        const conf = {
          ...plugin,
          name: list.name,
          cniVersion: list.cniVersion,
          'cni.dev/valid-attachments': valid,
        };
        try {
          await this.exec(plugin, 'GC', conf, {});
        } catch (err) {
          const e = err instanceof CniError ? errorText(err) : (err as Error).message;
          errs.push(new Error(`failed to GC plugin ${String(plugin.type)}: ${e}`));
        }
      }
    }
    return errs;
  }

  /** GetStatusNetworkList: nothing before 1.1; otherwise the first plugin that is not ready fails it. */
  async status(list: NetworkConfigList): Promise<void> {
    if (!greaterThanOrEqualTo(list.cniVersion, '1.1.0')) return;
    for (const plugin of list.plugins) {
      try {
        await this.exec(plugin, 'STATUS', { ...plugin, name: list.name, cniVersion: list.cniVersion }, {});
      } catch (err) {
        const e = err instanceof CniError ? err : new CniError(0, (err as Error).message);
        throw new CniInvokeError(e.code, errorText(e));
      }
    }
  }
}
