/**
 * The proxier: kube-proxy's nftables sync loop around the pure renderer.
 *
 * Informer handlers only record which services changed (a Service event, or an EndpointSlice event for the
 * service its kubernetes.io/service-name label names) and wake the loop. The loop renders and applies, one
 * `nft -f` transaction per family per sync:
 *
 * - full sync on start and after any failure: every service is rendered again, the whole table is written
 *   (chains and maps flushed and refilled; affinity sets kept), and chains the kernel holds that the ruleset
 *   lacks (left by an earlier process) are flushed;
 * - partial sync otherwise: only the changed services are rendered again, and only the difference between
 *   their old and new fragments is sent (src/services/render.ts partialSyncText);
 * - chains and sets that went stale are flushed in the sync that drops them and deleted in the next one, when
 *   no map element or rule refers to them any more (kube-proxy does the same, for the same reason);
 * - UDP flows whose endpoint went away are deleted from conntrack, and flows to a UDP service that gets its
 *   first endpoint too (they were answered by the reject), as kube-proxy does.
 */
import { Histogram, Counter, Gauge } from 'prom-client';
import type { ApiClient } from '../client/rest.js';
import { Resources } from '../client/rest.js';
import { Informer } from '../client/informer.js';
import type { KubeObject } from '../model/types.js';
import { conntrackDelete } from '../linux/conntrack.js';
import { nftApply, nftListNames, type NftTable } from '../linux/nft.js';
import { logger } from '../util/log.js';
import { metricsRegistry } from '../util/metrics.js';
import { ErrorCodes } from '../util/errors.js';
import {
  type Family,
  type RenderConfig,
  type Ruleset,
  TABLE_NAME,
  deleteStaleText,
  emptyShared,
  fullSyncText,
  mergeInto,
  partialSyncText,
  renderBase,
  renderService,
  LABEL_SERVICE_NAME,
} from './render.js';

const log = logger('services');

const syncDuration = new Histogram({
  name: 'twill_services_sync_duration_seconds',
  help: 'Time of one sync of the Services dataplane (render and nft transaction), by mode',
  labelNames: ['node', 'mode'],
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [metricsRegistry],
});
const syncsTotal = new Counter({
  name: 'twill_services_syncs_total',
  help: 'Syncs of the Services dataplane, by mode and result',
  labelNames: ['node', 'mode', 'result'],
  registers: [metricsRegistry],
});
const servicesGauge = new Gauge({
  name: 'twill_services_services',
  help: 'Services rendered at the last sync, per family',
  labelNames: ['node', 'family'],
  registers: [metricsRegistry],
});
const conntrackDeleted = new Counter({
  name: 'twill_services_conntrack_flushes_total',
  help: 'conntrack -D runs for stale UDP flows',
  labelNames: ['node'],
  registers: [metricsRegistry],
});

export function tableOf(family: Family): NftTable {
  return { family, name: TABLE_NAME };
}

export interface ProxierOptions {
  client: ApiClient;
  nodeName: string;
  nodeIPs: string[];
  clusterCIDRs: string[];
  serviceCIDRs: string[];
  families: Family[];
  /** The node's network namespace (undefined: this process's). */
  netns?: string;
  /** Shortest time between two syncs (kube-proxy's --min-sync-period, default 1 s there; 50 ms here). */
  minSyncIntervalMs?: number;
  /** Longest time without a sync: a full one then, which also repairs what someone else changed. */
  fullSyncIntervalMs?: number;
}

interface FamilyState {
  cfg: RenderConfig;
  frags: Map<string, Ruleset>;
  staleChains: string[];
  staleSets: string[];
  staleMaps: string[];
  /** A sync has succeeded since start. */
  synced?: boolean;
}

export interface SyncResult {
  mode: 'full' | 'partial';
  /** What was sent, per family (empty when nothing changed). */
  texts: Partial<Record<Family, string>>;
}

export class Proxier {
  private readonly services: Informer;
  private readonly slices: Informer;
  private dirty = new Set<string>();
  private needFull = true;
  private readonly state = new Map<Family, FamilyState>();
  private stopped = false;
  private wake?: () => void;
  private loop?: Promise<void>;
  private lastFull = 0;
  private failures = 0;
  /** Resolved after each sync, for tests that wait for the dataplane to catch up. */
  private syncWaiters: Array<() => void> = [];
  /** Slices by service key, kept by the handlers (the informer's cache is keyed by slice). */
  private readonly slicesBySvc = new Map<string, Map<string, KubeObject>>();

  constructor(private readonly opts: ProxierOptions) {
    this.services = new Informer(opts.client, Resources.services);
    this.slices = new Informer(opts.client, Resources.endpointslices);
    for (const f of opts.families) {
      this.state.set(f, {
        cfg: {
          family: f,
          nodeName: opts.nodeName,
          nodeIPs: opts.nodeIPs,
          clusterCIDRs: opts.clusterCIDRs,
          serviceCIDRs: opts.serviceCIDRs,
        },
        frags: new Map(),
        staleChains: [],
        staleSets: [],
        staleMaps: [],
      });
    }
    const svcKey = (o: KubeObject) => `${o.metadata.namespace}/${o.metadata.name}`;
    this.services.addEventHandler({
      onAdd: (o) => this.mark(svcKey(o)),
      onUpdate: (_a, b) => this.mark(svcKey(b)),
      onDelete: (o) => this.mark(svcKey(o)),
    });
    const sliceSvc = (o: KubeObject) => {
      const n = o.metadata.labels?.[LABEL_SERVICE_NAME];
      return n ? `${o.metadata.namespace}/${n}` : undefined;
    };
    const putSlice = (o: KubeObject) => {
      const k = sliceSvc(o);
      if (!k) return;
      let m = this.slicesBySvc.get(k);
      if (!m) this.slicesBySvc.set(k, (m = new Map()));
      m.set(o.metadata.name ?? '', o);
      this.mark(k);
    };
    const dropSlice = (o: KubeObject) => {
      const k = sliceSvc(o);
      if (!k) return;
      this.slicesBySvc.get(k)?.delete(o.metadata.name ?? '');
      if (this.slicesBySvc.get(k)?.size === 0) this.slicesBySvc.delete(k);
      this.mark(k);
    };
    this.slices.addEventHandler({
      onAdd: putSlice,
      onUpdate: (a, b) => {
        if (sliceSvc(a) !== sliceSvc(b)) dropSlice(a);
        putSlice(b);
      },
      onDelete: dropSlice,
    });
  }

  /** Records a change; the loop picks it up. */
  private mark(key: string): void {
    this.dirty.add(key);
    this.wake?.();
  }

  async start(): Promise<void> {
    this.services.start();
    this.slices.start();
    await Promise.all([this.services.waitForSync(), this.slices.waitForSync()]);
    // The first sync (a full one) happens before start returns, so a caller sees a working dataplane.
    await this.syncOnce();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await Promise.all([this.services.stop(), this.slices.stop()]);
    await this.loop;
  }

  /** Resolves after the next sync that starts after this call. */
  waitForSync(): Promise<void> {
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  private async run(): Promise<void> {
    const minGap = this.opts.minSyncIntervalMs ?? 50;
    const fullEvery = this.opts.fullSyncIntervalMs ?? 60 * 60_000;
    while (!this.stopped) {
      // Wait for a change or the periodic full sync; after a failure, back off before the full retry.
      const backoff = this.failures > 0 ? Math.min(30_000, 500 * 2 ** (this.failures - 1)) : 0;
      if (backoff > 0) await this.sleep(backoff, false);
      else if (this.dirty.size === 0 && !this.needFull) {
        await this.sleep(Math.max(0, this.lastFull + fullEvery - Date.now()), true);
      }
      if (this.stopped) break;
      if (Date.now() - this.lastFull >= fullEvery) this.needFull = true;
      await this.syncOnce();
      await new Promise((r) => setTimeout(r, minGap));
    }
  }

  /** Sleeps ms; stop() always ends it, and a change does too when `wakeOnChange`. */
  private sleep(ms: number, wakeOnChange: boolean): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wake = () => {
        if (wakeOnChange || this.stopped) done();
      };
    });
  }

  private svcObj(key: string): KubeObject | undefined {
    const [ns, name] = key.split('/');
    return this.services.getByName(ns, name);
  }

  private renderFrag(key: string, st: FamilyState): Ruleset | undefined {
    const svc = this.svcObj(key);
    if (!svc) return undefined;
    return renderService(svc, [...(this.slicesBySvc.get(key)?.values() ?? [])], st.cfg);
  }

  /** One sync of every family; never throws (a failure makes the next sync a full one). */
  async syncOnce(): Promise<SyncResult> {
    const mode = this.needFull ? 'full' : 'partial';
    const dirty = this.dirty;
    this.dirty = new Set();
    const waiters = this.syncWaiters.splice(0);
    const end = syncDuration.startTimer({ node: this.opts.nodeName, mode });
    const result: SyncResult = { mode, texts: {} };
    try {
      for (const [family, st] of this.state) {
        result.texts[family] =
          mode === 'full' ? await this.fullSync(family, st) : await this.partialSync(family, st, dirty);
      }
      this.needFull = false;
      this.failures = 0;
      if (mode === 'full') this.lastFull = Date.now();
      syncsTotal.inc({ node: this.opts.nodeName, mode, result: 'success' });
    } catch (err) {
      this.needFull = true;
      this.failures++;
      syncsTotal.inc({ node: this.opts.nodeName, mode, result: 'error' });
      log.error(
        { code: ErrorCodes.ServicesSyncFailed, err: (err as Error).message, mode },
        'sync failed; the next sync is a full one',
      );
    } finally {
      end();
      for (const w of waiters) w();
    }
    return result;
  }

  private async fullSync(family: Family, st: FamilyState): Promise<string> {
    const frags = new Map<string, Ruleset>();
    const rs = renderBase(st.cfg);
    const keys = this.services
      .list()
      .map((s) => `${s.metadata.namespace}/${s.metadata.name}`)
      .sort();
    for (const key of keys) {
      const frag = this.renderFrag(key, st)!;
      frags.set(key, frag);
      mergeInto(rs, frag);
    }
    const have = await nftListNames(tableOf(family), { netns: this.opts.netns });
    const staleChains = have.chains.filter((c) => !rs.chains.has(c));
    const staleSets = have.sets.filter((s) => !rs.sets.has(s));
    const staleMaps = have.maps.filter((m) => !rs.maps.has(m));
    // Stale chains from an earlier sync that are still there are flushed again and deleted next time.
    const text = fullSyncText(rs, staleChains);
    await nftApply(text, { tables: [tableOf(family)], netns: this.opts.netns });
    // After a restart nothing is known about earlier flows (the earlier process's rules were the same), so
    // the first sync flushes nothing: one conntrack exec per UDP service would hold the first sync for minutes.
    if (st.synced) {
      await this.flushConntrack(family, st.frags, frags, new Set([...st.frags.keys(), ...frags.keys()]));
    }
    st.synced = true;
    st.frags = frags;
    st.staleChains = staleChains;
    st.staleSets = staleSets;
    st.staleMaps = staleMaps;
    servicesGauge.set({ node: this.opts.nodeName, family }, frags.size);
    return text;
  }

  private async partialSync(family: Family, st: FamilyState, dirty: Set<string>): Promise<string> {
    // Both sides start with the shared maps and sets, so a service that is gone has its elements deleted.
    const prev: Ruleset = { family, chains: new Map(), ...emptyShared(family), udpEndpoints: new Map() };
    const next: Ruleset = { family, chains: new Map(), ...emptyShared(family), udpEndpoints: new Map() };
    const nextFrags = new Map<string, Ruleset | undefined>();
    for (const key of dirty) {
      const old = st.frags.get(key);
      if (old) mergeInto(prev, old);
      const frag = this.renderFrag(key, st);
      nextFrags.set(key, frag);
      if (frag) mergeInto(next, frag);
    }
    const diff = partialSyncText(prev, next);
    // What the last sync made stale is deleted now, unless this sync brings it back.
    const del = deleteStaleText(
      family,
      st.staleChains.filter((c) => !next.chains.has(c)),
      st.staleSets.filter((s) => !next.sets.has(s)),
      st.staleMaps.filter((m) => !next.maps.has(m)),
    );
    const text = del + diff.text;
    if (text) await nftApply(text, { tables: [tableOf(family)], netns: this.opts.netns });
    const oldFrags = new Map(st.frags);
    for (const [key, frag] of nextFrags) {
      if (frag) st.frags.set(key, frag);
      else st.frags.delete(key);
    }
    st.staleChains = diff.staleChains;
    st.staleSets = diff.staleSets;
    st.staleMaps = diff.staleMaps;
    await this.flushConntrack(family, oldFrags, st.frags, dirty);
    servicesGauge.set({ node: this.opts.nodeName, family }, st.frags.size);
    return text;
  }

  /** Deletes UDP flows to endpoints that are gone, and flows to services that just got their first endpoint. */
  private async flushConntrack(
    family: Family,
    before: Map<string, Ruleset>,
    after: Map<string, Ruleset | undefined>,
    keys: Set<string>,
  ): Promise<void> {
    const jobs: Array<[string, string | undefined]> = [];
    for (const key of keys) {
      const b = before.get(key)?.udpEndpoints ?? new Map();
      const a = after.get(key)?.udpEndpoints ?? new Map();
      for (const [port, old] of b) {
        const now = a.get(port);
        const still = new Set(now?.endpoints ?? []);
        for (const ep of old.endpoints) {
          if (!still.has(ep)) for (const ip of old.serviceIPs) jobs.push([ip, ep]);
        }
      }
      for (const [port, now] of a)
        if (!b.has(port)) for (const ip of now.serviceIPs) jobs.push([ip, undefined]);
    }
    for (const [ip, ep] of jobs) {
      try {
        await conntrackDelete('udp', ip, { dnatTo: ep, netns: this.opts.netns });
        conntrackDeleted.inc({ node: this.opts.nodeName });
      } catch (err) {
        // A missing conntrack tool or a failed delete must not fail the sync: the rules are right already.
        log.warn({ err: (err as Error).message, family, ip, ep }, 'conntrack delete failed');
      }
    }
  }
}
