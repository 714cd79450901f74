//! Webhook delivery under faults, with real processes where the fault needs one: the API killed
//! with deliveries in flight and pending, PostgreSQL restarted under a running API, a receiver down
//! for three tries, two API processes sharing one outbox, and `per_stream` ordering when a try
//! fails. Each test asserts what the receiver got (ids, counts, order) and what the database or the
//! API says about it.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::TestApp;
use common::process::{ApiEnv, ApiProcess, free_port};
use common::receiver::{Received, Receiver, Reply};
use inlet_pgcluster::{Cluster, ClusterOptions};
use inlet_testsupport::TestDb;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

/// Fixed, so that a restarted process unseals the webhook secret the first one sealed.
const SECRET_KEY: &str = "webhook-faults-secret-key-0123456789abcdef0123456789abcdef";

/// The distinct `webhook-id`s received.
fn distinct(got: &[Received]) -> BTreeSet<String> {
    got.iter()
        .map(|r| r.header("webhook-id").to_string())
        .collect()
}

/// Every event id of the database.
async fn event_ids(db: &PgPool) -> BTreeSet<String> {
    sqlx::query_scalar::<_, String>("SELECT id FROM events")
        .fetch_all(db)
        .await
        .expect("event ids")
        .into_iter()
        .collect()
}

/// Writes `n` `stream.updated` events of `stream` in one transaction (as the API would, through
/// `inlet_emit`); answers their ids.
async fn emit_many(db: &PgPool, tenant: Uuid, stream: Uuid, n: i64) -> Vec<String> {
    let mut tx = db.begin().await.expect("begin");
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT inlet_emit($1, 'stream.updated', 'stream', $2::text, $2, NULL,
                           '{\"changed\": [\"name\"]}'::jsonb)
           FROM generate_series(1, $3)",
    )
    .bind(tenant)
    .bind(stream)
    .bind(n)
    .fetch_all(&mut *tx)
    .await
    .expect("inlet_emit");
    tx.commit().await.expect("commit");
    assert_eq!(ids.len() as i64, n);
    ids
}

/// Checks that every request's body is the event its `webhook-id` names and that a repeated
/// `webhook-id` carries the same event as its first request; answers how many were repeats.
fn check_repeats(got: &[Received]) -> usize {
    let mut first: HashMap<String, Value> = HashMap::new();
    let mut repeats = 0;
    for r in got {
        let id = r.header("webhook-id").to_string();
        let body = r.json();
        assert_eq!(
            body["id"],
            id.as_str(),
            "the body is the event webhook-id names"
        );
        match first.get(&id) {
            None => {
                first.insert(id, body);
            }
            Some(earlier) => {
                repeats += 1;
                assert_eq!(earlier["id"], body["id"], "a repeat of {id} has its id");
                assert_eq!(
                    earlier["sequence"], body["sequence"],
                    "a repeat of {id} has its sequence"
                );
                assert_eq!(*earlier, body, "a repeat of {id} carries the same event");
            }
        }
    }
    repeats
}

fn tenant_uuid(t: &common::Tenant) -> Uuid {
    Uuid::parse_str(&t.id).expect("tenant id")
}

fn stream_uuid(stream: &Value) -> Uuid {
    Uuid::parse_str(stream["id"].as_str().expect("stream id")).expect("stream uuid")
}

/// Polls `check` every 100 ms until it answers `Some`, up to `within`; panics with `what`.
async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what} not within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_killed_with_deliveries_pending_delivers_everything_after_restart() {
    let started = Instant::now();
    let tdb = TestDb::new().await;
    let admin = format!("op-{}", tdb.name);
    // 16 sends at a time of 500 ms each: 100 events take ~3 s, so a kill after 40 arrivals leaves
    // some in flight (claimed, sent, unanswered) and most not yet claimed.
    let env = ApiEnv::new(&tdb.url, SECRET_KEY, &admin)
        .set("INLET_WEBHOOK_TIMEOUT_SECS", "3")
        .set("INLET_WEBHOOK_RETRY_SCHEDULE", "1s,1s,1s,1s,1s")
        .set("INLET_WEBHOOK_CONCURRENCY", "16")
        .set("INLET_WEBHOOK_POLL_MS", "200");
    let receiver = Receiver::with(|_, _| Reply {
        delay: Duration::from_millis(500),
        ..Reply::status(204)
    })
    .await;
    let mut first = ApiProcess::start("first", free_port(), &env).await;
    let db = tdb.pool().await;
    let app = TestApp::attach(&first.base, db.clone(), &admin);
    let tenant = app.create_tenant("faults").await;
    app.create_webhook(&tenant.token, json!({"url": receiver.url}))
        .await;
    let (stream, _) = app.create_stream(&tenant.token, "cam").await;
    emit_many(&db, tenant_uuid(&tenant), stream_uuid(&stream), 99).await;
    let ids = event_ids(&db).await;
    assert_eq!(ids.len(), 100, "stream.created and 99 stream.updated");

    receiver
        .wait_for(Duration::from_secs(20), "40 requests", |r| r.len() >= 40)
        .await;
    first.kill().await;
    let killed_at = Instant::now();
    // What the kill left: claims of the dead process (sent or about to be, never recorded) and
    // deliveries nobody claimed yet.
    let claimed: BTreeSet<String> = sqlx::query_scalar::<_, String>(
        "SELECT event_id FROM webhook_deliveries WHERE status = 'pending' AND lease_until > now()",
    )
    .fetch_all(&db)
    .await
    .expect("claims left")
    .into_iter()
    .collect();
    let pending: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")
            .fetch_one(&db)
            .await
            .expect("pending left");
    assert!(!claimed.is_empty(), "the kill caught deliveries in flight");
    assert!(
        pending > claimed.len() as i64,
        "the kill left deliveries not yet claimed ({pending} pending, {} claimed)",
        claimed.len()
    );
    let before_kill = receiver.received();
    assert!(
        distinct(&before_kill).len() < 100,
        "the kill came before everything was sent"
    );
    // Sent by the dead process but not recorded: these must come again, with the same id.
    let lost: BTreeSet<String> = claimed
        .intersection(&distinct(&before_kill))
        .cloned()
        .collect();

    let second = ApiProcess::start("second", free_port(), &env).await;
    // The dead process's claims come back when their lease (timeout 3 s + 15 s) ends.
    eventually(Duration::from_secs(45), "every delivery succeeded", || {
        let db = db.clone();
        async move {
            let (ok, total): (i64, i64) = sqlx::query_as(
                "SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FROM webhook_deliveries",
            )
            .fetch_one(&db)
            .await
            .ok()?;
            (ok == total).then_some(())
        }
    })
    .await;
    let all_done = killed_at.elapsed();
    let (ok, total): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FROM webhook_deliveries",
    )
    .fetch_one(&db)
    .await
    .expect("deliveries");
    assert_eq!(
        (ok, total),
        (100, 100),
        "one delivery per event, each succeeded"
    );
    // Room for a stray extra send to show.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let got = receiver.received();
    assert_eq!(
        distinct(&got),
        ids,
        "received exactly the events of the table"
    );
    let repeats = check_repeats(&got);
    let mut counts: HashMap<String, usize> = HashMap::new();
    for r in &got {
        *counts
            .entry(r.header("webhook-id").to_string())
            .or_default() += 1;
    }
    let repeated: BTreeSet<String> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id.clone())
        .collect();
    assert!(
        counts.values().all(|n| *n <= 2),
        "no event sent more than twice: {counts:?}"
    );
    assert_eq!(
        repeated, lost,
        "exactly the sends the dead process never recorded were repeated"
    );
    drop(second);
    eprintln!(
        "api kill: {} requests before the kill, {} claims lost ({} of them sent), {repeats} repeats, \
         all delivered {:.1} s after the kill, test {:.1} s",
        before_kill.len(),
        claimed.len(),
        lost.len(),
        all_done.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// A private PostgreSQL cluster of one test, stopped and removed on drop.
struct PgGuard {
    opts: ClusterOptions,
    cluster: Option<Cluster>,
}

impl PgGuard {
    async fn start(opts: ClusterOptions) -> PgGuard {
        let o = opts.clone();
        let cluster = tokio::task::spawn_blocking(move || Cluster::start(o))
            .await
            .expect("join")
            .expect("start PostgreSQL");
        // Removes it even if this process is killed.
        let _ = cluster.stop_when_process_exits(true);
        PgGuard {
            opts,
            cluster: Some(cluster),
        }
    }

    fn url(&self, database: &str) -> String {
        self.cluster.as_ref().expect("running").url(database)
    }

    async fn stop(&mut self) {
        let c = self.cluster.take().expect("running");
        tokio::task::spawn_blocking(move || c.stop())
            .await
            .expect("join")
            .expect("stop PostgreSQL");
    }

    async fn start_again(&mut self) {
        let o = self.opts.clone();
        let c = tokio::task::spawn_blocking(move || Cluster::start(o))
            .await
            .expect("join")
            .expect("start PostgreSQL again");
        self.cluster = Some(c);
    }

    fn sibling(&self, ext: &str) -> PathBuf {
        let mut name = self.opts.data_dir.as_os_str().to_owned();
        name.push(ext);
        PathBuf::from(name)
    }
}

impl Drop for PgGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.sibling(".log")).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!(
                "--- PostgreSQL log, last lines ---\n{}\n--- end ---",
                lines[lines.len().saturating_sub(40)..].join("\n")
            );
        }
        if let Some(c) = self.cluster.take() {
            let _ = c.stop();
        }
        let _ = std::fs::remove_dir_all(&self.opts.data_dir);
        let _ = std::fs::remove_file(self.sibling(".log"));
        let _ = std::fs::remove_file(self.sibling(".password"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_is_survived_without_an_api_restart() {
    let started = Instant::now();
    let data_dir = std::env::temp_dir().join(format!(
        "inlet-faults-pg-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let mut pg = PgGuard::start(ClusterOptions {
        data_dir,
        port: Some(free_port()),
        fsync: false,
        superuser: "inlet".to_string(),
    })
    .await;
    inlet_api::ensure_database(&pg.url("postgres"), "inlet")
        .await
        .expect("create database");
    let url = pg.url("inlet");
    let admin = "op-postgres-restart";
    let env = ApiEnv::new(&url, SECRET_KEY, admin)
        .set("INLET_WEBHOOK_TIMEOUT_SECS", "3")
        .set("INLET_WEBHOOK_RETRY_SCHEDULE", "1s,1s,1s,1s,1s")
        .set("INLET_WEBHOOK_POLL_MS", "250");
    // Answers after 2 s: sends made just before the outage are answered during it, and their
    // recording must wait for the database to come back.
    let receiver = Receiver::with(|_, _| Reply {
        delay: Duration::from_secs(2),
        ..Reply::status(204)
    })
    .await;
    let mut api = ApiProcess::start("api", free_port(), &env).await;
    let pid = api.pid();
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .expect("test pool");
    let app = TestApp::attach(&api.base, db.clone(), admin);
    let tenant = app.create_tenant("pgrestart").await;
    app.create_webhook(&tenant.token, json!({"url": receiver.url}))
        .await;
    let (stream, _) = app.create_stream(&tenant.token, "cam").await;
    // One event delivered and recorded before the outage...
    eventually(Duration::from_secs(20), "stream.created delivered", || {
        let db = db.clone();
        async move {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'",
            )
            .fetch_one(&db)
            .await
            .ok()?;
            (n == 1).then_some(())
        }
    })
    .await;
    // ... and two sent when it starts.
    let path = format!("/v1/streams/{}", stream["id"].as_str().expect("id"));
    for i in 0..2 {
        let (status, body) = app
            .call(
                Method::PATCH,
                &path,
                &tenant.token,
                Some(json!({"name": format!("before-{i}")})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    receiver
        .wait_for(
            Duration::from_secs(20),
            "3 events sent before the outage",
            |r| distinct(r).len() >= 3,
        )
        .await;

    pg.stop().await;
    let down_at = Instant::now();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let ready = http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("/readyz answers while the database is down");
    assert_eq!(ready.status(), 503, "not ready without its database");
    let patch = http
        .patch(app.url(&path))
        .bearer_auth(&tenant.token)
        .json(&json!({"name": "during"}))
        .send()
        .await
        .expect("the API answers while the database is down");
    assert!(
        patch.status().is_server_error(),
        "a change without the database fails with 5xx, got {}",
        patch.status()
    );
    let outage = Duration::from_secs(4);
    tokio::time::sleep(outage.saturating_sub(down_at.elapsed())).await;
    assert!(api.is_running(), "the API outlives its database's outage");
    pg.start_again().await;
    let up_at = Instant::now();

    // The API answers again without a restart: retry the first change until it goes through.
    let mut tries = 0;
    let recovered = loop {
        tries += 1;
        let r = http
            .patch(app.url(&path))
            .bearer_auth(&tenant.token)
            .json(&json!({"name": "after-0"}))
            .send()
            .await;
        if let Ok(r) = r {
            if r.status() == 200 {
                break up_at.elapsed();
            }
            assert!(
                r.status().is_server_error(),
                "while recovering the API fails with 5xx only, got {}",
                r.status()
            );
        }
        assert!(
            up_at.elapsed() < Duration::from_secs(30),
            "the API did not recover within 30 s of PostgreSQL's restart ({tries} tries)"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    for i in 1..3 {
        let (status, body) = app
            .call(
                Method::PATCH,
                &path,
                &tenant.token,
                Some(json!({"name": format!("after-{i}")})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    eventually(Duration::from_secs(10), "/readyz 200 again", || {
        let http = http.clone();
        let u = app.url("/readyz");
        async move {
            let r = http.get(u).send().await.ok()?;
            (r.status() == 200).then_some(())
        }
    })
    .await;

    let ids = event_ids(&db).await;
    assert!(
        ids.len() >= 6,
        "3 events before, 3 after the outage: {ids:?}"
    );
    let got = receiver
        .wait_for(Duration::from_secs(30), "every event", |r| {
            distinct(r).is_superset(&ids)
        })
        .await;
    assert_eq!(
        distinct(&got),
        ids,
        "received exactly the events of the table"
    );
    assert_eq!(check_repeats(&got), 0, "no event sent twice");
    // The answers that came during the outage were recorded once it was back, not sent again.
    let (ok, first_try, total): (i64, i64, i64) =
        eventually(Duration::from_secs(20), "every delivery recorded", || {
            let db = db.clone();
            async move {
                let c: (i64, i64, i64) = sqlx::query_as(
                    "SELECT count(*) FILTER (WHERE status = 'succeeded'),
                            count(*) FILTER (WHERE status = 'succeeded' AND attempts = 1),
                            count(*)
                       FROM webhook_deliveries",
                )
                .fetch_one(&db)
                .await
                .ok()?;
                (c.0 == c.2).then_some(c)
            }
        })
        .await;
    assert_eq!(total, ids.len() as i64, "one delivery per event");
    assert_eq!(
        (ok, first_try),
        (total, total),
        "each succeeded at its first try"
    );
    assert!(
        api.log_text()
            .contains("recording a delivery failed; retrying"),
        "an answer arrived while the database was down (the recording retried)"
    );
    assert!(api.is_running(), "still the same API process");
    assert_eq!(api.pid(), pid, "no API restart");
    eprintln!(
        "postgres restart: API answered again {:.1} s after PostgreSQL was back, test {:.1} s",
        recovered.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    drop(api);
    drop(pg);
}

#[tokio::test]
async fn receiver_down_for_three_attempts_then_up_is_delivered_with_every_attempt_logged() {
    let app = TestApp::start_with(|c| {
        c.webhook_allow_private = true;
        c.webhook_retry_schedule = "1s,1s,1s,1s".into();
    })
    .await;
    let receiver = Receiver::with(|_, before| {
        if before < 3 {
            Reply::status(503)
        } else {
            Reply::status(200)
        }
    })
    .await;
    let tenant = app.create_tenant("downreceiver").await;
    let (hook, _) = app
        .create_webhook(&tenant.token, json!({"url": receiver.url}))
        .await;
    app.create_stream(&tenant.token, "cam").await;
    let ids = event_ids(&app.db).await;
    assert_eq!(ids.len(), 1, "one event: stream.created");
    let event = ids.into_iter().next().expect("event");

    let got = receiver
        .wait_for(Duration::from_secs(20), "4 tries", |r| r.len() >= 4)
        .await;
    assert!(got.iter().all(|r| r.header("webhook-id") == event));
    for w in got.windows(2) {
        let gap = w[1].at - w[0].at;
        assert!(
            gap >= Duration::from_millis(750),
            "a retry waits its scheduled 1 s (±20 %), not {gap:?}"
        );
    }
    let path = format!(
        "/v1/webhooks/{}/deliveries",
        hook["id"].as_str().expect("id")
    );
    let attempts: Vec<Value> = eventually(Duration::from_secs(10), "4 attempts logged", || {
        let app = &app;
        let (path, token) = (&path, &tenant.token);
        async move {
            let (status, body) = app.call(Method::GET, path, token, None).await;
            assert_eq!(status, 200, "{body}");
            let data = body["data"].as_array()?.clone();
            (data.len() >= 4 && data.iter().all(|a| a["delivery_status"] == "succeeded"))
                .then_some(data)
        }
    })
    .await;
    // No fifth try after the success.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 4, "delivered once it succeeded");

    let mut attempts = attempts;
    attempts.sort_by_key(|a| a["attempt"].as_i64());
    assert_eq!(attempts.len(), 4, "{attempts:?}");
    let numbers: Vec<i64> = attempts
        .iter()
        .filter_map(|a| a["attempt"].as_i64())
        .collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
    let delivery = attempts[0]["delivery_id"].clone();
    let time = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().expect("time")).expect("rfc 3339")
    };
    for (i, a) in attempts.iter().enumerate() {
        assert_eq!(a["delivery_id"], delivery, "one delivery");
        assert_eq!(a["event_id"], event.as_str());
        assert_eq!(a["event_type"], "stream.created");
        assert_eq!(a["delivery_status"], "succeeded");
        if i < 3 {
            assert_eq!(a["succeeded"], false, "{a}");
            assert_eq!(a["status_code"], 503, "{a}");
            assert!(
                a["next_attempt_at"].is_string(),
                "a retry was scheduled: {a}"
            );
            let next = time(&a["next_attempt_at"]);
            assert!(next > time(&a["at"]), "the retry is later: {a}");
            // The next try is recorded after its send, which waited for the scheduled time.
            let following = time(&attempts[i + 1]["at"]);
            assert!(
                following >= next - chrono::Duration::milliseconds(50),
                "try {} ran at its scheduled time: {a} then {}",
                i + 2,
                attempts[i + 1]
            );
        } else {
            assert_eq!(a["succeeded"], true, "{a}");
            assert_eq!(a["status_code"], 200, "{a}");
            assert!(
                a["next_attempt_at"].is_null(),
                "nothing after a success: {a}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_api_processes_deliver_1000_events_exactly_once() {
    let started = Instant::now();
    let tdb = TestDb::new().await;
    let admin = format!("op-{}", tdb.name);
    let env = ApiEnv::new(&tdb.url, SECRET_KEY, &admin).set("INLET_WEBHOOK_TIMEOUT_SECS", "5");
    let receiver = Receiver::start().await;
    let a = ApiProcess::start("a", free_port(), &env).await;
    let b = ApiProcess::start("b", free_port(), &env).await;
    let db = tdb.pool().await;
    let app = TestApp::attach(&a.base, db.clone(), &admin);
    let tenant = app.create_tenant("twoprocs").await;
    // The stream first: its stream.created is not delivered (no endpoint yet).
    let (stream, _) = app.create_stream(&tenant.token, "cam").await;
    app.create_webhook(&tenant.token, json!({"url": receiver.url}))
        .await;
    let mut emitted = BTreeSet::new();
    for _ in 0..4 {
        emitted.extend(emit_many(&db, tenant_uuid(&tenant), stream_uuid(&stream), 250).await);
    }
    assert_eq!(emitted.len(), 1000);

    receiver
        .wait_for(Duration::from_secs(45), "1000 distinct events", |r| {
            distinct(r).len() >= 1000
        })
        .await;
    let delivered_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = receiver.received();
    let repeats = check_repeats(&got);
    assert_eq!(
        distinct(&got),
        emitted,
        "received exactly the emitted events"
    );
    assert_eq!(repeats, 0, "no event sent twice");
    assert_eq!(got.len(), 1000, "exactly 1000 requests");

    let (ok, attempts): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded' AND attempts = 1),
                (SELECT count(*) FROM webhook_attempts)",
    )
    .fetch_one(&db)
    .await
    .expect("counts");
    assert_eq!(ok, 1000, "every delivery succeeded at its first try");
    assert_eq!(attempts, 1000, "one attempt recorded per delivery");
    let metric = "inlet_api_webhook_deliveries_total";
    let by_a = a.metric(metric, "result=\"succeeded\"").await;
    let by_b = b.metric(metric, "result=\"succeeded\"").await;
    assert!(
        by_a > 0.0 && by_b > 0.0,
        "both processes delivered: a {by_a}, b {by_b}"
    );
    assert_eq!(
        by_a + by_b,
        1000.0,
        "the two shares add up: a {by_a}, b {by_b}"
    );
    eprintln!(
        "two processes: a {by_a}, b {by_b}, all delivered {:.1} s after start, test {:.1} s",
        delivered_in.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test]
async fn per_stream_ordering_holds_when_the_first_try_of_one_event_fails() {
    let app = TestApp::start_with(|c| {
        c.webhook_allow_private = true;
        c.webhook_retry_schedule = "1s,1s,1s".into();
    })
    .await;
    // What the receiver answered, in arrival order: (sequence, 2xx).
    let answered: Arc<Mutex<Vec<(i64, bool)>>> = Arc::default();
    let log = answered.clone();
    let receiver = Receiver::with(move |r, before| {
        let seq = r.json()["sequence"].as_i64().unwrap_or(-1);
        let ok = !(seq == 2 && before == 0);
        log.lock().expect("log").push((seq, ok));
        Reply::status(if ok { 204 } else { 500 })
    })
    .await;
    let tenant = app.create_tenant("perstream").await;
    let (hook, _) = app
        .create_webhook(
            &tenant.token,
            json!({"url": receiver.url, "ordering": "per_stream"}),
        )
        .await;
    assert_eq!(hook["ordering"], "per_stream");
    let (stream, _) = app.create_stream(&tenant.token, "cam").await;
    let path = format!("/v1/streams/{}", stream["id"].as_str().expect("id"));
    for i in 1..=5 {
        let (status, body) = app
            .call(
                Method::PATCH,
                &path,
                &tenant.token,
                Some(json!({"name": format!("cam-{i}")})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let successes = |a: &[(i64, bool)]| -> Vec<i64> {
        a.iter().filter(|(_, ok)| *ok).map(|(s, _)| *s).collect()
    };
    eventually(Duration::from_secs(20), "six events delivered", || {
        let n = successes(&answered.lock().expect("log")).len();
        async move { (n >= 6).then_some(()) }
    })
    .await;
    // Room for a stray extra send to show.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let seen = answered.lock().expect("log").clone();
    assert_eq!(
        successes(&seen),
        [1, 2, 3, 4, 5, 6],
        "successful deliveries in sequence order, no gap: {seen:?}"
    );
    let failed_two = seen
        .iter()
        .position(|&(s, ok)| s == 2 && !ok)
        .expect("the failed try of 2");
    let first_three = seen.iter().position(|&(s, _)| s == 3).expect("a try of 3");
    let ok_two = seen
        .iter()
        .position(|&(s, ok)| s == 2 && ok)
        .expect("the retry of 2");
    assert!(
        failed_two < ok_two && ok_two < first_three,
        "3 waited until 2 was delivered: {seen:?}"
    );
    assert_eq!(seen.len(), 7, "six deliveries and one failed try: {seen:?}");
}
