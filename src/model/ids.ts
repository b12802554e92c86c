import { v7 as uuidV7 } from 'uuid';

/**
 * Operation ids are opaque strings; longrun makes GUIDs, clients may bring their own.
 *
 * The GUIDs are UUID version 7 (RFC 9562): they begin with the time in milliseconds and, within one
 * process, each is greater than the last. Every index that holds the id (the operation's key, its history's
 * key) then grows at its end, as with a sequence, instead of at a random page: one commit of 50 starts
 * touched about 100 scattered pages with random (version 4) ids, whose copy into the database file was
 * half of SQLite's time (decision 0036). They still carry 48 fresh random bits each, so one id does not
 * lead to another; what they reveal is when the operation was created, which its createdDateTime says to
 * whoever may read it.
 */
export function newOperationId(): string {
  return uuidV7();
}

export const MAX_ID_LENGTH = 512;
