// Every A.B.C.D/LEN pbs-ve reads (overlay and cluster subnets, static NIC addresses, the seed's network-config)
// is read here, one way: decimal octets and length without leading zeros (some tools read "010" as octal), the
// length 0 to 32. Each caller then adds its own rule: the lengths it allows, network address or host address.

const PREFIX_PATTERN = /^((?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d))\/(3[0-2]|[12]?\d)$/;

export interface Ipv4Prefix {
  /** the address as an unsigned 32-bit number */
  readonly address: number;
  readonly length: number;
}

// undefined for anything that is not exactly A.B.C.D/LEN: the caller names the field and what it expected.
export function parseIpv4Prefix(value: unknown): Ipv4Prefix | undefined {
  const m = typeof value === 'string' ? PREFIX_PATTERN.exec(value) : null;
  if (m === null) return undefined;
  const address = (m[1] ?? '').split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  return { address, length: Number(m[2]) };
}

// The host part of the address, in [0, size of the network).
export function findHostPart(prefix: Ipv4Prefix): number {
  return prefix.address % 2 ** (32 - prefix.length);
}
