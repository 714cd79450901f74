// Secrets the API shows once (a new stream key, a webhook's signing secret), kept in this page's
// memory only, by the id of the stream or webhook they belong to: never in the URL, in storage or
// in the DOM beyond the field that shows them. They are forgotten when the user leaves that
// object's pages, logs out or reloads.

const fresh = new Map();

/** Remembers the full secret just created or rotated for a stream (its key) or a webhook. */
export function rememberKey(id, key) {
  fresh.set(id, { key, at: Date.now() });
}

/** The full secret of a stream or webhook, if it was created or rotated during this visit. */
export function freshKey(id) {
  const f = fresh.get(id);
  return f ? f.key : null;
}

export function forget(id) {
  fresh.delete(id);
}

export function forgetAllExcept(id) {
  for (const k of [...fresh.keys()]) if (k !== id) fresh.delete(k);
}

export function forgetAll() {
  fresh.clear();
}
