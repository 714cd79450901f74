// Unit tests of the dashboard's pure modules (web/js/cidr.js, web/js/explain.js, web/js/events.js),
// run by tests/dashboard.rs with `node --test`. No browser, no server.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseCidr, validateList, contains, admits, formatIPv6, parseIPv6 } from "../../web/js/cidr.js";
import { explainAttempt, explainEnd, appOf, describeActor } from "../../web/js/explain.js";
import { EVENT_TYPES, summarizeEvent } from "../../web/js/events.js";

test("IPv4 entries: bare addresses become /32, host bits are cleared, bad ones are named", () => {
  assert.equal(parseCidr("203.0.113.7").normalized, "203.0.113.7/32");
  const r = parseCidr("10.1.2.3/8");
  assert.equal(r.normalized, "10.0.0.0/8");
  assert.match(r.warnings[0], /host bits set: saved as 10\.0\.0\.0\/8/);
  assert.match(parseCidr("10.0.0.0/33").error, /\/33 is too long for IPv4/);
  assert.match(parseCidr("256.1.1.1").error, /not an IPv4 address/);
  assert.match(parseCidr("010.1.1.1").error, /not an IPv4 address/);
  assert.match(parseCidr("10.0.0.0/x").error, /number from 0 to 32/);
  assert.match(parseCidr("1.2.3.4 5.6.7.8").error, /one entry per line/);
});

test("IPv6 entries: canonical lower-case form, prefix up to 128, mapped rules flagged", () => {
  assert.equal(parseCidr("2001:DB8::/32").normalized, "2001:db8::/32");
  assert.equal(parseCidr("2001:db8:0:0:1:0:0:1").normalized, "2001:db8::1:0:0:1/128");
  assert.equal(parseCidr("::1").normalized, "::1/128");
  assert.equal(parseCidr("::").normalized, "::/128");
  assert.equal(parseCidr("2001:db8::1/64").normalized, "2001:db8::/64");
  assert.match(parseCidr("2001:db8::/129").error, /\/129 is too long for IPv6/);
  assert.match(parseCidr("2001:db8:::1").error, /not an IPv4 or IPv6/);
  assert.match(parseCidr("fe80::1%eth0").error, /zone ids/);
  assert.match(parseCidr("::ffff:203.0.113.0/120").warnings.join(), /IPv4-mapped rule matches no address/);
  assert.equal(formatIPv6(parseIPv6("1:0:0:2:0:0:0:3")), "1:0:0:2::3");
  assert.equal(formatIPv6(parseIPv6("1:0:2:3:4:5:6:7")), "1:0:2:3:4:5:6:7");
});

test("a list: one entry per line, duplicates kept once, blank lines ignored", () => {
  const v = validateList("10.0.0.1/8\n\n10.0.0.0/8, 2001:db8::/32\nnope");
  assert.deepEqual(v.list, ["10.0.0.0/8", "2001:db8::/32"]);
  assert.equal(v.errors, 1);
  assert.equal(v.entries[3].line, 4);
  assert.match(v.entries[1].warnings.join(), /duplicate of line 1/);
  assert.equal(validateList("").errors, 0);
});

test("matching: IPv4 ranges, IPv6 ranges, IPv4-mapped clients, empty lists", () => {
  assert.ok(contains("10.0.0.0/8", "10.200.1.1"));
  assert.ok(!contains("10.0.0.0/8", "127.0.0.1"));
  assert.ok(contains("2001:db8::/32", "2001:db8:ffff::1"));
  assert.ok(contains("203.0.113.0/24", "::ffff:203.0.113.9"));
  assert.ok(!contains("2001:db8::/32", "10.0.0.1"));
  assert.ok(admits([], "127.0.0.1"));
  assert.ok(!admits(["10.0.0.0/8"], "127.0.0.1"));
});

const stream = {
  id: "s1",
  auth_mode: "key",
  enabled: true,
  takeover: true,
  ip_allowlist: ["10.0.0.0/8"],
  ingest: {
    rtmp: { server: "rtmp://127.0.0.1:1935/live", stream_key_hint: "sk_NEWNEWNEW0…" },
    rtmps: { server: "rtmps://127.0.0.1:1936/live", stream_key_hint: "sk_NEWNEWNEW0…" },
  },
};
const me = { user: { id: "u1", email: "ops@acme.example" } };
const attempt = (over) => ({ at: "2026-11-25T08:15:03Z", result: "refused", client_ip: "127.0.0.1", app: "live", tls: false, key_id: null, detail: "", ...over });

test("unknown_app names the path the encoder used and the one to use", () => {
  const e = explainAttempt(attempt({ reason_code: "unknown_app", app: "livee" }), { stream });
  assert.equal(e.summary, "Your encoder connected to /livee; the server path is /live. In OBS, the Server field must end in /live.");
  assert.match(e.fix, /rtmp:\/\/127\.0\.0\.1:1935\/live/);
  const k = explainAttempt(attempt({ reason_code: "unknown_app", app: "sk_AbCdEfGhIj_…" }), { stream });
  assert.match(k.summary, /Server field ends with the stream key/);
  assert.equal(appOf("rtmps://ingest.example.com:443/live"), "live");
});

test("key_expired and key_revoked say when and by whom, from the audit log", () => {
  const audit = [
    { at: "2026-11-25T08:10:02Z", actor: "token:TokTokTok1", action: "stream_key.revoked", target_id: "OLDOLDOLD1", details: {} },
    { at: "2026-11-25T08:10:00Z", actor: "user:u1", action: "stream_key.rotated", target_id: "s1", details: { new_key_id: "NEWNEWNEW0", older_key_ids: ["OLDOLDOLD0"], grace_seconds: 300 } },
  ];
  const keys = [{ id: "OLDOLDOLD0", expires_at: "2026-11-25T08:15:00Z" }];
  const e = explainAttempt(attempt({ reason_code: "key_expired", key_id: "OLDOLDOLD0" }), { stream, audit, keys, me, locale: "en-GB" });
  assert.match(e.summary, /old key sk_OLDOLDOLD0…, which was rotated on .+ by you \(ops@acme\.example\) and stopped working at .+ \(after a grace period of 5 min\)\./);
  assert.match(e.fix, /current key \(sk_NEWNEWNEW0…\)/);
  const r = explainAttempt(attempt({ reason_code: "key_revoked", key_id: "OLDOLDOLD1" }), { stream, audit, me, apiTokens: [{ id: "TokTokTok1", name: "ci" }] });
  assert.match(r.summary, /sk_OLDOLDOLD1…, which was revoked on .+ by the API token “ci”/);
  assert.equal(describeActor("user:other", { me }), "another user of your organization (user other)");
  assert.equal(describeActor("operator", { me }), "the operator of this Inlet");
});

test("ip_not_allowed names the address, the list, and notices a list that changed since", () => {
  const e = explainAttempt(attempt({ reason_code: "ip_not_allowed", detail: "Publishing from 127.0.0.1 is not allowed by this stream's IP allowlist." }), { stream });
  assert.match(e.summary, /connects from 127\.0\.0\.1, which this stream's IP allowlist does not include \(it lists 10\.0\.0\.0\/8\)\.$/);
  assert.match(e.fix, /Settings → IP allowlist/);
  const now = explainAttempt(attempt({ reason_code: "ip_not_allowed", detail: "…this stream's IP allowlist." }), { stream: { ...stream, ip_allowlist: ["127.0.0.0/8"] } });
  assert.match(now.summary, /now admits 127\.0\.0\.1/);
  const t = explainAttempt(attempt({ reason_code: "ip_not_allowed", detail: "…by your organization's IP allowlist." }), { stream, tenantAllowlist: ["192.0.2.0/24"] });
  assert.match(t.summary, /your organization's IP allowlist does not include \(it lists 192\.0\.2\.0\/24\)/);
  assert.match(t.fix, /Account/);
});

test("every SPEC §4 reason code gets its own plain explanation with a fix", () => {
  const codes = ["unknown_app", "play_not_supported", "invalid_key", "key_revoked", "key_expired", "token_invalid", "token_expired",
    "token_replayed", "ip_not_allowed", "stream_disabled", "already_live", "tenant_quota", "limits_violation", "control_plane_unavailable"];
  const seen = new Set();
  for (const reason_code of codes) {
    const e = explainAttempt(attempt({ reason_code, key_id: "K", detail: "height 1080 px exceeds the limit of 720 px" }), { stream });
    assert.ok(e.summary.length > 20, reason_code);
    assert.ok(e.fix.length > 10, `${reason_code} has a fix`);
    assert.ok(!seen.has(e.summary), `${reason_code} is not explained like another code`);
    seen.add(e.summary);
  }
  assert.match(explainAttempt(attempt({ reason_code: "limits_violation", detail: "keyframe interval 10.0 s exceeds" }), { stream }).fix, /Keyframe Interval/);
  assert.match(explainAttempt(attempt({ reason_code: "invalid_key", detail: "Too many failed publish attempts from 1.2.3.4" }), { stream }).summary, /paused/);
  assert.match(explainAttempt(attempt({ reason_code: "token_invalid", detail: "This stream requires a publish token: add ?token=" }), { stream: { ...stream, auth_mode: "key+token" } }).fix, /sk_…\?token=/);
});

test("session end reasons in words", () => {
  assert.match(explainEnd("kicked:key_rotated"), /rotated/);
  assert.match(explainEnd("key_rotated"), /rotated/);
  assert.match(explainEnd("publisher_left"), /stopped publishing/);
  assert.equal(explainEnd("something_new"), "something new");
});

test("the dashboard offers exactly the contract's event types, in its order", () => {
  const rust = readFileSync(new URL("../../contract/src/events.rs", import.meta.url), "utf8");
  const contract = [...rust.matchAll(/#\[serde\(rename = "([a-z_.]+)"\)\]/g)].map((m) => m[1]);
  assert.ok(contract.length >= 19, "the contract's renames are found");
  assert.deepEqual(EVENT_TYPES.map(([t]) => t), contract);
  for (const [t, what] of EVENT_TYPES) assert.ok(what.length > 10, `${t} is described`);
});

test("events in plain words", () => {
  const ev = (type, data) => ({ type, data: { stream: { name: "studio-a", auth_mode: "key" }, ...data } });
  assert.equal(summarizeEvent(ev("stream.created", {})), "Stream “studio-a” created (auth mode key).");
  assert.equal(summarizeEvent(ev("stream.rejected", { reason_code: "invalid_key", count: 3, client_ip: "203.0.113.7" })),
    "Publish refused: invalid_key × 3 in that minute from 203.0.113.7.");
  assert.equal(summarizeEvent(ev("stream.rejected", { reason_code: "ip_not_allowed", count: 1, detail: "Not allowed." })),
    "Publish refused: ip_not_allowed. The encoder was told: “Not allowed.”");
  assert.equal(summarizeEvent(ev("stream.idle", { end_reason: "kicked:key_rotated", session: { duration_seconds: 42.4 } })),
    "Session ended (kicked:key_rotated): The key was rotated with “disconnect the live publisher”, so the encoder was cut. It lasted 42 s.");
  assert.equal(summarizeEvent(ev("stream.idle", { end_reason: "something_new" })), "Session ended (something_new): something new.");
  assert.equal(summarizeEvent(ev("stream.active", { hls_url: "http://h/hls/x/index.m3u8" })), "Live: HLS playback is ready at http://h/hls/x/index.m3u8");
  assert.equal(summarizeEvent(ev("stream.connected", { client_ip: "127.0.0.1", tls: false, key_id: "AbCdEfGhIj", node_id: "n1", resumed: false })),
    "Publish accepted from 127.0.0.1 over RTMP with the key sk_AbCdEfGhIj… on node n1.");
  assert.equal(summarizeEvent(ev("stream.key_rotated", { key: { prefix: "sk_NEW" }, older_key_ids: ["a"], grace_seconds: 0, disconnect_active: true })),
    "Key rotated: the new key is sk_NEW…; 1 older key stopped at once; the live publisher was disconnected.");
  assert.equal(summarizeEvent(ev("stream.unhealthy", { figure: "max_bitrate_kbps", measured: "9000", configured: 6000 })),
    "Bitrate is outside the limit: measured 9000, limit 6000.");
  assert.equal(summarizeEvent(ev("stream.disconnected", { reason: "network_error", reconnect_window_seconds: 30 })),
    "The encoder dropped (network_error); the session waits 30 s for it to come back.");
  assert.equal(summarizeEvent(ev("stream.disconnected", { reason: "kicked", reconnect_window_seconds: 0 })),
    "The encoder disconnected (kicked); the session ends with it.");
  assert.equal(summarizeEvent({ type: "webhook.disabled", data: { webhook: { url: "https://x" }, reason: "410 Gone" } }), "Endpoint https://x disabled: 410 Gone.");
  for (const [t] of EVENT_TYPES) assert.ok(summarizeEvent({ type: t, data: {} }).length > 5, `${t} has a summary`);
  assert.equal(summarizeEvent({ type: "stream.future", data: {} }), "stream.future.");
});
