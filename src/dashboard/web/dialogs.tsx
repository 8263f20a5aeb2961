/**
 * The three dialogs of the page: New Secret, Edit and Delete. Native <dialog> elements opened
 * modally (focus stays inside, Escape cancels). A value lives only in the Value field's state
 * until it is sealed; the field is cleared once the change is done.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { checkSecretName, SECRET_NAME_RULE } from '../../core/names.js';
import { MAX_DESCRIPTION, type SecretRow } from '../api.js';
import { ApiError, createSecret, deleteSecret, getSealingKey, updateSecret } from './client.js';
import { MAX_VALUE_BYTES, sealValue } from './seal.js';

interface DialogProps {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
}

/** A modal dialog titled `title`; Escape or onClose closes it. */
export function Dialog({ title, onClose, children }: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);
  return (
    <dialog ref={ref} aria-labelledby={titleId} onCancel={(e) => { e.preventDefault(); onClose(); }}>
      <h2 id={titleId}>{title}</h2>
      {children}
    </dialog>
  );
}

function Alert({ error }: { error: string | undefined }) {
  return error ? <p class="alert" role="alert">{error}</p> : null;
}

function DescriptionField({ value, onInput }: { value: string; onInput: (v: string) => void }) {
  const id = useId();
  return (
    <div class="field">
      <label for={id}>Description</label>
      <textarea id={id} rows={2} maxLength={MAX_DESCRIPTION} value={value} aria-describedby={`${id}-count`} onInput={(e) => onInput(e.currentTarget.value)} />
      <p id={`${id}-count`} class="hint counter">{value.length} / {MAX_DESCRIPTION}</p>
    </div>
  );
}

function ValueField({ value, onInput, hint, required, error }: { value: string; onInput: (v: string) => void; hint: string; required: boolean; error?: string | undefined }) {
  const id = useId();
  const [shown, setShown] = useState(false);
  return (
    <div class="field">
      <div class="label-row">
        <label for={id}>Value</label>
        <button type="button" class="link" aria-pressed={shown} aria-controls={id} onClick={() => setShown(!shown)}>
          {shown ? 'Hide value' : 'Show value'}
        </button>
      </div>
      <textarea
        id={id}
        class={shown ? 'value' : 'value masked'}
        rows={3}
        value={value}
        required={required}
        aria-invalid={error ? true : undefined}
        autocomplete="off"
        autocapitalize="off"
        spellcheck={false}
        aria-describedby={`${id}-hint${error ? ` ${id}-error` : ''}`}
        onInput={(e) => onInput(e.currentTarget.value)}
      />
      <p id={`${id}-hint`} class="hint">{hint}</p>
      {error ? <p id={`${id}-error`} class="field-error">{error}</p> : null}
    </div>
  );
}

function valueProblem(value: string): string | undefined {
  const bytes = new TextEncoder().encode(value).length;
  return bytes > MAX_VALUE_BYTES ? `The value is ${bytes} bytes; at most ${MAX_VALUE_BYTES} (64 KiB) are allowed.` : undefined;
}

function messageOf(err: unknown): string {
  return err instanceof ApiError ? err.message : `Could not seal the value in this browser: ${(err as Error).message}`;
}

/** New Secret: Name (rule checked as you type), Description, Value; sealed here, then created. */
export function NewSecretDialog({ namespace, onClose, onDone }: { namespace: string; onClose: () => void; onDone: (row: SecretRow) => void }) {
  const nameId = useId();
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [value, setValue] = useState('');
  const [touched, setTouched] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [nameError, setNameError] = useState<string>();
  const [valueError, setValueError] = useState<string>();
  const nameRef = useRef<HTMLInputElement>(null);
  const check = name === '' ? undefined : checkSecretName(name);
  const liveNameError = nameError ?? (check && !check.ok ? check.message : undefined);

  async function submit(e: Event) {
    e.preventDefault();
    setTouched(true);
    const nameCheck = checkSecretName(name);
    const problem = value === '' ? 'Enter a value.' : valueProblem(value);
    setValueError(problem);
    if (!nameCheck.ok) {
      setNameError(nameCheck.message);
      nameRef.current?.focus();
      return;
    }
    if (problem) return;
    setBusy(true);
    setError(undefined);
    try {
      const sealedValue = await sealValue(await getSealingKey(namespace), namespace, name, value);
      const row = await createSecret(namespace, { name, description, sealedValue });
      setValue('');
      onDone(row);
    } catch (err) {
      if (err instanceof ApiError && err.field === 'name') {
        setNameError(err.message);
        nameRef.current?.focus();
      } else setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog title="New Secret" onClose={onClose}>
      <form onSubmit={submit} noValidate>
        <Alert error={error} />
        <div class="field">
          <label for={nameId}>Name</label>
          <input
            id={nameId}
            ref={nameRef}
            value={name}
            autocomplete="off"
            autocapitalize="characters"
            spellcheck={false}
            required
            aria-invalid={(touched || name !== '') && liveNameError ? true : undefined}
            aria-describedby={`${nameId}-rule${liveNameError ? ` ${nameId}-error` : ''}`}
            onInput={(e) => {
              setName(e.currentTarget.value);
              setNameError(undefined);
            }}
          />
          <p id={`${nameId}-rule`} class="hint">UPPER_SNAKE_CASE: {SECRET_NAME_RULE}. Referenced as <code>{`{{secrets.${check?.ok ? name : 'NAME'}}}`}</code></p>
          {liveNameError ? <p id={`${nameId}-error`} class="field-error">{liveNameError}</p> : null}
        </div>
        <DescriptionField value={description} onInput={setDescription} />
        <ValueField value={value} onInput={(v) => { setValue(v); setValueError(undefined); }} required error={valueError}
          hint="Sealed in this browser before it is sent. It cannot be shown again after it is created." />
        <div class="buttons">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit" class="primary" disabled={busy}>{busy ? 'Creating…' : 'Create'}</button>
        </div>
      </form>
    </Dialog>
  );
}

/** Edit: Description, and Value (empty keeps the stored value). */
export function EditSecretDialog({ namespace, row, onClose, onDone }: { namespace: string; row: SecretRow; onClose: () => void; onDone: (row: SecretRow) => void }) {
  const [description, setDescription] = useState(row.description);
  const [value, setValue] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [valueError, setValueError] = useState<string>();

  async function submit(e: Event) {
    e.preventDefault();
    const problem = value === '' ? undefined : valueProblem(value);
    setValueError(problem);
    if (problem) return;
    setBusy(true);
    setError(undefined);
    try {
      const sealedValue = value === '' ? undefined : await sealValue(await getSealingKey(namespace), namespace, row.name, value);
      const updated = await updateSecret(namespace, row.name, { description, ...(sealedValue ? { sealedValue } : {}) });
      setValue('');
      onDone(updated);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog title={`Edit ${row.name}`} onClose={onClose}>
      <form onSubmit={submit} noValidate>
        <Alert error={error} />
        <DescriptionField value={description} onInput={setDescription} />
        <ValueField value={value} onInput={(v) => { setValue(v); setValueError(undefined); }} required={false} error={valueError}
          hint="Leave empty to keep the existing value. A new value is sealed in this browser before it is sent." />
        <div class="buttons">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit" class="primary" disabled={busy}>{busy ? 'Saving…' : 'Save'}</button>
        </div>
      </form>
    </Dialog>
  );
}

/** Delete: a confirmation that names the secret and what breaks. */
export function DeleteSecretDialog({ namespace, row, onClose, onDone }: { namespace: string; row: SecretRow; onClose: () => void; onDone: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  async function confirm(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await deleteSecret(namespace, row.name);
      onDone();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <Dialog title={`Delete ${row.name}?`} onClose={onClose}>
      <form onSubmit={confirm}>
        <Alert error={error} />
        <p>
          Workflows that reference <code>{row.reference}</code> will fail with “secret {row.name} could not be found”. This cannot be undone.
        </p>
        <div class="buttons">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit" class="danger" disabled={busy}>{busy ? 'Deleting…' : 'Delete'}</button>
        </div>
      </form>
    </Dialog>
  );
}
