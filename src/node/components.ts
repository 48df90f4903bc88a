/**
 * The node components every agent runs (src/agent/components.ts), in start order: the overlay first (pods on
 * other nodes must be reachable before anything routes to them), then the Services dataplane, then
 * NetworkPolicy enforcement. `twill up` and `twill agent` both build their list here, from their flags.
 */
import type { NodeComponentFactory } from '../agent/components.js';
import { servicesComponent } from '../services/component.js';

/** Flags of `twill up` / `twill agent` that configure node components (each component adds its own). */
export type NodeComponentFlags = Record<string, unknown>;

export function nodeComponents(flags: NodeComponentFlags): NodeComponentFactory[] {
  return [
    servicesComponent({
      clusterCidr: flags.clusterCidr as string | undefined,
      serviceCidr: flags.serviceCidr as string | undefined,
    }),
  ];
}
