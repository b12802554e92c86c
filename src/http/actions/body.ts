/** Small checks for action request bodies; every failure is a 400 naming the field. */
import { badRequest } from '../../model/errors.js';

export type FieldCheck = (value: unknown, name: string) => unknown;

export const str =
  (options: { maxLength?: number; pattern?: RegExp; oneOf?: readonly string[] } = {}): FieldCheck =>
  (value, name) => {
    if (typeof value !== 'string' || value.length === 0)
      throw badRequest(`'${name}' must be a non-empty string.`, name);
    if (options.maxLength && value.length > options.maxLength) {
      throw badRequest(`'${name}' must be at most ${options.maxLength} characters.`, name);
    }
    if (options.pattern && !options.pattern.test(value))
      throw badRequest(`'${name}' is not in the expected format.`, name);
    if (options.oneOf && !options.oneOf.includes(value)) {
      throw badRequest(`'${name}' must be one of ${options.oneOf.join(', ')}.`, name);
    }
    return value;
  };

export const bool: FieldCheck = (value, name) => {
  if (typeof value !== 'boolean') throw badRequest(`'${name}' must be true or false.`, name);
  return value;
};

export const httpsUrl: FieldCheck = (value, name) => {
  const text = str()(value, name) as string;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw badRequest(`'${name}' must be an absolute URL.`, name);
  }
  if (url.protocol !== 'https:') throw badRequest(`'${name}' must be an https URL.`, name);
  return text;
};

export const stringArray =
  (maxItems: number): FieldCheck =>
  (value, name) => {
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v.length === 0)) {
      throw badRequest(`'${name}' must be an array of strings.`, name);
    }
    if (value.length > maxItems) throw badRequest(`'${name}' can have at most ${maxItems} items.`, name);
    return value;
  };

export const object: FieldCheck = (value, name) => {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw badRequest(`'${name}' must be an object.`, name);
  }
  return value;
};

export interface BodySpec {
  required?: Record<string, FieldCheck>;
  optional?: Record<string, FieldCheck>;
  /** Accept properties not named here (bodies of resources longrun does not model, like simulations). */
  open?: boolean;
}

/**
 * Checks a body against the spec. `undefined` (no body) counts as `{}` when nothing is required.
 */
export function checkBody(body: unknown, spec: BodySpec): Record<string, unknown> {
  const required = spec.required ?? {};
  if (body === undefined || body === null) {
    if (Object.keys(required).length === 0) return {};
    throw badRequest(`The request body is required, with ${Object.keys(required).join(', ')}.`);
  }
  if (typeof body !== 'object' || Array.isArray(body))
    throw badRequest('The request body must be a JSON object.');
  const b = body as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [name, check] of Object.entries(required)) {
    if (b[name] === undefined) throw badRequest(`The property '${name}' is required.`, name);
    out[name] = check(b[name], name);
  }
  for (const [name, value] of Object.entries(b)) {
    if (name in required) continue;
    const check = spec.optional?.[name];
    if (check) out[name] = value === null ? null : check(value, name);
    else if (spec.open || name.startsWith('@odata.')) out[name] = value;
    else throw badRequest(`The property '${name}' is not supported by this action.`, name);
  }
  return out;
}
