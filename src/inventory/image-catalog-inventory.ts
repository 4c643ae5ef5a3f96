// The ImageCatalogInventory port: images VEs can be created from (ou=images).
import type { VeType } from '../core/ve-type.js';

export interface ImageRecord {
  readonly name: string;
  readonly type: VeType;
  /** absolute path of the disk image or root file system on the hosts */
  readonly path: string;
  /** qcow2, raw, dir, ...; '' when unknown */
  readonly format: string;
  /** e.g. debian12; '' when unknown */
  readonly os: string;
  /** 0 when unknown */
  readonly sizeBytes: number;
  /** <algorithm>:<hex>, '' when unknown */
  readonly checksum: string;
  readonly description: string;
  /** true: a kvm image that reads a cloud-init NoCloud seed; absent = no */
  readonly cloudInit?: boolean;
}

export interface ImageCatalogInventory {
  /** creates or replaces the image entry */
  putImage(record: ImageRecord): Promise<void>;
  getImage(name: string): Promise<ImageRecord | undefined>;
  /** sorted by name; only images of one type when type is given */
  listImages(type?: VeType): Promise<ImageRecord[]>;
  /** false when there was no such image */
  removeImage(name: string): Promise<boolean>;
  close(): Promise<void>;
}
