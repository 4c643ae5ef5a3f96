// TORQUE counts slots (np, ppn), not cpus, and its scheduler has no per-queue cap per node. pbs-ve counts
// slotsPerCpu slots as one cpu: VE jobs hold a multiple of it, so the last slotsPerCpu - 1 slots of a host
// declared with np = slotsPerCpu x cpus + slotsPerCpu - 1 are never a VE's, and an operation (one slot)
// on a host full of VEs still runs (docs/design.md, "Capacity").

/** 2: one slot a host kept for operations, the smallest factor that keeps any */
export const DEFAULT_SLOTS_PER_CPU = 2;

// A job's ppn for its cpus on each node; 0 cpus (an operation on a VE that holds its cpus) is one slot.
export function findTorqueSlots(cpus: number, slotsPerCpu: number): number {
  return cpus === 0 ? 1 : cpus * slotsPerCpu;
}

// The np a host of `cpus` cpus is declared with, so VEs can take all its cpus and operations still find a slot.
export function findTorqueHostSlots(cpus: number, slotsPerCpu: number): number {
  return cpus * slotsPerCpu + slotsPerCpu - 1;
}
