/** Objects as the API serves them, for the index's tests and the benchmark. */
import type { EndpointSlice, Pod, Service } from '../../../controllers/endpointslice/types.js';

export function service(ns: string, name: string, spec: Record<string, unknown>): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: ns, name },
    spec: spec as Service['spec'],
  };
}

export function slice(
  ns: string,
  svc: string,
  name: string,
  addressType: 'IPv4' | 'IPv6',
  endpoints: { ip: string; ready?: boolean; hostname?: string; pod?: string }[],
  ports: { name?: string; port: number; protocol?: string }[],
): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: ns, name, labels: { 'kubernetes.io/service-name': svc } },
    addressType,
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready ?? true },
      ...(e.hostname ? { hostname: e.hostname } : {}),
      ...(e.pod ? { targetRef: { kind: 'Pod', namespace: ns, name: e.pod } } : {}),
    })),
    ports: ports.map((p) => ({ protocol: 'TCP', ...p })),
  };
}

export function pod(ns: string, name: string, ip: string): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: ns, name },
    status: { podIP: ip, podIPs: [{ ip }] },
  };
}
