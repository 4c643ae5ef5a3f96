import { VeError } from '../core/ve-error.js';
import type { HostReport } from '../events/host-report.js';
import type { Inventory } from '../inventory/inventory.js';

// An inventory without host reports cannot store one: that is a setup problem, not a bad line.
export async function applyHostReport(inventory: Inventory, report: HostReport): Promise<'applied' | 'stale'> {
  if (inventory.putHostReport === undefined) throw new VeError('inventory-no-host-reports', 'exec', `host ${report.host}: this inventory cannot store host reports`);
  return inventory.putHostReport(report);
}
