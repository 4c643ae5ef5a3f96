// `--network NAME[=A.B.C.D/LEN]` as typed: names and per-NIC static addresses, both validated later with the spec.

export interface NetworkOptions {
  readonly networks: readonly string[];
  /** per NIC, '' where none was given; absent when no NIC has one */
  readonly addresses?: readonly string[];
}

// Only splits: validateVeSpec judges names and addresses, so a bad one gets the same error from every path.
export function parseNetworkOptions(values: readonly string[]): NetworkOptions {
  const networks = values.map((v) => (v.includes('=') ? v.slice(0, v.indexOf('=')) : v));
  const addresses = values.map((v) => (v.includes('=') ? v.slice(v.indexOf('=') + 1) : ''));
  return addresses.some((a) => a !== '') ? { networks, addresses } : { networks };
}
