/**
 * An operator's user directory file: which object id each user principal name belongs to, for
 * `longrun users import FILE` and `longrun serve --directory FILE`. Two formats:
 * - JSON: an array of `{ "id", "userPrincipalName", "tenantId"? }`, or Graph's own list-users response
 *   (`{ "value": [...] }`, e.g. saved from `GET /users?$select=id,userPrincipalName`);
 * - CSV: a header line naming `id` and `userPrincipalName` (and optionally `tenantId`), then one user a line.
 * Every entry is checked; the first bad one is reported with its place, and nothing is imported.
 */
import { isObjectIdShaped, isUpnShaped } from './user-directory.js';

export interface DirectoryEntry {
  tenantId: string;
  id: string;
  userPrincipalName: string;
}

/** Files larger than this are refused (a directory of a million users is well under it). */
export const MAX_DIRECTORY_FILE_BYTES = 256 * 1024 * 1024;

export function parseDirectoryFile(text: string, defaultTenantId: string | undefined): DirectoryEntry[] {
  const trimmed = text.trimStart();
  const raw = trimmed.startsWith('[') || trimmed.startsWith('{') ? fromJson(trimmed) : fromCsv(text);
  return raw.map(({ where, fields }) => checkEntry(where, fields, defaultTenantId));
}

type RawEntry = { where: string; fields: Record<string, unknown> };

function fromJson(text: string): RawEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`The directory file is not valid JSON: ${(e as Error).message}`);
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { value?: unknown })?.value;
  if (!Array.isArray(list)) {
    throw new Error('A JSON directory file must be an array of users, or an object with a "value" array.');
  }
  return list.map((item, i) => {
    if (!item || typeof item !== 'object' || Array.isArray(item)) {
      throw new Error(`Entry ${i + 1} of the directory file is not an object.`);
    }
    return { where: `entry ${i + 1}`, fields: item as Record<string, unknown> };
  });
}

function fromCsv(text: string): RawEntry[] {
  const lines = text.split(/\r?\n/);
  const header = splitCsvLine(lines[0] ?? '').map((h) => h.trim());
  for (const required of ['id', 'userPrincipalName']) {
    if (!header.includes(required)) {
      throw new Error(
        `The CSV directory file's header must name "id" and "userPrincipalName" (found: ${lines[0]}).`,
      );
    }
  }
  const entries: RawEntry[] = [];
  for (let n = 1; n < lines.length; n++) {
    if (lines[n].trim() === '') continue;
    const cells = splitCsvLine(lines[n]);
    const fields: Record<string, unknown> = {};
    header.forEach((name, i) => (fields[name] = cells[i]?.trim()));
    entries.push({ where: `line ${n + 1}`, fields });
  }
  return entries;
}

/** One CSV line (RFC 4180 quoting, without line breaks inside quotes: UPNs and ids have none). */
function splitCsvLine(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      cells.push(cell);
      cell = '';
    } else cell += c;
  }
  cells.push(cell);
  return cells;
}

function checkEntry(
  where: string,
  fields: Record<string, unknown>,
  defaultTenantId?: string,
): DirectoryEntry {
  const { id, userPrincipalName } = fields;
  const tenantId =
    fields.tenantId === undefined || fields.tenantId === '' ? defaultTenantId : fields.tenantId;
  if (typeof id !== 'string' || id === '' || id.includes('@')) {
    throw new Error(`The directory file's ${where}: "id" must be the user's object id.`);
  }
  if (typeof userPrincipalName !== 'string' || !isUpnShaped(userPrincipalName)) {
    throw new Error(`The directory file's ${where}: "userPrincipalName" must look like name@domain.`);
  }
  if (typeof tenantId !== 'string' || tenantId === '') {
    throw new Error(
      `The directory file's ${where} has no tenant: add a "tenantId" to each entry, or pass --tenant.`,
    );
  }
  if (!isObjectIdShaped(id) && id.length > 256) {
    throw new Error(`The directory file's ${where}: "id" is too long.`);
  }
  return { tenantId, id, userPrincipalName };
}
