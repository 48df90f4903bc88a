/** The DNS server's metrics, `twill_dns_*` (CoreDNS's coredns_dns_* and plugin metrics under twill's prefix). */
import { Counter, Gauge, Histogram } from 'prom-client';
import { metricsRegistry } from '../util/metrics.js';

const registers = [metricsRegistry];

export const dnsMetrics = {
  requests: new Counter({
    name: 'twill_dns_requests_total',
    help: 'DNS requests, by server block zone, transport, address family and query type',
    labelNames: ['server', 'zone', 'proto', 'family', 'type'],
    registers,
  }),
  responses: new Counter({
    name: 'twill_dns_responses_total',
    help: 'DNS responses, by server block zone and rcode',
    labelNames: ['server', 'zone', 'rcode'],
    registers,
  }),
  duration: new Histogram({
    name: 'twill_dns_request_duration_seconds',
    help: 'Time to answer a request, inside the plugin chain',
    labelNames: ['server', 'zone', 'type'],
    buckets: [
      0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048,
    ],
    registers,
  }),
  cacheHits: new Counter({
    name: 'twill_dns_cache_hits_total',
    help: 'Cache hits, by kind (success, denial)',
    labelNames: ['server', 'type'],
    registers,
  }),
  cacheMisses: new Counter({
    name: 'twill_dns_cache_misses_total',
    help: 'Cache misses',
    labelNames: ['server'],
    registers,
  }),
  cacheEntries: new Gauge({
    name: 'twill_dns_cache_entries',
    help: 'Cache entries, by kind',
    labelNames: ['server', 'type'],
    registers,
  }),
  cachePrefetch: new Counter({
    name: 'twill_dns_cache_prefetch_total',
    help: 'Prefetches',
    labelNames: ['server'],
    registers,
  }),
  cacheServedStale: new Counter({
    name: 'twill_dns_cache_served_stale_total',
    help: 'Answers served from expired entries',
    labelNames: ['server'],
    registers,
  }),
  forwardRequests: new Counter({
    name: 'twill_dns_forward_requests_total',
    help: 'Queries sent upstream, by upstream',
    labelNames: ['to'],
    registers,
  }),
  forwardHealthcheckFailures: new Counter({
    name: 'twill_dns_forward_healthcheck_failures_total',
    help: 'Failed health checks, by upstream',
    labelNames: ['to'],
    registers,
  }),
  forwardMaxConcurrentRejects: new Counter({
    name: 'twill_dns_forward_max_concurrent_rejects_total',
    help: 'Queries refused because max_concurrent was reached',
    registers,
  }),
  reloads: new Counter({
    name: 'twill_dns_reload_total',
    help: 'Corefile reloads, by result',
    labelNames: ['result'],
    registers,
  }),
};
