/**
 * The API feed of the kubernetes plugin: one set of informers (Services, EndpointSlices, Namespaces, and Pods
 * when some index needs them) per DNS process, shared by every kubernetes plugin instance across server blocks
 * and reloads, fanning each event out to the registered ClusterIndexes. An index added later is filled from the
 * informers' caches, so a reload does not re-list the API.
 */
import { Informer } from '../../../client/informer.js';
import { Resources, type ApiClient } from '../../../client/rest.js';
import type { EndpointSlice, Pod, Service } from '../../../controllers/endpointslice/types.js';
import type { KubeObject } from '../../../model/types.js';
import type { ClusterIndex } from './index.js';

export class ClusterSource {
  private readonly indexes = new Set<ClusterIndex>();
  private readonly services: Informer<Service>;
  private readonly slices: Informer<EndpointSlice>;
  private readonly namespaces: Informer<KubeObject>;
  private pods?: Informer<Pod>;
  private started = false;
  /** Called after any change reaches the indexes (the kubernetes plugins drop their memos). */
  onChange?: () => void;

  constructor(private readonly client: ApiClient) {
    this.services = new Informer<Service>(client, Resources.services).addEventHandler({
      onAdd: (s) => this.each((ix) => ix.setService(s)),
      onUpdate: (_o, s) => this.each((ix) => ix.setService(s)),
      onDelete: (s) => this.each((ix) => ix.deleteService(s)),
    });
    this.slices = new Informer<EndpointSlice>(client, Resources.endpointslices).addEventHandler({
      onAdd: (s) => this.each((ix) => ix.setEndpointSlice(s)),
      onUpdate: (_o, s) => this.each((ix) => ix.setEndpointSlice(s)),
      onDelete: (s) => this.each((ix) => ix.deleteEndpointSlice(s)),
    });
    this.namespaces = new Informer<KubeObject>(client, Resources.namespaces).addEventHandler({
      onAdd: (n) => this.each((ix) => ix.setNamespace(n.metadata.name ?? '')),
      onDelete: (n) => this.each((ix) => ix.deleteNamespace(n.metadata.name ?? '')),
    });
  }

  private each(f: (ix: ClusterIndex) => void): void {
    for (const ix of this.indexes) f(ix);
    this.onChange?.();
  }

  /** Registers an index and fills it from what the informers hold. */
  add(ix: ClusterIndex, needPods: boolean): void {
    this.indexes.add(ix);
    for (const n of this.namespaces.list()) ix.setNamespace(n.metadata.name ?? '');
    for (const s of this.services.list()) ix.setService(s);
    for (const s of this.slices.list()) ix.setEndpointSlice(s);
    if (needPods && !this.pods) {
      this.pods = new Informer<Pod>(this.client, Resources.pods).addEventHandler({
        onAdd: (p) => this.each((i) => i.setPod(p)),
        onUpdate: (_o, p) => this.each((i) => i.setPod(p)),
        onDelete: (p) => this.each((i) => i.deletePod(p)),
      });
      if (this.started) this.pods.start();
    }
    for (const p of this.pods?.list() ?? []) ix.setPod(p);
  }

  remove(ix: ClusterIndex): void {
    this.indexes.delete(ix);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    for (const i of this.informers()) i.start();
  }

  private informers(): Informer<any>[] {
    return [this.services, this.slices, this.namespaces, ...(this.pods ? [this.pods] : [])];
  }

  hasSynced(): boolean {
    return this.informers().every((i) => i.hasSynced());
  }

  async waitForSync(): Promise<void> {
    await Promise.all(this.informers().map((i) => i.waitForSync()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.informers().map((i) => i.stop()));
  }
}
