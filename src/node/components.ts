/**
 * The node components every agent runs (src/agent/components.ts), in start order: the overlay first (pods on
 * other nodes must be reachable before anything routes to them), then the Services dataplane, then
 * NetworkPolicy enforcement. `twill up` and `twill agent` both build their list here, from their flags.
 */
import type { NodeComponentFactory } from '../agent/components.js';
import { overlayComponent } from '../overlay/component.js';
import { nodeLeaseComponent } from '../overlay/nodelease.js';
import { policyComponent, policyDenyFlag } from '../policy/enforce.js';
import { servicesComponent } from '../services/component.js';

/** Flags of `twill up` / `twill agent` that configure node components (each component adds its own). */
export type NodeComponentFlags = Record<string, unknown>;

export function nodeComponents(flags: NodeComponentFlags): NodeComponentFactory[] {
  return [
    // The overlay runs where a backend is named: `twill up` always names one (vxlan by default).
    ...(flags.backend !== undefined
      ? [
          overlayComponent({
            backend: flags.backend as string,
            iface: flags.iface as string | undefined,
            clusterCIDRs:
              typeof flags.clusterCidr === 'string'
                ? flags.clusterCidr
                    .split(',')
                    .map((s) => s.trim())
                    .filter(Boolean)
                : undefined,
          }),
        ]
      : []),
    // The node's Lease in kube-node-lease: renewed while the agent lives (node lifecycle reads it).
    nodeLeaseComponent(),
    servicesComponent({
      clusterCidr: flags.clusterCidr as string | undefined,
      serviceCidr: flags.serviceCidr as string | undefined,
    }),
    policyComponent({ deny: policyDenyFlag(flags.networkPolicyDeny) }),
  ];
}
