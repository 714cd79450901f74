// IPv4/IPv6 addresses and CIDR ranges, as the API's allowlists take them: validation while the
// user types, the normalised form the API will store (host bits cleared, bare addresses as /32 or
// /128, IPv6 in its canonical lower-case form) and matching an address against a list.
// Pure functions, no DOM: also used by the dashboard's unit tests under Node.

/** @returns {bigint|null} the IPv4 address as a 32-bit integer */
export function parseIPv4(text) {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  let v = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null;
    // A leading zero is ambiguous (octal in some tools); the API refuses it too.
    if (p.length > 1 && p[0] === "0") return null;
    const n = Number(p);
    if (n > 255) return null;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

/** @returns {bigint|null} the IPv6 address as a 128-bit integer */
export function parseIPv6(text) {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (s) => (s === "" ? [] : s.split(":"));
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const all = halves.length === 2 ? [...head, ...tail] : head;
  // An embedded IPv4 address may end the address (::ffff:192.0.2.1).
  const words = [];
  let v4 = null;
  if (all.length > 0 && all[all.length - 1].includes(".")) {
    v4 = parseIPv4(all[all.length - 1]);
    if (v4 === null) return null;
    if (tail.length > 0) tail.pop();
    else head.pop();
  }
  const hex = (g) => (/^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : null);
  const h = head.map(hex);
  const t = tail.map(hex);
  if (h.includes(null) || t.includes(null)) return null;
  const want = v4 === null ? 8 : 6;
  if (halves.length === 2) {
    if (h.length + t.length > want - 1) return null;
    words.push(...h, ...new Array(want - h.length - t.length).fill(0), ...t);
  } else {
    if (h.length !== want) return null;
    words.push(...h);
  }
  let v = 0n;
  for (const w of words) v = (v << 16n) | BigInt(w);
  if (v4 !== null) v = (v << 32n) | v4;
  return v;
}

export function formatIPv4(v) {
  return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join(".");
}

/** RFC 5952: lower case, the longest run of two or more zero groups as `::` (the first on a tie). */
export function formatIPv6(v) {
  const words = [];
  for (let i = 7n; i >= 0n; i--) words.push(Number((v >> (i * 16n)) & 0xffffn));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws) => ws.map((w) => w.toString(16)).join(":");
  if (best < 0) return hex(words);
  return `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`;
}

/** One address, IPv4 or IPv6 (no zone, no brackets). */
export function parseAddress(text) {
  const t = text.trim();
  const v4 = parseIPv4(t);
  if (v4 !== null) return { family: 4, value: v4 };
  const v6 = parseIPv6(t);
  if (v6 !== null) {
    // An IPv4-mapped address is the IPv4 client of a dual-stack listener.
    if (v6 >> 32n === 0xffffn) return { family: 4, value: v6 & 0xffffffffn };
    return { family: 6, value: v6 };
  }
  return null;
}

/**
 * Parses one allowlist entry.
 * @returns {{ok: boolean, error?: string, warnings: string[], normalized?: string,
 *            family?: 4|6, base?: bigint, prefix?: number}}
 */
export function parseCidr(input) {
  const text = input.trim();
  const warnings = [];
  if (text === "") return { ok: false, error: "empty", warnings };
  if (/\s/.test(text)) {
    return { ok: false, error: "has a space inside; put one entry per line", warnings };
  }
  const slash = text.indexOf("/");
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const prefixText = slash < 0 ? null : text.slice(slash + 1);
  if (addrText.includes("%")) {
    return { ok: false, error: "zone ids (%eth0) are not allowed", warnings };
  }
  let family;
  let value = parseIPv4(addrText);
  if (value !== null) family = 4;
  else {
    value = parseIPv6(addrText);
    if (value !== null) family = 6;
  }
  if (family === undefined) {
    const looks4 = /^[\d.]+$/.test(addrText);
    return {
      ok: false,
      error: looks4
        ? "not an IPv4 address: four numbers 0–255 separated by dots, like 203.0.113.7"
        : "not an IPv4 or IPv6 address (IPv4 like 203.0.113.7, IPv6 like 2001:db8::1)",
      warnings,
    };
  }
  const bits = family === 4 ? 32 : 128;
  let prefix = bits;
  if (prefixText !== null) {
    if (!/^\d{1,3}$/.test(prefixText)) {
      return { ok: false, error: `the part after / must be a number from 0 to ${bits}`, warnings };
    }
    prefix = Number(prefixText);
    if (prefix > bits) {
      return {
        ok: false,
        error: `/${prefix} is too long for IPv${family}: use /0 to /${bits}`,
        warnings,
      };
    }
  }
  const hostBits = BigInt(bits - prefix);
  const base = (value >> hostBits) << hostBits;
  const fmt = family === 4 ? formatIPv4 : formatIPv6;
  const normalized = `${fmt(base)}/${prefix}`;
  if (base !== value) {
    warnings.push(`host bits set: saved as ${normalized}`);
  }
  if (family === 6 && prefix >= 96 && value >> 32n === 0xffffn) {
    warnings.push("an IPv4-mapped rule matches no address: write IPv4 rules in IPv4 form (203.0.113.0/24)");
  }
  if (prefix === 0) {
    warnings.push(`/0 admits every IPv${family} address`);
  }
  return { ok: true, warnings, normalized, family, base, prefix };
}

/** Most entries an allowlist may hold (the API's limit). */
export const MAX_ENTRIES = 256;

/**
 * Validates a whole list, one entry per line (commas also separate). Blank lines are ignored.
 * @returns {{entries: Array<{line: number, text: string} & ReturnType<typeof parseCidr>>,
 *            errors: number, list: string[], tooMany: boolean}}
 */
export function validateList(text) {
  const entries = [];
  const seen = new Map();
  text.split("\n").forEach((raw, i) => {
    for (const part of raw.split(",")) {
      const t = part.trim();
      if (t === "") continue;
      const r = { line: i + 1, text: t, ...parseCidr(t) };
      if (r.ok) {
        if (seen.has(r.normalized)) {
          r.warnings.push(`duplicate of line ${seen.get(r.normalized)}; kept once`);
        } else {
          seen.set(r.normalized, i + 1);
        }
      }
      entries.push(r);
    }
  });
  const list = [...seen.keys()];
  const tooMany = list.length > MAX_ENTRIES;
  return { entries, errors: entries.filter((e) => !e.ok).length + (tooMany ? 1 : 0), list, tooMany };
}

/** Whether `ip` is inside `cidr` (both text). */
export function contains(cidr, ip) {
  const r = parseCidr(cidr);
  const a = parseAddress(ip);
  if (!r.ok || !a || r.family !== a.family) return false;
  const hostBits = BigInt((r.family === 4 ? 32 : 128) - r.prefix);
  return a.value >> hostBits === r.base >> hostBits;
}

/** Whether a list admits `ip` (an empty list admits every address). */
export function admits(list, ip) {
  return list.length === 0 || list.some((c) => contains(c, ip));
}
