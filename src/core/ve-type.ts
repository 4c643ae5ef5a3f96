// The two kinds of VE; the node feature the scheduler matches has the same name.
export const VE_TYPES = ['kvm', 'lxc'] as const;
export type VeType = (typeof VE_TYPES)[number];

export function isVeType(value: string): value is VeType {
  return (VE_TYPES as readonly string[]).includes(value);
}
