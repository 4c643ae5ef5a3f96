import { statSync } from 'node:fs';
import type { ImageManifest } from './image-manifest.js';

const MIB = 1024 * 1024;
/** room QEMU keeps for itself below the loaded kernel and initrd (ACPI tables, boot data), rounded up */
const LOADER_MARGIN_MIB = 8;

/**
 * The least memory a VE of this image can start with: QEMU loads a direct-boot kernel and initrd into
 * guest RAM and refuses to start ("initrd is too large") below that, which would look like a host fault.
 * 0 for images that boot from their disk or are containers.
 */
export function findImageMemoryFloor(image: ImageManifest, sizeOf: (path: string) => number = (p) => statSync(p).size): number {
  if (image.type !== 'kvm' || (image.kernel === undefined && image.initrd === undefined)) return 0;
  const bytes = [image.kernel, image.initrd].reduce((sum, p) => sum + (p === undefined ? 0 : sizeOf(p)), 0);
  return Math.ceil(bytes / MIB) + LOADER_MARGIN_MIB;
}
