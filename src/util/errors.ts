/**
 * One catalogue of twill's error codes. Every error a user can see carries one of these codes, so scripts and
 * tests can match on the code rather than on the text.
 */
export const ErrorCodes = {
  /** A flag, config file or manifest could not be read. */
  BadConfig: 'TWILL_BAD_CONFIG',
  /** The cluster (API server) could not be reached or refused us. */
  ClusterUnreachable: 'TWILL_CLUSTER_UNREACHABLE',
  /** The API answered with a Kubernetes Status error. */
  ApiError: 'TWILL_API_ERROR',
  /** The store (SQLite or etcd) failed. */
  StoreFailure: 'TWILL_STORE_FAILURE',
  /** A range (service CIDR, NodePort range, cluster CIDR) has no free entry left. */
  RangeFull: 'TWILL_RANGE_FULL',
  /** An address or port that was asked for is already allocated. */
  AlreadyAllocated: 'TWILL_ALREADY_ALLOCATED',
  /** A requested address or port lies outside its configured range. */
  OutOfRange: 'TWILL_OUT_OF_RANGE',
  /** A required host program (etcd, nft, ip, ...) is missing. */
  MissingDependency: 'TWILL_MISSING_DEPENDENCY',
  /** A kernel command (ip, nft, nsenter, sysctl, bridge) ran and failed for a reason not listed below. */
  LinuxCommandFailed: 'TWILL_LINUX_COMMAND_FAILED',
  /** The link, address, route or namespace does not exist. */
  LinuxNotFound: 'TWILL_LINUX_NOT_FOUND',
  /** The link, address, route or namespace already exists. */
  LinuxExists: 'TWILL_LINUX_EXISTS',
  /** Refused before running anything (a table twill does not own, a bad name). */
  LinuxRefused: 'TWILL_LINUX_REFUSED',
  /** `twill exec`/`twill logs`: the pod has no running sandbox on this machine, or has finished. */
  PodNotRunning: 'TWILL_POD_NOT_RUNNING',
  /** `-c NAME` names no container of the pod. */
  ContainerNotFound: 'TWILL_CONTAINER_NOT_FOUND',
  /** `twill logs`: no log file for that container run under the data dir. */
  LogNotFound: 'TWILL_LOG_NOT_FOUND',
  /** host-gw: a node is not on this node's L2 segment (its underlay address is not on-link). */
  OverlayNotOneSegment: 'TWILL_OVERLAY_NOT_ONE_SEGMENT',
  /** A sync of the Services dataplane failed (the next one is a full sync); logged by src/services. */
  ServicesSyncFailed: 'TWILL_SERVICES_SYNC_FAILED',
  /** A DNS message could not be parsed (RFC 1035 FORMERR): truncated, wrong counts, a compression loop. */
  DnsMalformed: 'TWILL_DNS_MALFORMED',
  /** A Corefile (file or ConfigMap kube-system/coredns) is invalid; the message names the line. */
  DnsBadCorefile: 'TWILL_DNS_BAD_COREFILE',
  /** The DNS server could not listen (address in use, no permission); the message names the flag. */
  DnsListen: 'TWILL_DNS_LISTEN',
  /** Anything unexpected. */
  Internal: 'TWILL_INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class TwillError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TwillError';
  }
}
