//! Publish authorization (docs/api.md): decides whether a publish is let in, from the app, the
//! publish name (stream key and/or publish token), the connect query and the client address. Every
//! decision is recorded as a publish attempt; refusals carry a reason code
//! (docs/troubleshooting.md) and a sentence the encoder operator can act on. Addresses that keep
//! failing are refused without a database lookup for a cool-down (brute-force protection).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use inlet_contract::publish::{Allow, AuthorizeRequest, AuthorizeResponse, Deny, ReasonCode};
use uuid::Uuid;

use crate::context::ApiContext;
use crate::domain::allowlist;
use crate::domain::credentials::{self, Kind};
use crate::domain::publish_token::{self, Expect, Refusal};
use crate::store;
use crate::store::publish::{RefusedAttempt, StreamAuth};

/// Per-address failure counting.
pub struct FailureGuard {
    entries: Mutex<HashMap<IpAddr, Failures>>,
    max: u32,
    window: Duration,
    cooldown: Duration,
}

struct Failures {
    count: u32,
    since: Instant,
    blocked_until: Option<Instant>,
}

impl FailureGuard {
    pub fn new(max: u32, window: Duration, cooldown: Duration) -> FailureGuard {
        FailureGuard {
            entries: Mutex::new(HashMap::new()),
            max: max.max(1),
            window,
            cooldown,
        }
    }

    /// Seconds left of the address's cool-down, if it is in one.
    pub fn blocked(&self, ip: IpAddr) -> Option<u64> {
        let now = Instant::now();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let until = entries.get(&ip)?.blocked_until?;
        (until > now).then(|| (until - now).as_secs().max(1))
    }

    /// Counts a credential failure; returns true when it started a cool-down.
    pub fn fail(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() > 100_000 {
            entries.retain(|_, f| {
                f.blocked_until.is_some_and(|u| u > now) || now - f.since < self.window
            });
        }
        let f = entries.entry(ip).or_insert(Failures {
            count: 0,
            since: now,
            blocked_until: None,
        });
        if now - f.since > self.window {
            *f = Failures {
                count: 0,
                since: now,
                blocked_until: None,
            };
        }
        f.count += 1;
        if f.count >= self.max {
            f.blocked_until = Some(now + self.cooldown);
            *f = Failures {
                count: 0,
                since: now,
                blocked_until: f.blocked_until,
            };
            return true;
        }
        false
    }
}

/// Reason codes that count as credential guessing.
fn counts_as_failure(code: ReasonCode) -> bool {
    matches!(code, ReasonCode::InvalidKey | ReasonCode::TokenInvalid)
}

/// A refusal under construction.
struct Refuse(ReasonCode, String);

fn refuse(code: ReasonCode, detail: impl Into<String>) -> Refuse {
    Refuse(code, detail.into())
}

/// What is known about the attempt so far (for the record).
#[derive(Default)]
struct Known {
    tenant_id: Option<Uuid>,
    stream_id: Option<Uuid>,
    key_id: Option<String>,
    /// The attempt is already recorded (by the live claim).
    recorded: bool,
}

/// The publish token, from the publish name's or the connect URL's query, or the publish name
/// itself.
fn find_token<'a>(
    name: &'a str,
    name_query: Option<&'a str>,
    connect_query: Option<&'a str>,
) -> Option<String> {
    let from_query = |q: Option<&str>| {
        q.and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v.into_owned())
        })
    };
    from_query(name_query)
        .or_else(|| from_query(connect_query))
        .or_else(|| {
            (name.starts_with("eyJ") && name.matches('.').count() == 2).then(|| name.to_string())
        })
}

fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Decides a publish and records the attempt.
pub async fn authorize(
    ctx: &ApiContext,
    req: &AuthorizeRequest,
) -> anyhow::Result<AuthorizeResponse> {
    let started = Instant::now();
    let ip = req.client_ip.to_canonical();
    if let Some(left) = ctx.auth_guard.blocked(ip) {
        ctx.metrics.authorize_throttled.inc();
        return Ok(AuthorizeResponse::Deny(Deny {
            reason_code: ReasonCode::InvalidKey,
            description: format!(
                "Too many failed publish attempts from {ip}; retry in {left} s with a valid stream key."
            ),
        }));
    }
    let mut known = Known::default();
    let decision = decide(ctx, req, ip, &mut known).await?;
    let (response, result, code) = match decision {
        // The live claim recorded the accepted attempt.
        Ok(allow) => (AuthorizeResponse::Allow(allow), "accepted", None),
        Err(Refuse(code, detail)) => {
            if counts_as_failure(code) && ctx.auth_guard.fail(ip) {
                tracing::warn!(client_ip = %ip, "publish authorization cool-down started after repeated failures");
            }
            if !known.recorded {
                store::publish::record_refusal(
                    &ctx.db,
                    RefusedAttempt {
                        tenant_id: known.tenant_id,
                        stream_id: known.stream_id,
                        key_id: known.key_id.as_deref(),
                        reason_code: code.as_str(),
                        detail: &detail,
                        client_ip: ip.to_string(),
                        app: &shown_app(&req.app),
                        tls: req.tls,
                        node_id: &req.node_id,
                    },
                )
                .await?;
            }
            let deny = Deny {
                reason_code: code,
                description: detail,
            };
            (
                AuthorizeResponse::Deny(deny),
                "refused",
                Some(code.as_str()),
            )
        }
    };
    ctx.metrics.publish_attempt(result, code.unwrap_or(""));
    ctx.metrics
        .authorize_duration
        .observe(started.elapsed().as_secs_f64());
    tracing::info!(
        result, reason_code = code.unwrap_or(""), stream = ?known.stream_id, key_id = ?known.key_id,
        client_ip = %ip, app = %shown_app(&req.app), node = %req.node_id, "publish authorization"
    );
    Ok(response)
}

async fn decide(
    ctx: &ApiContext,
    req: &AuthorizeRequest,
    ip: IpAddr,
    known: &mut Known,
) -> anyhow::Result<Result<Allow, Refuse>> {
    let (name, name_query) = match req.publish_name.split_once('?') {
        Some((n, q)) => (n, Some(q)),
        None => (req.publish_name.as_str(), None),
    };
    let token = find_token(name, name_query, req.connect_query.as_deref());
    // A key typed into the Server field arrives as the app (`rtmp://host/sk_…`, empty publish name):
    // it still identifies the stream, so the owner sees the mistake on it.
    let key = credentials::parse(Kind::StreamKey, name)
        .or_else(|| credentials::parse(Kind::StreamKey, &req.app));
    let by_key = match key {
        Some((id, _)) => store::publish::key_with_stream(&ctx.db, id).await?,
        None => None,
    };
    let unverified = token.as_deref().map(publish_token::parse);

    // Which stream is this about: the key's (fetched with it), else the token's (unverified) subject.
    let (key_auth, stream) = match by_key {
        Some(ks) => (Some(ks.key), Some(ks.stream)),
        None => {
            let sub = unverified
                .as_ref()
                .and_then(|u| u.as_ref().ok())
                .and_then(|u| u.peek_claims())
                .and_then(|c| Uuid::parse_str(&c.sub).ok());
            let stream = match sub {
                Some(id) => store::publish::stream(&ctx.db, id).await?,
                None => None,
            };
            (None, stream)
        }
    };
    let expected_app = ctx
        .config
        .rtmp_apps
        .first()
        .map(String::as_str)
        .unwrap_or("live");
    let app_ok = ctx.config.rtmp_apps.iter().any(|a| a == &req.app);
    let Some(stream) = stream else {
        if !app_ok {
            return Ok(Err(unknown_app(&req.app, expected_app)));
        }
        return Ok(Err(match (key, &unverified) {
            (None, Some(Err(r))) => token_refusal(r.clone()),
            (None, Some(Ok(u))) if u.peek_claims().is_none() => refuse(
                ReasonCode::TokenInvalid,
                "The publish token's claims are malformed or incomplete (aud, sub, tid, exp, iat and jti are required).",
            ),
            (None, Some(Ok(_))) => refuse(
                ReasonCode::TokenInvalid,
                "The publish token does not name a stream of this service.",
            ),
            _ => refuse(
                ReasonCode::InvalidKey,
                "The stream key is not valid. Copy the stream key from the dashboard into your encoder's Stream Key field.",
            ),
        }));
    };
    known.tenant_id = Some(stream.tenant_id);
    known.stream_id = Some(stream.id);
    let (need_key, need_token) = match stream.auth_mode.as_str() {
        "token" => (false, true),
        "key+token" => (true, true),
        _ => (true, false),
    };
    // The key names itself on the attempt only where keys count (its secret is checked below).
    if let Some(k) = key_auth
        .as_ref()
        .filter(|k| need_key && k.stream_id == stream.id)
    {
        known.key_id = Some(k.key_id.clone());
    }
    if !app_ok {
        return Ok(Err(unknown_app(&req.app, expected_app)));
    }
    if !allowlist::admits(&stream.tenant_allowlist, ip) {
        return Ok(Err(refuse(
            ReasonCode::IpNotAllowed,
            format!("Publishing from {ip} is not allowed by your organization's IP allowlist."),
        )));
    }
    if !allowlist::admits(&stream.ip_allowlist, ip) {
        return Ok(Err(refuse(
            ReasonCode::IpNotAllowed,
            format!("Publishing from {ip} is not allowed by this stream's IP allowlist."),
        )));
    }

    let now = Utc::now();
    if need_key && let Err(r) = check_key(key, key_auth.as_ref(), &stream, now) {
        return Ok(Err(r));
    }
    let mut single_use: Option<(String, DateTime<Utc>)> = None;
    if need_token {
        let Some(parsed) = unverified else {
            return Ok(Err(refuse(
                ReasonCode::TokenInvalid,
                "This stream requires a publish token: add ?token=<token> to the stream key or the server URL.",
            )));
        };
        let claims = match parsed {
            Err(r) => return Ok(Err(token_refusal(r))),
            Ok(u) => {
                let Some(public) =
                    store::signing_keys::verifying_key(&ctx.db, &u.kid, stream.tenant_id).await?
                else {
                    return Ok(Err(refuse(
                        ReasonCode::TokenInvalid,
                        format!(
                            "The publish token's signing key ({}) is unknown or revoked.",
                            u.kid
                        ),
                    )));
                };
                match u.verify(&public) {
                    Ok(c) => c,
                    Err(r) => return Ok(Err(token_refusal(r))),
                }
            }
        };
        let expect = Expect {
            stream_id: &stream.id.to_string(),
            tenant_id: &stream.tenant_id.to_string(),
            client_ip: ip,
            now: now.timestamp(),
        };
        if let Err(r) = publish_token::check(&claims, &expect) {
            return Ok(Err(token_refusal(r)));
        }
        if claims.single_use == Some(true) {
            let exp = DateTime::from_timestamp(claims.exp, 0).unwrap_or(now);
            single_use = Some((claims.jti, exp));
        }
    }
    if stream.tenant_suspended {
        return Ok(Err(refuse(
            ReasonCode::StreamDisabled,
            "This account is suspended; contact support.",
        )));
    }
    if !stream.enabled {
        return Ok(Err(refuse(
            ReasonCode::StreamDisabled,
            format!(
                "This stream is disabled. Enable it in the dashboard or with POST /v1/streams/{}/enable.",
                stream.id
            ),
        )));
    }
    // One round trip: the live claim (one publisher per stream, the tenant's quota, reconnects and
    // takeovers), the single-use spend, the attempt record and the key's last use, in one
    // transaction (`inlet_publish_claim`, migrations/0008).
    let claim = store::publish::claim(
        &ctx.db,
        store::publish::ClaimRequest {
            tenant_id: stream.tenant_id,
            stream_id: stream.id,
            node_id: &req.node_id,
            key_id: known.key_id.as_deref(),
            need_key,
            single_use: single_use.as_ref().map(|(jti, exp)| (jti.as_str(), *exp)),
            client_ip: ip.to_string(),
            app: &shown_app(&req.app),
            tls: req.tls,
        },
    )
    .await?;
    known.recorded = true;
    if let Some(reason) = claim.ended_reason.as_deref() {
        ctx.metrics
            .session_ended(crate::metrics::end_reason_label(reason));
    }
    let refusal = match claim.outcome.as_str() {
        "accepted" => None,
        "already_live" => Some(ReasonCode::AlreadyLive),
        "tenant_quota" => Some(ReasonCode::TenantQuota),
        "token_replayed" => Some(ReasonCode::TokenReplayed),
        other => {
            return Err(anyhow::anyhow!(
                "inlet_publish_claim answered an unknown outcome {other:?}"
            ));
        }
    };
    if let Some(code) = refusal {
        return Ok(Err(refuse(code, claim.detail)));
    }
    let (Some(session_id), Some(started_at)) = (claim.session_id, claim.started_at) else {
        return Err(anyhow::anyhow!(
            "inlet_publish_claim accepted without a session"
        ));
    };
    if claim.resumed {
        ctx.metrics.reconnects.inc();
        tracing::info!(stream = %stream.id, session = %session_id, node = %req.node_id, old_node = ?claim.old_node, "publish continues its session");
    } else if claim.ended_reason.as_deref() == Some("takeover") {
        tracing::info!(stream = %stream.id, new_session = %session_id, "takeover by the same credentials");
    }
    Ok(Ok(Allow {
        stream_id: stream.id,
        tenant_id: stream.tenant_id,
        session_id,
        playback_id: stream.playback_id.clone(),
        key_id: known.key_id.clone(),
        limits: stream.limits.0.clone(),
        reconnect_window_seconds: stream.reconnect_window_seconds.max(0) as u32,
        max_continuous_duration_seconds: stream.max_continuous_duration_seconds.max(0) as u32,
        recording: stream.recording,
        resumed: claim.resumed,
        session_started_at: Some(started_at),
    }))
}

fn unknown_app(app: &str, expected: &str) -> Refuse {
    if app.contains("sk_") && credentials::redact_stream_keys(app) != app {
        return refuse(
            ReasonCode::UnknownApp,
            format!(
                "Your encoder's Server field ends with the stream key. Set Server to the URL ending in /{expected} and put the key in the Stream Key field."
            ),
        );
    }
    let app = shown_app(app);
    refuse(
        ReasonCode::UnknownApp,
        format!(
            "Your encoder connected to /{app}; the server path is /{expected}. In OBS, the Server field must end in /{expected}."
        ),
    )
}

/// The app as it may be recorded, logged and shown: a stream key in it loses its secret, and
/// anything long is cut.
fn shown_app(app: &str) -> String {
    let app = credentials::redact_stream_keys(app);
    match app.char_indices().nth(64) {
        Some((cut, _)) => format!("{}…", &app[..cut]),
        None => app,
    }
}

fn check_key(
    presented: Option<(&str, &str)>,
    key: Option<&store::publish::KeyAuth>,
    stream: &StreamAuth,
    now: DateTime<Utc>,
) -> Result<(), Refuse> {
    let invalid = || {
        refuse(
            ReasonCode::InvalidKey,
            "The stream key is not valid. Copy the stream key from the dashboard into your encoder's Stream Key field.",
        )
    };
    let (Some((_, secret)), Some(key)) = (presented, key) else {
        return Err(invalid());
    };
    if key.stream_id != stream.id || !credentials::verify(Kind::StreamKey, secret, &key.secret_hash)
    {
        return Err(invalid());
    }
    if let Some(at) = key.revoked_at.filter(|at| *at <= now) {
        return Err(refuse(
            ReasonCode::KeyRevoked,
            format!(
                "This stream key was revoked on {}; copy the current key from the dashboard.",
                fmt_time(at)
            ),
        ));
    }
    if let Some(at) = key.expires_at.filter(|at| *at <= now) {
        let rotated = key.rotated_at.map(fmt_time).unwrap_or_else(|| fmt_time(at));
        return Err(refuse(
            ReasonCode::KeyExpired,
            format!(
                "This stream key was rotated on {rotated} and stopped working at {}; copy the current key from the dashboard.",
                fmt_time(at)
            ),
        ));
    }
    Ok(())
}

fn token_refusal(r: Refusal) -> Refuse {
    match r {
        Refusal::Expired(m) => refuse(ReasonCode::TokenExpired, capitalize(&m)),
        Refusal::Invalid(m) | Refusal::NotYetValid(m) => {
            refuse(ReasonCode::TokenInvalid, capitalize(&m))
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => format!("{}{}.", f.to_uppercase(), c.as_str()),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_blocks_after_max_failures_within_window() {
        let g = FailureGuard::new(3, Duration::from_secs(60), Duration::from_secs(300));
        let ip: IpAddr = "10.0.0.1".parse().expect("ip");
        assert!(!g.fail(ip));
        assert!(!g.fail(ip));
        assert!(g.blocked(ip).is_none());
        assert!(g.fail(ip));
        assert!(g.blocked(ip).is_some_and(|s| s > 200));
        assert!(g.blocked("10.0.0.2".parse().expect("ip")).is_none());
    }

    #[test]
    fn token_is_found_in_name_query_connect_query_or_as_the_name() {
        assert_eq!(
            find_token("sk_x", Some("token=abc"), None).as_deref(),
            Some("abc")
        );
        assert_eq!(
            find_token("sk_x", None, Some("a=1&token=def")).as_deref(),
            Some("def")
        );
        assert_eq!(
            find_token("eyJa.b.c", None, None).as_deref(),
            Some("eyJa.b.c")
        );
        assert_eq!(find_token("sk_x", None, None), None);
    }
}
