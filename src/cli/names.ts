/**
 * How the CLI reads a secret name: exactly as a workflow writes it (`STRIPE_API_KEY`) or as
 * kubectl shows the object (`stripe-api-key`). Any other spelling (`api_key`, `Api_Key`) is
 * refused with the name it probably meant, rather than silently changed into another name.
 */
import { checkObjectName, checkSecretName, SECRET_NAME_RULE, toSecretName } from '../core/names.js';
import { CliError, EXIT } from './errors.js';

/** What --help says about NAME arguments. */
export const NAME_HELP = 'NAME is the secret name as workflows write it (STRIPE_API_KEY) or its object name as kubectl shows it (stripe-api-key); any other spelling, such as api_key, is refused';

/** The secret name for a NAME argument; throws CliError (exit 2) for anything else. */
export function parseSecretName(raw: string): string {
  if (checkSecretName(raw).ok) return raw;
  if (checkObjectName(raw).ok) return toSecretName(raw);
  const check = checkSecretName(raw);
  const guess = raw.toUpperCase().replaceAll('-', '_');
  const hint = guess !== raw && checkSecretName(guess).ok ? ` (did you mean ${guess}?)` : '';
  const why = check.ok ? '' : `: ${check.message}`;
  throw new CliError(`invalid secret name${why}${hint}; a secret name is ${SECRET_NAME_RULE}`, EXIT.input);
}
