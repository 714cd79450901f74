// Secrets the API shows once (a new stream key), kept in this page's memory only: never in the
// URL, in storage or in the DOM beyond the field that shows them. They are forgotten when the user
// leaves the stream's pages, logs out or reloads.

const fresh = new Map();

/** Remembers the full key just created or rotated for a stream. */
export function rememberKey(streamId, key) {
  fresh.set(streamId, { key, at: Date.now() });
}

/** The full key of a stream, if it was created or rotated during this visit. */
export function freshKey(streamId) {
  const f = fresh.get(streamId);
  return f ? f.key : null;
}

export function forget(streamId) {
  fresh.delete(streamId);
}

export function forgetAllExcept(streamId) {
  for (const id of [...fresh.keys()]) if (id !== streamId) fresh.delete(id);
}

export function forgetAll() {
  fresh.clear();
}
