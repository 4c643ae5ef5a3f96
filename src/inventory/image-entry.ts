// ImageRecord <-> pbsveImage entry.
import type { Entry } from 'ldapts';
import { invalidField } from '../core/ve-error.js';
import { isVeType } from '../core/ve-type.js';
import { listValue, type LdapAttributes } from './attribute-change.js';
import { readLdapEntry } from './read-ldap-entry.js';
import type { ImageRecord } from './image-catalog-inventory.js';
import { validateAscii, validateCount, validateText } from './validate-inventory-field.js';

export const IMAGE_OBJECT_CLASS = 'pbsveImage';
export const IMAGE_ATTRIBUTES = [
  'pbsveImageName', 'pbsveType', 'pbsvePath', 'pbsveFormat', 'pbsveOs', 'pbsveSizeBytes', 'pbsveChecksum', 'pbsveCloudInit', 'description',
];

// All attributes of an image entry; empty lists mean "remove" when used as replace values.
export function encodeImageAttributes(record: ImageRecord): LdapAttributes {
  if (!isVeType(record.type)) throw invalidField('type', 'must be kvm or lxc', record.type);
  return {
    pbsveImageName: [validateText('name', record.name)],
    pbsveType: [record.type],
    pbsvePath: [validateText('path', record.path)],
    pbsveFormat: listValue(validateAscii('format', record.format, { optional: true })),
    pbsveOs: listValue(validateText('os', record.os, { optional: true })),
    pbsveSizeBytes: record.sizeBytes === 0 ? [] : [String(validateCount('sizeBytes', record.sizeBytes))],
    pbsveChecksum: listValue(validateAscii('checksum', record.checksum, { optional: true })),
    description: listValue(validateText('description', record.description, { optional: true })),
    pbsveCloudInit: record.cloudInit === true ? ['TRUE'] : [],
  };
}

// Unknown optional values come back as '' and 0 like the record defines them.
export function decodeImageEntry(entry: Entry): ImageRecord {
  const r = readLdapEntry(entry);
  return {
    name: r.requireString('pbsveImageName'),
    type: r.requireOneOf('pbsveType', isVeType),
    path: r.requireString('pbsvePath'),
    format: r.optionalString('pbsveFormat') ?? '',
    os: r.optionalString('pbsveOs') ?? '',
    sizeBytes: r.optionalInteger('pbsveSizeBytes') ?? 0,
    checksum: r.optionalString('pbsveChecksum') ?? '',
    description: r.optionalString('description') ?? '',
    ...(r.optionalBoolean('pbsveCloudInit') === true ? { cloudInit: true } : {}),
  };
}
