/**
 * The `kube-system/kube-dns` Service, as kubeadm's CoreDNS addon creates it, and where it leads. Pods'
 * resolv.conf names its ClusterIP (the agent's --cluster-dns, the tenth address of the service range by
 * kubeadm's convention). twill's DNS is not a pod, so the Service has no selector and twill writes its one
 * EndpointSlice itself (managed-by twill-dns): the address where pods reach the DNS server (on `twill up
 * --nodes`, the underlay gateway on the host), with the bound port under the Service's port names, so the
 * Services dataplane DNATs `<clusterIP>:53` there.
 */
import { type ApiClient, Resources, isAlreadyExists, isNotFound } from '../client/rest.js';
import { nthAddress, formatIP, parseCIDR } from '../ipam/cidr.js';
import type { KubeObject } from '../model/types.js';

export const KUBE_DNS = { namespace: 'kube-system', name: 'kube-dns', slice: 'kube-dns-twill' } as const;

/** kubeadm's DNS address: the tenth address of the (first) service range, 10.96.0.10 for 10.96.0.0/12. */
export function clusterDNSAddress(serviceCIDR: string): string {
  return formatIP(nthAddress(parseCIDR(serviceCIDR), 10));
}

export function kubeDnsService(clusterIP: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: KUBE_DNS.name,
      namespace: KUBE_DNS.namespace,
      labels: {
        'k8s-app': 'kube-dns',
        'kubernetes.io/cluster-service': 'true',
        'kubernetes.io/name': 'CoreDNS',
      },
    },
    spec: {
      clusterIP,
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
        { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
      ],
    },
  };
}

export function kubeDnsEndpointSlice(endpoint: { ip: string; port: number }): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: KUBE_DNS.slice,
      namespace: KUBE_DNS.namespace,
      labels: {
        'kubernetes.io/service-name': KUBE_DNS.name,
        'endpointslice.kubernetes.io/managed-by': 'twill-dns',
      },
    },
    addressType: endpoint.ip.includes(':') ? 'IPv6' : 'IPv4',
    endpoints: [{ addresses: [endpoint.ip], conditions: { ready: true, serving: true, terminating: false } }],
    ports: [
      { name: 'dns', port: endpoint.port, protocol: 'UDP' },
      { name: 'dns-tcp', port: endpoint.port, protocol: 'TCP' },
    ],
  } as KubeObject;
}

/**
 * Creates the Service when it is missing (an existing one is the user's to change) and writes the
 * EndpointSlice when an endpoint is given.
 */
export async function publishKubeDns(
  client: ApiClient,
  o: { clusterIP: string; endpoint?: { ip: string; port: number } },
): Promise<void> {
  // Get before create: creating an existing Service with its ClusterIP is refused as "already allocated"
  // (kube-apiserver allocates before it finds the name taken), not AlreadyExists.
  try {
    await client.get(Resources.services, KUBE_DNS.namespace, KUBE_DNS.name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      await client.create(Resources.services, KUBE_DNS.namespace, kubeDnsService(o.clusterIP));
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
    }
  }
  if (!o.endpoint) return;
  const want = kubeDnsEndpointSlice(o.endpoint);
  try {
    const have = await client.get(Resources.endpointslices, KUBE_DNS.namespace, KUBE_DNS.slice);
    await client.update(Resources.endpointslices, KUBE_DNS.namespace, {
      ...want,
      metadata: { ...want.metadata, resourceVersion: have.metadata.resourceVersion },
    });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await client.create(Resources.endpointslices, KUBE_DNS.namespace, want);
  }
}
