/** Files the CLI writes that hold secrets (a keys backup, a sign-in page): new, private, durable. */
import { closeSync, constants, fsyncSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { CliError, EXIT } from './errors.js';

/**
 * Writes `text` to a new file: created exclusively (never replaces a file, never follows a
 * symbolic link, a dangling one included), mode 0600 from the start, then the file and its
 * directory are fsynced so it survives a crash right after the command returns. A partial file
 * is removed when the write fails. `what` names it in errors ("a backup").
 */
export function writeNewFile(path: string, text: string, what: string): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // O_EXCL refuses any existing name, a symbolic link included (EEXIST); ELOOP is O_NOFOLLOW's word for it.
    if (code === 'EEXIST' || code === 'ELOOP') throw new CliError(`${path} already exists: ${what} is written only to a new file, never over one (a symbolic link included); choose a new name`, EXIT.exists);
    throw new CliError(`cannot create ${path}: ${code ?? 'error'}`, EXIT.input);
  }
  try {
    const bytes = Buffer.from(text, 'utf8');
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(path);
    throw new CliError(`cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, EXIT.input);
  }
  closeSync(fd);
  // The directory entry too: without it a crash can keep the file's data but lose its name.
  const dir = openSync(dirname(path), constants.O_RDONLY);
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
