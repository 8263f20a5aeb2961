/**
 * Secret names and their Kubernetes object names.
 *
 * A secret name is what a workflow writes in `{{secrets.NAME}}`: upper-case words of letters and
 * digits joined by single underscores, starting with a letter, at most 63 characters
 * (`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$`). The object name of its OrkaSecret is the same text in lower
 * case with `-` for `_` (`STRIPE_API_KEY` <-> `stripe-api-key`). The mapping is one-to-one, and
 * every refusal names the rule that failed. Checked character by character: no regular
 * expression, so the cost is linear whatever the input.
 */
import { OrkaError } from './errors.js';

/** Longest secret name (and object name): a DNS label, so it fits any Kubernetes name field. */
export const MAX_NAME_LENGTH = 63;

/** The rule a refused name broke. */
export type NameRule = 'empty' | 'too-long' | 'first-character' | 'character' | 'separator';

/** Result of a name check: ok, or the rule broken and a message for a person. */
export type NameCheck = { ok: true } | { ok: false; rule: NameRule; message: string };

/** The syntax of both kinds of names, for messages and docs. */
export const SECRET_NAME_RULE =
  'upper-case letters, digits and single underscores, starting with a letter, ending with a letter or digit, at most 63 characters';
/** The object-name form of the rule. */
export const OBJECT_NAME_RULE =
  'lower-case letters, digits and single hyphens, starting with a letter, ending with a letter or digit, at most 63 characters';

interface Alphabet {
  letter: (c: number) => boolean;
  separator: number;
  separatorText: string;
  letterText: string;
  kind: string;
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const UPPER: Alphabet = {
  letter: (c) => c >= 65 && c <= 90,
  separator: 95, // _
  separatorText: 'an underscore',
  letterText: 'an upper-case letter',
  kind: 'secret name',
};
const LOWER: Alphabet = {
  letter: (c) => c >= 97 && c <= 122,
  separator: 45, // -
  separatorText: 'a hyphen',
  letterText: 'a lower-case letter',
  kind: 'object name',
};

function refuse(rule: NameRule, message: string): NameCheck {
  return { ok: false, rule, message };
}

function check(name: string, a: Alphabet): NameCheck {
  // Made only for a refusal: a name that passes (every resolve checks each) costs no string.
  const shown = (): string => JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}...` : name);
  if (name.length === 0) return refuse('empty', `${a.kind} must not be empty`);
  if (name.length > MAX_NAME_LENGTH) {
    return refuse('too-long', `${a.kind} ${shown()} is ${name.length} characters long; at most ${MAX_NAME_LENGTH} are allowed`);
  }
  if (!a.letter(name.charCodeAt(0))) {
    return refuse('first-character', `${a.kind} ${shown()} must start with ${a.letterText}`);
  }
  for (let i = 1; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (a.letter(c) || isDigit(c)) continue;
    if (c !== a.separator) {
      return refuse('character', `${a.kind} ${shown()} has ${JSON.stringify(name[i])} at position ${i + 1}; only ${a === UPPER ? 'A-Z, 0-9 and _' : 'a-z, 0-9 and -'} are allowed`);
    }
    if (i === name.length - 1) {
      return refuse('separator', `${a.kind} ${shown()} must not end with ${a.separatorText}`);
    }
    if (name.charCodeAt(i + 1) === a.separator) {
      return refuse('separator', `${a.kind} ${shown()} has two ${a.separatorText.replace(/^an? /, '')}s in a row at position ${i + 1}`);
    }
  }
  return { ok: true };
}

/** Checks a secret name (`STRIPE_API_KEY`). */
export function checkSecretName(name: string): NameCheck {
  return check(name, UPPER);
}

/** Checks an OrkaSecret object name (`stripe-api-key`). */
export function checkObjectName(name: string): NameCheck {
  return check(name, LOWER);
}

/** Returns the name if valid; throws INVALID_SECRET_NAME naming the rule otherwise. */
export function assertSecretName(name: string): string {
  const result = checkSecretName(name);
  if (!result.ok) throw new OrkaError('INVALID_SECRET_NAME', result.message, { rule: result.rule });
  return name;
}

/** `STRIPE_API_KEY` -> `stripe-api-key`; throws INVALID_SECRET_NAME for an invalid name. */
export function toObjectName(secretName: string): string {
  return assertSecretName(secretName).toLowerCase().replaceAll('_', '-');
}

/** `stripe-api-key` -> `STRIPE_API_KEY`; throws INVALID_SECRET_NAME for an object name that maps to no secret name. */
export function toSecretName(objectName: string): string {
  const result = checkObjectName(objectName);
  if (!result.ok) {
    throw new OrkaError('INVALID_SECRET_NAME', `${result.message} (an OrkaSecret's name is its secret name in lower case with - for _)`, { rule: result.rule });
  }
  return objectName.toUpperCase().replaceAll('-', '_');
}

/** The secret names of OrkaSecret object names, leaving out the objects whose name maps to none. */
export function secretNamesOf(objectNames: readonly string[]): string[] {
  return objectNames.filter((n) => checkObjectName(n).ok).map(toSecretName);
}

/** The reference a workflow writes for a secret. */
export function referenceOf(secretName: string): string {
  return `{{secrets.${secretName}}}`;
}

/** Whether `s` is a namespace name (a DNS label: at most 63 of a-z, 0-9 and inner -). */
export function isNamespaceName(s: string): boolean {
  return s.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s);
}

/** Whether `s` is a Secret name (a DNS subdomain: at most 253 characters). */
export function isSecretObjectName(s: string): boolean {
  return s.length <= 253 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(s);
}

/** Whether `s` is a key of a Secret's data (at most 253 of letters, digits, -, _ and .). */
export function isSecretDataKey(s: string): boolean {
  return s.length <= 253 && /^[-._a-zA-Z0-9]+$/.test(s);
}

/** Whether `s` is a tenant id: a non-empty Kubernetes label value (the `orka.io/tenant` label's), so it never holds a `/`. */
export function isTenantId(s: string): boolean {
  return s.length <= 63 && /^[A-Za-z0-9]([-_.A-Za-z0-9]*[A-Za-z0-9])?$/.test(s);
}
