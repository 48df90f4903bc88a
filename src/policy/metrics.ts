/** twill_policy_* metrics, registered once per process (several nodes of `twill up` share them by label). */
import { Counter, Gauge, Histogram } from 'prom-client';
import { metricsRegistry } from '../util/metrics.js';

let metrics:
  | {
      syncs: Counter<'node' | 'kind'>;
      errors: Counter<'node'>;
      duration: Histogram<'node' | 'kind'>;
      policies: Gauge<'node'>;
      denials: Counter<'node' | 'direction'>;
    }
  | undefined;

export function policyMetrics(): NonNullable<typeof metrics> {
  metrics ??= {
    syncs: new Counter({
      name: 'twill_policy_syncs_total',
      help: 'nft transactions applied to the twill-policy table (kind: full or partial)',
      labelNames: ['node', 'kind'],
      registers: [metricsRegistry],
    }),
    errors: new Counter({
      name: 'twill_policy_sync_errors_total',
      help: 'policy syncs that failed (retried in full)',
      labelNames: ['node'],
      registers: [metricsRegistry],
    }),
    duration: new Histogram({
      name: 'twill_policy_sync_duration_seconds',
      help: 'render and apply time of one policy sync (kind: full or partial)',
      labelNames: ['node', 'kind'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [metricsRegistry],
    }),
    denials: new Counter({
      name: 'twill_policy_denials_total',
      help: 'new entries seen in the denial record (rate-limited in the kernel; a lower bound)',
      labelNames: ['node', 'direction'],
      registers: [metricsRegistry],
    }),
    policies: new Gauge({
      name: 'twill_policy_policies',
      help: 'NetworkPolicies in the last applied table',
      labelNames: ['node'],
      registers: [metricsRegistry],
    }),
  };
  return metrics;
}
