/**
 * Builders of Services and EndpointSlices for the renderer's and tracer's tests and the README example: the
 * fields the proxier reads, with the API's defaults filled in as the API server would.
 */
import type { KubeObject } from '../model/types.js';

export interface PortSpec {
  name?: string;
  protocol?: 'TCP' | 'UDP';
  port: number;
  nodePort?: number;
}

export function service(
  ns: string,
  name: string,
  spec: Record<string, unknown> & { ports: PortSpec[] },
  extra: { labels?: Record<string, string>; lbIPs?: string[] } = {},
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: ns, name, ...(extra.labels ? { labels: extra.labels } : {}) },
    spec: { type: 'ClusterIP', sessionAffinity: 'None', ...spec },
    status: { loadBalancer: extra.lbIPs ? { ingress: extra.lbIPs.map((ip) => ({ ip })) } : {} },
  };
}

export interface EndpointSpec {
  ip: string;
  node?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

export function slice(
  ns: string,
  svcName: string,
  ports: { name?: string; port: number; protocol?: 'TCP' | 'UDP' }[],
  endpoints: EndpointSpec[],
  opts: { name?: string; addressType?: 'IPv4' | 'IPv6' } = {},
): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      namespace: ns,
      name: opts.name ?? `${svcName}-abcde`,
      labels: { 'kubernetes.io/service-name': svcName },
    },
    addressType: opts.addressType ?? (endpoints[0]?.ip.includes(':') ? 'IPv6' : 'IPv4'),
    ports: ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      nodeName: e.node ?? 'node-1',
      conditions: {
        ready: e.ready ?? true,
        serving: e.serving ?? e.ready ?? true,
        terminating: e.terminating ?? false,
      },
    })),
  } as KubeObject;
}
