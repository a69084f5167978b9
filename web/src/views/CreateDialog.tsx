import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useMutation, useQuery } from 'urql';
import { checkName, createStoreError, NAME_RULES, requestError, type FieldError } from '../errors';
import { CreateStoreDocument, EnginesDocument } from '../graphql/generated';
import type { Store } from '../stores';

export function CreateDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (store: Store) => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [engines] = useQuery({ query: EnginesDocument });
  const [creation, create] = useMutation(CreateStoreDocument);
  const [name, setName] = useState('');
  const [engine, setEngine] = useState('');
  const [touched, setTouched] = useState(false);
  const [error, setError] = useState<FieldError | null>(null);
  // One key per name and engine: submitting the same store again (after a lost answer) creates it once.
  const keys = useRef(new Map<string, string>());

  useEffect(() => {
    const element = dialog.current;
    if (element && !element.open) element.showModal();
    return () => element?.close();
  }, []);
  useEffect(() => {
    const first = engines.data?.engines[0];
    if (first && !engine) setEngine(first.key);
  }, [engines.data, engine]);

  const local = touched ? checkName(name) : null;
  const nameError = local ?? (error?.field === 'name' ? error.message : null);
  const engineError = error?.field === 'engine' ? error.message : null;
  const formError = error?.field === 'form' ? error.message : null;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setTouched(true);
    if (checkName(name)) return;
    setError(null);
    const input = `${name}\n${engine}`;
    const idempotencyKey = keys.current.get(input) ?? randomKey();
    keys.current.set(input, idempotencyKey);
    const result = await create({ input: { name, engine, idempotencyKey } });
    if (result.error || !result.data) {
      setError({ field: 'form', message: requestError(result.error) });
      return;
    }
    const outcome = result.data.createStore;
    if (outcome.__typename === 'CreateStoreSuccess') onCreated(outcome.store);
    else setError(createStoreError(outcome));
  };

  return (
    <dialog ref={dialog} className="dialog" aria-labelledby="create-title" onClose={onClose} onCancel={onClose}>
      <form onSubmit={submit} className="form" noValidate>
        <h2 id="create-title">Create a store</h2>
        <label htmlFor="store-name">Name</label>
        <input
          id="store-name"
          name="name"
          value={name}
          autoComplete="off"
          spellCheck={false}
          autoFocus
          onChange={(event) => {
            setName(event.target.value);
            if (error?.field === 'name') setError(null);
          }}
          onBlur={() => name && setTouched(true)}
          aria-invalid={nameError ? true : undefined}
          aria-describedby={`name-rules${nameError ? ' name-error' : ''}`}
        />
        <ul id="name-rules" className="rules">
          {NAME_RULES.map((rule) => (
            <li key={rule}>{rule}</li>
          ))}
        </ul>
        {nameError && (
          <p id="name-error" className="field-error" role="alert">
            {nameError}
          </p>
        )}
        <label htmlFor="store-engine">Engine</label>
        {engines.fetching && <p className="muted">Loading engines…</p>}
        {engines.error && (
          <p className="field-error" role="alert">
            Could not load the engines: {requestError(engines.error)}
          </p>
        )}
        <select
          id="store-engine"
          value={engine}
          onChange={(event) => setEngine(event.target.value)}
          aria-invalid={engineError ? true : undefined}
          aria-describedby={engineError ? 'engine-error' : undefined}
        >
          {engines.data?.engines.map((item) => (
            <option key={item.key} value={item.key}>
              {item.displayName}: {item.description}
            </option>
          ))}
        </select>
        {engineError && (
          <p id="engine-error" className="field-error" role="alert">
            {engineError}
          </p>
        )}
        {formError && (
          <p className="field-error" role="alert">
            {formError}
          </p>
        )}
        <div className="actions">
          <button type="button" className="button secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button" disabled={creation.fetching || !engine}>
            {creation.fetching ? 'Creating…' : 'Create'}
          </button>
        </div>
      </form>
    </dialog>
  );
}

function randomKey(): string {
  // getRandomValues works on plain http too, where crypto.randomUUID does not exist.
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, '0')).join('');
}
