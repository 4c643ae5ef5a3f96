import type { HostReport } from '../events/host-report.js';
import type { Inventory } from '../inventory/inventory.js';

// A host's report replaces the stored one only when it is later (the inventory decides, by the report's time).
export async function applyHostReport(inventory: Inventory, report: HostReport): Promise<'applied' | 'stale'> {
  return inventory.putHostReport(report);
}
