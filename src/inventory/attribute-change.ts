// Library-neutral shapes of LDAP writes, so entry mapping stays pure and testable without ldapts.

/** attribute name -> values; an attribute with no value is left out */
export type LdapAttributes = Record<string, string[]>;

/** one modification of a modify request; replace with no values removes the attribute */
export interface AttributeChange {
  readonly operation: 'add' | 'delete' | 'replace';
  readonly type: string;
  readonly values: readonly string[];
}

// Optional record fields are empty strings in pbs-ve but absent attributes in LDAP (empty values are invalid).
export function listValue(value: string): string[] {
  return value === '' ? [] : [value];
}
