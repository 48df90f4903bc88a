/**
 * The DNS process: a Corefile (a file, the ConfigMap kube-system/coredns, or twill's default) turned into
 * servers, server blocks and plugin chains, and kept in step with its source when the `reload` plugin is on.
 *
 * Server blocks whose key has port 53 or no port listen on the service's `listen` address (`--dns-listen`);
 * another port listens on the same host at that port. Zones are unique per address. A reload builds and starts
 * the new configuration beside the old one, swaps the chains under the running sockets (so no query is lost),
 * opens and closes listeners for addresses that came and went, then stops the old plugins.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { Rcode } from './codec/constants.js';
import { decode, emptyMessage, encode, type Message } from './codec/message.js';
import { argErr, corefileError, parseCorefile, parseServerKey, type Directive } from './corefile/parse.js';
import { HttpEndpoint, joinHostPort, splitHostPort } from './http.js';
import { reply, type Next, type Plugin, type SetupContext, type SharedServices } from './plugin.js';
import { pluginOrder, pluginRank } from './plugins.js';
import type { ReloadPlugin } from './plugins/reload/plugin.js';
import { DnsServer, type ServerBlockRuntime } from './server/server.js';
import { dnsMetrics } from './metrics.js';
import { Informer } from '../client/informer.js';
import { Resources, type ApiClient } from '../client/rest.js';
import type { KubeObject } from '../model/types.js';
import { logger } from '../util/log.js';
import { ErrorCodes, TwillError } from '../util/errors.js';
import dgram from 'node:dgram';

const log = logger('dns');

/** twill's Corefile when neither a file nor the ConfigMap gives one (kubeadm's, minus host ports). */
export function defaultCorefile(clusterDomain = 'cluster.local'): string {
  return `.:53 {
    errors
    kubernetes ${clusterDomain} in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    forward . /etc/resolv.conf {
        max_concurrent 1000
    }
    cache 30 {
        disable success ${clusterDomain}
        disable denial ${clusterDomain}
    }
    reload
    loadbalance
}
`;
}

export interface DnsServiceOptions {
  /** HOST:PORT for blocks on port 53 or with no port. */
  listen: string;
  /** The flag that set listen, named in errors. */
  listenFlag?: string;
  corefile?: string;
  corefilePath?: string;
  /** Read the Corefile from the ConfigMap kube-system/coredns (key Corefile), else the default. */
  configMap?: boolean;
  client?: ApiClient;
  clusterDomain?: string;
  /** Where the log plugin writes (tests); default the dns.log logger. */
  logSink?: (line: string) => void;
}

interface Built {
  servers: Map<string, ServerBlockRuntime[]>;
  plugins: Plugin[];
  endpoints: Set<HttpEndpoint>;
  reload?: ReloadPlugin;
  hash: string;
  text: string;
}

export class DnsService {
  private readonly servers = new Map<string, DnsServer>();
  private readonly singletons = new Map<string, unknown>();
  private current?: Built;
  private building?: Built;
  private reloadTimer?: NodeJS.Timeout;
  private configMapInformer?: Informer<KubeObject>;
  private stopped = false;
  private readonly listenHost: string;
  private readonly listenPort: number;
  /** More hosts the port-53 blocks are served on (see serveAlsoOn), each on listenPort. */
  private readonly extraHosts: string[] = [];
  /** Corefile sources in order of preference. */
  readonly shared: SharedServices;

  constructor(readonly opts: DnsServiceOptions) {
    const { host, port } = splitHostPort(opts.listen);
    if (!host || !net.isIP(host)) {
      throw new TwillError(
        ErrorCodes.BadConfig,
        `${opts.listenFlag ?? '--dns-listen'}: expected IP:PORT, got "${opts.listen}"`,
      );
    }
    this.listenHost = host;
    this.listenPort = port;
    if (opts.client) this.singletons.set('api-client', opts.client);
    this.shared = {
      singleton: <T>(key: string, make: () => T): T => {
        if (!this.singletons.has(key)) this.singletons.set(key, make());
        return this.singletons.get(key) as T;
      },
      plugins: () => [...(this.current?.plugins ?? []), ...(this.building?.plugins ?? [])],
      selfQuery: (name, qtype) => this.selfQuery(name, qtype),
    };
  }

  /** The address the main server (port 53 blocks) is bound to, "127.0.0.1:40123". */
  get address(): string {
    const s = this.servers.get(this.mainKey()) ?? [...this.servers.values()][0];
    return s ? s.address : '';
  }

  get port(): number {
    return (this.servers.get(this.mainKey()) ?? [...this.servers.values()][0])?.boundPort ?? 0;
  }

  private mainKey(): string {
    return joinHostPort(this.listenHost, this.listenPort);
  }

  /**
   * Also serves the port-53 blocks on `host` (same port as the main address; with port 0, a port of its own):
   * `twill up` adds the underlay gateway once the nodes exist, the address the kube-dns Service's endpoint
   * names, since pods cannot reach the host's loopback. Returns the bound UDP/TCP port there.
   */
  async serveAlsoOn(host: string): Promise<number> {
    if (!net.isIP(host)) throw new TwillError(ErrorCodes.BadConfig, `not an IP address: "${host}"`);
    const key = joinHostPort(host, this.listenPort);
    if (!this.extraHosts.includes(host)) {
      this.extraHosts.push(host);
      if (this.current) await this.activate(this.build(this.current.text));
    }
    const s = this.servers.get(key);
    if (!s) throw new TwillError(ErrorCodes.Internal, `DNS did not start on ${key}`);
    return s.boundPort;
  }

  /** Plugins of the running configuration (tests look into them). */
  plugins(): Plugin[] {
    return this.current?.plugins ?? [];
  }

  httpPort(addr: string): number | undefined {
    return (this.singletons.get(`http:${addr}`) as HttpEndpoint | undefined)?.port;
  }

  private async readCorefile(): Promise<string> {
    if (this.opts.corefile !== undefined) return this.opts.corefile;
    if (this.opts.corefilePath) {
      try {
        return fs.readFileSync(this.opts.corefilePath, 'utf8');
      } catch (err) {
        throw new TwillError(
          ErrorCodes.DnsBadCorefile,
          `cannot read Corefile ${this.opts.corefilePath}: ${(err as Error).message}`,
        );
      }
    }
    if (this.opts.configMap && this.configMapInformer) {
      const cm = this.configMapInformer.getByName('kube-system', 'coredns') as
        { data?: Record<string, string> } | undefined;
      if (cm?.data?.Corefile) return cm.data.Corefile;
    }
    return defaultCorefile(this.opts.clusterDomain);
  }

  async start(): Promise<void> {
    if (this.opts.configMap && this.opts.client) {
      this.configMapInformer = new Informer<KubeObject>(this.opts.client, Resources.configmaps, {
        namespace: 'kube-system',
        fieldSelector: 'metadata.name=coredns',
      });
      // The API tells twill of a ConfigMap change at once, where CoreDNS waits for the kubelet to update the
      // mounted file: with `reload` in the running Corefile, a change is applied now, not at the next interval.
      const onChange = () => {
        if (this.current?.reload && !this.stopped) void this.reloadNow();
      };
      this.configMapInformer.addEventHandler({ onAdd: onChange, onUpdate: onChange, onDelete: onChange });
      this.configMapInformer.start();
      // At most 5 s for the ConfigMap (as the kubernetes plugin waits for its informers); without it the
      // default Corefile is served and a later reload picks the ConfigMap up.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.configMapInformer.waitForSync(),
        new Promise<void>((r) => (timer = setTimeout(r, 5000))),
      ]);
      clearTimeout(timer);
    }
    const text = await this.readCorefile();
    const built = this.build(text);
    try {
      await this.activate(built);
    } catch (err) {
      await this.stopPlugins(built);
      await this.closeUnused(new Set());
      throw err;
    }
    this.scheduleReload();
  }

  /** Parses and sets up a Corefile (nothing listens yet). Throws TWILL_DNS_BAD_COREFILE with the line. */
  build(text: string): Built {
    const blocks = parseCorefile(text);
    const servers = new Map<string, ServerBlockRuntime[]>();
    const zonesAt = new Map<string, Set<string>>();
    const plugins: Plugin[] = [];
    const endpoints = new Set<HttpEndpoint>();
    let reload: ReloadPlugin | undefined;
    const env = {
      endpoint: (addr: string) => {
        splitHostPort(addr);
        const e = this.shared.singleton(`http:${addr}`, () => new HttpEndpoint(addr));
        endpoints.add(e);
        return e;
      },
      logSink: this.opts.logSink,
    };
    for (const b of blocks) {
      const keys = b.keys.map((k) => parseServerKey(k, b.line));
      const ports = new Set(keys.map((k) => k.port ?? 53));
      if (ports.size > 1) throw corefileError(b.line, 'all keys of a server block must use the same port');
      const port = [...ports][0];
      const addrs =
        port === 53
          ? [this.mainKey(), ...this.extraHosts.map((h) => joinHostPort(h, this.listenPort))]
          : [joinHostPort(this.listenHost, port)];
      const addr = addrs[0];
      const zones = keys.map((k) => k.zone);
      let seen = zonesAt.get(addr);
      if (!seen) zonesAt.set(addr, (seen = new Set()));
      for (const z of zones) {
        if (seen.has(z))
          throw corefileError(b.line, `cannot serve dns://${z}:${port} - it is already defined`);
        seen.add(z);
      }
      const ctx: SetupContext = { zones, listen: addr, shared: this.shared, block: b.directives };
      const chain: Plugin[] = [];
      const names = new Set<string>();
      for (const d of b.directives) {
        const entry = pluginOrder.find(([n]) => n === d.name);
        if (!entry) throw corefileError(d.line, `Unknown directive '${d.name}'`);
        if (names.has(d.name) && d.name !== 'forward')
          throw argErr(d, 'this plugin can only be used once per Server Block');
        names.add(d.name);
        chain.push(entry[1](d, ctx, env));
      }
      chain.sort((x, y) => (pluginRank.get(x.name) ?? 0) - (pluginRank.get(y.name) ?? 0));
      for (const p of chain) p.link?.(chain);
      reload ??= chain.find((p) => p.name === 'reload') as ReloadPlugin | undefined;
      plugins.push(...chain);
      const handler = compose(chain);
      for (const a of addrs) {
        const list = servers.get(a) ?? [];
        list.push({ zones, handler });
        servers.set(a, list);
      }
    }
    return { servers, plugins, endpoints, reload, hash: sha512(text), text };
  }

  private async activate(next: Built): Promise<void> {
    this.building = next;
    try {
      // Listeners first, so start() hooks (loop) can query themselves.
      for (const [addr, blocks] of next.servers) {
        let s = this.servers.get(addr);
        if (!s) {
          const { host, port } = splitHostPort(addr);
          const origin =
            addr === this.mainKey() || port === this.listenPort
              ? (this.opts.listenFlag ?? '--dns-listen')
              : `the Corefile's port ${port}`;
          s = new DnsServer(host!, port, origin);
          s.setBlocks(blocks);
          await s.listen();
          this.servers.set(addr, s);
        }
      }
      for (const p of next.plugins) await p.start?.();
      for (const [addr, blocks] of next.servers) this.servers.get(addr)!.setBlocks(blocks);
    } finally {
      this.building = undefined;
    }
    const old = this.current;
    this.current = next;
    for (const [addr, s] of this.servers) {
      if (!next.servers.has(addr)) {
        await s.close();
        this.servers.delete(addr);
      }
    }
    if (old) {
      await this.stopPlugins(old, next);
      await this.closeUnused(next.endpoints);
    }
  }

  private async stopPlugins(b: Built, keep?: Built): Promise<void> {
    for (const p of b.plugins) if (!keep?.plugins.includes(p)) await p.stop?.().catch(() => undefined);
  }

  private async closeUnused(keep: Set<HttpEndpoint>): Promise<void> {
    for (const [k, v] of this.singletons) {
      if (k.startsWith('http:') && !keep.has(v as HttpEndpoint)) {
        await (v as HttpEndpoint).close();
        this.singletons.delete(k);
      }
    }
  }

  private reloadChain: Promise<unknown> = Promise.resolve();

  /**
   * Reads the source again and applies it if it changed; returns whether it did. Reloads run one at a time
   * (the interval timer and a ConfigMap change may ask together).
   */
  reloadNow(): Promise<boolean> {
    const r = this.reloadChain.then(() => this.reloadOnce());
    this.reloadChain = r.catch(() => undefined);
    return r;
  }

  private async reloadOnce(): Promise<boolean> {
    let text: string;
    try {
      text = await this.readCorefile();
    } catch (err) {
      log.error({ err: (err as Error).message }, 'reading the Corefile failed; keeping the running one');
      dnsMetrics.reloads.inc({ result: 'failed' });
      return false;
    }
    if (this.current && sha512(text) === this.current.hash) return false;
    let next: Built;
    try {
      next = this.build(text);
      await this.activate(next);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'the new Corefile failed; keeping the running one');
      dnsMetrics.reloads.inc({ result: 'failed' });
      if (this.building) this.building = undefined;
      return false;
    }
    dnsMetrics.reloads.inc({ result: 'success' });
    log.info({ hash: next.hash.slice(0, 16) }, 'Corefile reloaded');
    return true;
  }

  private scheduleReload(): void {
    if (this.stopped) return;
    const r = this.current?.reload;
    if (!r) return;
    const delay = r.intervalMs - r.jitterMs + Math.random() * 2 * r.jitterMs;
    this.reloadTimer = setTimeout(() => {
      void this.reloadNow().finally(() => this.scheduleReload());
    }, delay);
    this.reloadTimer.unref();
  }

  private async selfQuery(name: string, qtype: number): Promise<Message | undefined> {
    const m = emptyMessage(Math.floor(Math.random() * 65536));
    m.rd = true;
    m.questions.push({ name, type: qtype, class: 1 });
    const sock = dgram.createSocket(net.isIPv6(this.listenHost) ? 'udp6' : 'udp4');
    try {
      return await new Promise<Message | undefined>((resolve) => {
        const t = setTimeout(() => resolve(undefined), 2000);
        sock.on('message', (b) => {
          clearTimeout(t);
          try {
            resolve(decode(b));
          } catch {
            resolve(undefined);
          }
        });
        sock.send(encode(m), this.port, this.listenHost);
      });
    } finally {
      sock.close();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    await Promise.all([...this.servers.values()].map((s) => s.close()));
    this.servers.clear();
    if (this.current) await this.stopPlugins(this.current);
    await this.configMapInformer?.stop();
    const source = this.singletons.get('kubernetes-source') as { stop(): Promise<void> } | undefined;
    await source?.stop();
    await this.closeUnused(new Set());
  }
}

function compose(chain: Plugin[]): Next {
  // The end of a chain: no plugin answered (CoreDNS: "no next plugin found" → SERVFAIL).
  let h: Next = async (req) => reply(req, Rcode.SERVFAIL);
  for (let i = chain.length - 1; i >= 0; i--) {
    const p = chain[i];
    const n = h;
    h = (req) => p.serve(req, n);
  }
  return h;
}

function sha512(s: string): string {
  return crypto.createHash('sha512').update(s).digest('hex');
}

/** Starts a DNS service; the usual entry point. */
export async function startDns(opts: DnsServiceOptions): Promise<DnsService> {
  const s = new DnsService(opts);
  await s.start();
  return s;
}

export type { Directive };
