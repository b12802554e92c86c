/** The RFC 7240 `Prefer` request header, as far as longrun honours it. */
export interface Preferences {
  includeUnknownEnumMembers: boolean;
  returnMinimal: boolean;
  /** Seconds, from `wait=N`. */
  wait?: number;
}

export function parsePrefer(header: string | string[] | undefined): Preferences {
  const prefs: Preferences = { includeUnknownEnumMembers: false, returnMinimal: false };
  if (!header) return prefs;
  const text = Array.isArray(header) ? header.join(',') : header;
  for (const raw of text.split(',')) {
    const [name, value] = raw
      .split(';')[0]
      .trim()
      .split('=')
      .map((s) => s.trim());
    const lower = name.toLowerCase();
    if (lower === 'include-unknown-enum-members') prefs.includeUnknownEnumMembers = true;
    else if (lower === 'return' && value?.toLowerCase() === 'minimal') prefs.returnMinimal = true;
    else if (lower === 'wait' && value && /^\d+$/.test(value)) prefs.wait = Number(value);
  }
  return prefs;
}
