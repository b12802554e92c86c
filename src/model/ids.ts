import { randomUUID } from 'node:crypto';

/** Operation ids are opaque strings; longrun makes GUIDs, clients may bring their own. */
export function newOperationId(): string {
  return randomUUID();
}

export const MAX_ID_LENGTH = 512;
