//! `ctxvars::logging::JsonLayer`: the line format, context variables read at emission time,
//! and isolation between concurrent requests on threads and tokio tasks.
#![cfg(feature = "tracing")]

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use ctxvars::logging::JsonLayer;
use ctxvars::{Context, ContextVar};
use serde_json::{json, Value};
use tracing::{info, warn, Dispatch};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
static USER: ContextVar<&'static str> = ContextVar::new("user");
static ATTEMPT: ContextVar<u32> = ContextVar::new("attempt");
static REGION: ContextVar<String> = ContextVar::with_default("region", || "eu-west".into());

/// An in-memory writer that also counts the writes it receives.
#[derive(Clone, Default)]
struct Capture {
    bytes: Arc<Mutex<Vec<u8>>>,
    writes: Arc<AtomicUsize>,
}

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.bytes.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

impl Capture {
    fn output(&self) -> String {
        String::from_utf8(self.bytes.lock().unwrap().clone()).expect("output is UTF-8")
    }

    fn lines(&self) -> Vec<String> {
        let output = self.output();
        assert!(
            output.is_empty() || output.ends_with('\n'),
            "every line ends with a newline: {output:?}"
        );
        output.lines().map(str::to_owned).collect()
    }

    /// Every line, parsed; also checks each line's `ts` and fixed keys.
    fn objects(&self) -> Vec<serde_json::Map<String, Value>> {
        self.lines()
            .iter()
            .map(|line| {
                let object = parse(line);
                assert_valid_ts(object["ts"].as_str().expect("ts is a string"));
                assert!(object["level"].is_string() && object["msg"].is_string());
                object
            })
            .collect()
    }
}

fn parse(line: &str) -> serde_json::Map<String, Value> {
    match serde_json::from_str(line) {
        Ok(Value::Object(object)) => object,
        other => panic!("not a JSON object: {line:?} ({other:?})"),
    }
}

/// A dispatcher whose only layer is a `JsonLayer` with REQUEST_ID, writing to a capture.
fn request_id_logger() -> (Dispatch, Capture) {
    let capture = Capture::default();
    let layer = JsonLayer::new(capture.clone()).with_var(&REQUEST_ID);
    (
        Dispatch::new(tracing_subscriber::registry().with(layer)),
        capture,
    )
}

/// Removes `"ts"` (checking it first) and returns the rest of the object.
fn without_ts(mut object: serde_json::Map<String, Value>) -> Value {
    let ts = object.remove("ts").expect("every line has ts");
    assert_valid_ts(ts.as_str().expect("ts is a string"));
    Value::Object(object)
}

/// `line` with its leading `{"ts":"…",` removed (the timestamp has a fixed width).
fn after_ts(line: &str) -> &str {
    const PREFIX: &str = r#"{"ts":""#;
    assert!(line.starts_with(PREFIX), "{line}");
    let ts = &line[PREFIX.len()..PREFIX.len() + 27];
    assert_valid_ts(ts);
    let rest = &line[PREFIX.len() + 27..];
    rest.strip_prefix("\",")
        .expect("ts is followed by the next key")
}

// ---- timestamps -----------------------------------------------------------------------

fn days_in_month(year: u64, month: u64) -> u64 {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Strictly `YYYY-MM-DDTHH:MM:SS.ffffffZ` with an existing date and time.
fn assert_valid_ts(ts: &str) {
    let bytes = ts.as_bytes();
    let shape = b"dddd-dd-ddTdd:dd:dd.ddddddZ";
    let well_formed = bytes.len() == shape.len()
        && bytes
            .iter()
            .zip(shape)
            .all(|(&byte, &expected)| match expected {
                b'd' => byte.is_ascii_digit(),
                _ => byte == expected,
            });
    assert!(well_formed, "ts {ts:?} is not YYYY-MM-DDTHH:MM:SS.ffffffZ");
    let number = |range: std::ops::Range<usize>| ts[range].parse::<u64>().unwrap();
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    assert!((1..=12).contains(&month), "month in {ts}");
    assert!(
        (1..=days_in_month(year, month)).contains(&day),
        "day in {ts}"
    );
    assert!(
        number(11..13) < 24 && number(14..16) < 60 && number(17..19) < 60,
        "time in {ts}"
    );
}

/// An independent (day-by-day) formatter for the bounds checks.
fn format_ts(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap();
    let seconds = since.as_secs();
    let mut days = seconds / 86_400;
    let (mut year, mut month) = (1970, 1);
    while days >= days_in_month(year, month) {
        days -= days_in_month(year, month);
        month += 1;
        if month > 12 {
            month = 1;
            year += 1;
        }
    }
    let second_of_day = seconds % 86_400;
    format!(
        "{year:04}-{month:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        days + 1,
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
        since.subsec_micros()
    )
}

// ---- the line format ------------------------------------------------------------------

#[test]
fn request_handled_with_set_and_reset_logs_its_request_id() {
    let (dispatch, capture) = request_id_logger();
    let before = format_ts(SystemTime::now());
    tracing::dispatcher::with_default(&dispatch, || {
        let token = REQUEST_ID.set("req-8842".to_string());
        info!("Processing request");
        REQUEST_ID.reset(token).unwrap();
        info!("Request done");
    });
    let after = format_ts(SystemTime::now());

    let lines = capture.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    // Exact text (key order included) after the timestamp.
    assert_eq!(
        after_ts(&lines[0]),
        r#""level":"INFO","msg":"Processing request","request_id":"req-8842"}"#
    );
    let objects = capture.objects();
    assert_eq!(
        without_ts(objects[0].clone()),
        json!({"level": "INFO", "msg": "Processing request", "request_id": "req-8842"})
    );
    // The log after `reset` has no request_id.
    assert_eq!(
        without_ts(objects[1].clone()),
        json!({"level": "INFO", "msg": "Request done"})
    );
    assert_eq!(
        after_ts(&lines[1]),
        r#""level":"INFO","msg":"Request done"}"#
    );

    // `ts` is the emission time: fixed-width UTC timestamps order like the times they name.
    for object in &objects {
        let ts = object["ts"].as_str().unwrap();
        assert!(
            before.as_str() <= ts && ts <= after.as_str(),
            "{before} <= {ts} <= {after}"
        );
    }
    // One write per line.
    assert_eq!(capture.writes.load(Ordering::SeqCst), 2);
}

#[test]
fn events_outside_any_request_have_no_request_id() {
    let (dispatch, capture) = request_id_logger();
    tracing::dispatcher::with_default(&dispatch, || {
        info!("Server started");
        REQUEST_ID.scope("req-1".to_string(), || info!("inside"));
        warn!(port = 8080, "Still no request");
    });
    let lines = capture.lines();
    assert_eq!(
        after_ts(&lines[0]),
        r#""level":"INFO","msg":"Server started"}"#
    );
    assert_eq!(
        after_ts(&lines[1]),
        r#""level":"INFO","msg":"inside","request_id":"req-1"}"#
    );
    assert_eq!(
        after_ts(&lines[2]),
        r#""level":"WARN","msg":"Still no request","port":8080}"#
    );
}

#[test]
fn key_order_is_ts_level_msg_vars_in_registration_order_then_fields() {
    let capture = Capture::default();
    let layer = JsonLayer::new(capture.clone())
        .with_var(&USER)
        .with_var(&REQUEST_ID)
        .with_json_var(&ATTEMPT);
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        REQUEST_ID.scope("req-7".to_string(), || {
            USER.scope("alice", || {
                ATTEMPT.scope(3, || tracing::error!(user_id = 42, ok = false, "failed"));
            });
        });
    });
    assert_eq!(
        after_ts(&capture.lines()[0]),
        r#""level":"ERROR","msg":"failed","user":"alice","request_id":"req-7","attempt":3,"user_id":42,"ok":false}"#
    );
}

#[test]
fn every_level_is_upper_case() {
    let (dispatch, capture) = request_id_logger();
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::trace!("t");
        tracing::debug!("d");
        tracing::info!("i");
        tracing::warn!("w");
        tracing::error!("e");
    });
    let levels: Vec<Value> = capture
        .objects()
        .iter()
        .map(|o| o["level"].clone())
        .collect();
    assert_eq!(levels, ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]);
}

#[test]
fn values_are_read_at_emission_time_never_cached() {
    let (dispatch, capture) = request_id_logger();
    tracing::dispatcher::with_default(&dispatch, || {
        let first = REQUEST_ID.set("req-1".into());
        info!("one");
        let second = REQUEST_ID.set("req-2".into());
        info!("two");
        // A context entered with `run` is what the layer sees while it runs.
        let mut other = Context::new();
        other.run(|| {
            info!("other, unset");
            let _ = REQUEST_ID.set("req-other".into());
            info!("other, set");
        });
        info!("two again");
        REQUEST_ID.reset(second).unwrap();
        info!("one again");
        REQUEST_ID.reset(first).unwrap();
        info!("none");
        other.run(|| info!("other, still set"));
    });
    let seen: Vec<(String, Option<String>)> = capture
        .objects()
        .into_iter()
        .map(|o| {
            let id = o
                .get("request_id")
                .map(|id| id.as_str().unwrap().to_owned());
            (o["msg"].as_str().unwrap().to_owned(), id)
        })
        .collect();
    let expected = [
        ("one", Some("req-1")),
        ("two", Some("req-2")),
        ("other, unset", None),
        ("other, set", Some("req-other")),
        ("two again", Some("req-2")),
        ("one again", Some("req-1")),
        ("none", None),
        ("other, still set", Some("req-other")),
    ];
    let expected: Vec<(String, Option<String>)> = expected
        .iter()
        .map(|(msg, id)| (msg.to_string(), id.map(str::to_owned)))
        .collect();
    assert_eq!(seen, expected);
}

#[test]
fn a_variable_with_a_default_is_logged_with_it_when_unset() {
    let capture = Capture::default();
    let layer = JsonLayer::new(capture.clone()).with_var(&REGION);
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        info!("default");
        REGION.scope("us-east".into(), || info!("set"));
    });
    let lines = capture.lines();
    assert_eq!(
        after_ts(&lines[0]),
        r#""level":"INFO","msg":"default","region":"eu-west"}"#
    );
    assert_eq!(
        after_ts(&lines[1]),
        r#""level":"INFO","msg":"set","region":"us-east"}"#
    );
}

#[test]
fn json_vars_keep_their_json_type() {
    static TAGS: ContextVar<Vec<&'static str>> = ContextVar::new("tags");
    static EXTRA: ContextVar<Value> = ContextVar::new("extra");
    let capture = Capture::default();
    let layer = JsonLayer::new(capture.clone())
        .with_json_var(&ATTEMPT)
        .with_json_var(&TAGS)
        .with_json_var(&EXTRA);
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        ATTEMPT.scope(2, || {
            TAGS.scope(vec!["a", "b\"c"], || {
                EXTRA.scope(json!({"k": [1, null]}), || info!("typed"));
            });
        });
        info!("unset");
    });
    let lines = capture.lines();
    assert_eq!(
        after_ts(&lines[0]),
        r#""level":"INFO","msg":"typed","attempt":2,"tags":["a","b\"c"],"extra":{"k":[1,null]}}"#
    );
    assert_eq!(after_ts(&lines[1]), r#""level":"INFO","msg":"unset"}"#);
}

#[test]
fn field_values_have_json_types() {
    let error = io::Error::other("disk \"full\"");
    let (dispatch, capture) = request_id_logger();
    tracing::dispatcher::with_default(&dispatch, || {
        info!(
            neg = -5_i64,
            max = u64::MAX,
            small128 = -7_i128,
            big128 = u128::MAX,
            float = 1.5_f64,
            whole = 2.0_f64,
            nan = f64::NAN,
            inf = f64::NEG_INFINITY,
            yes = true,
            text = "plain",
            debug = ?vec![1, 2],
            display = %"shown",
            err = &error as &(dyn std::error::Error + 'static),
            "types"
        );
    });
    let object = without_ts(capture.objects().remove(0));
    assert_eq!(
        object,
        json!({
            "level": "INFO", "msg": "types",
            "neg": -5, "max": u64::MAX, "small128": -7,
            "big128": u128::MAX.to_string(),
            "float": 1.5, "whole": 2.0, "nan": "NaN", "inf": "-inf",
            "yes": true, "text": "plain", "debug": "[1, 2]", "display": "shown",
            "err": "disk \"full\"",
        })
    );
}

#[test]
fn fields_and_values_are_escaped() {
    let (dispatch, capture) = request_id_logger();
    let nasty = "quote \" backslash \\ newline \n cr \r tab \t nul \u{0} bell \u{7} unicode é ✓ 😀 \u{2028}";
    tracing::dispatcher::with_default(&dispatch, || {
        REQUEST_ID.scope(format!("req-{nasty}"), || {
            info!(field = nasty, debugged = ?nasty, "message {nasty}");
        });
    });
    let lines = capture.lines();
    assert_eq!(lines.len(), 1, "an escaped newline never splits a line");
    let object = without_ts(parse(&lines[0]));
    assert_eq!(
        object,
        json!({
            "level": "INFO",
            "msg": format!("message {nasty}"),
            "request_id": format!("req-{nasty}"),
            "field": nasty,
            "debugged": format!("{nasty:?}"),
        })
    );
    // Control characters never appear raw.
    assert!(!lines[0].chars().any(|c| c.is_control()), "{:?}", lines[0]);
}

#[test]
fn fields_colliding_with_taken_keys_are_renamed_never_duplicated() {
    let (dispatch, capture) = request_id_logger();
    tracing::dispatcher::with_default(&dispatch, || {
        REQUEST_ID.scope("req-9".into(), || {
            info!(
                ts = 1,
                level = "custom",
                msg = "field msg",
                request_id = "from field",
                fields.level = 2,
                "the message"
            );
        });
        // Without the variable set, its key is still the variable's.
        info!(request_id = "from field", "unset var");
    });
    let lines = capture.lines();
    assert_eq!(
        after_ts(&lines[0]),
        concat!(
            r#""level":"INFO","msg":"the message","request_id":"req-9","#,
            r#""fields.ts":1,"fields.level":"custom","fields.msg":"field msg","#,
            r#""fields.request_id":"from field","fields.fields.level":2}"#
        )
    );
    assert_eq!(
        after_ts(&lines[1]),
        r#""level":"INFO","msg":"unset var","fields.request_id":"from field"}"#
    );
    for line in &lines {
        assert_no_duplicate_keys(line);
    }
}

/// Checks that no key appears twice in `line` (serde_json would keep only the last one).
/// Fine for these lines, whose string values never contain `"key":` unescaped.
fn assert_no_duplicate_keys(line: &str) {
    for key in parse(line).keys() {
        let quoted = format!("\"{key}\":");
        assert_eq!(line.matches(quoted.as_str()).count(), 1, "{key} in {line}");
    }
}

#[test]
fn an_event_without_a_message_has_an_empty_msg() {
    let (dispatch, capture) = request_id_logger();
    tracing::dispatcher::with_default(&dispatch, || info!(user = 42));
    assert_eq!(
        after_ts(&capture.lines()[0]),
        r#""level":"INFO","msg":"","user":42}"#
    );
}

#[test]
#[should_panic(expected = "reserved key \"msg\"")]
fn registering_a_variable_under_a_fixed_key_panics() {
    static MSG: ContextVar<String> = ContextVar::new("msg");
    let _ = JsonLayer::new(io::stdout).with_var(&MSG);
}

#[test]
#[should_panic(expected = "already registered")]
fn registering_two_variables_with_one_name_panics() {
    static OTHER_REQUEST_ID: ContextVar<u64> = ContextVar::new("request_id");
    let _ = JsonLayer::new(io::stderr)
        .with_var(&REQUEST_ID)
        .with_json_var(&OTHER_REQUEST_ID);
}

#[test]
fn a_display_impl_that_logs_or_reads_context_does_not_deadlock() {
    struct Chatty;
    impl std::fmt::Display for Chatty {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            // tracing drops events emitted while the subscriber handles one.
            info!("from Display");
            let id = REQUEST_ID.get();
            write!(f, "chatty:{}", id.as_deref().unwrap_or("-"))
        }
    }
    static CHATTY: ContextVar<Chatty> = ContextVar::new("chatty");
    let capture = Capture::default();
    let layer = JsonLayer::new(capture.clone())
        .with_var(&CHATTY)
        .with_var(&REQUEST_ID);
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        REQUEST_ID.scope("req-3".into(), || CHATTY.scope(Chatty, || info!("outer")));
    });
    let lines = capture.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        after_ts(&lines[0]),
        r#""level":"INFO","msg":"outer","chatty":"chatty:req-3","request_id":"req-3"}"#
    );
}

#[test]
fn the_layer_is_debug_and_works_with_any_subscriber() {
    let capture = Capture::default();
    let layer = JsonLayer::new(capture.clone())
        .with_var(&REQUEST_ID)
        .with_var(&USER);
    assert_eq!(
        format!("{layer:?}"),
        r#"JsonLayer { vars: ["request_id", "user"], .. }"#
    );
    // Stacked on another layer's subscriber, over a registry.
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::WARN)
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        info!("filtered out");
        warn!("kept");
    });
    assert_eq!(
        after_ts(&capture.lines()[0]),
        r#""level":"WARN","msg":"kept"}"#
    );
}

// ---- concurrency ----------------------------------------------------------------------

/// Checks that every line logged inside a request carries exactly that request's id (the
/// id is also in the `expected` field), and that lines outside requests carry none.
fn assert_isolated(objects: &[serde_json::Map<String, Value>]) -> usize {
    let mut in_request = 0;
    for object in objects {
        match object.get("expected") {
            Some(expected) => {
                in_request += 1;
                assert_eq!(object.get("request_id"), Some(expected), "{object:?}");
                let expected = expected.as_str().unwrap();
                assert!(
                    object["msg"].as_str().unwrap().ends_with(expected),
                    "{object:?}"
                );
            }
            None => assert_eq!(object.get("request_id"), None, "{object:?}"),
        }
    }
    in_request
}

#[test]
fn concurrent_requests_on_threads_never_see_each_others_id() {
    const THREADS: usize = 8;
    const REQUESTS: usize = 50;
    let (dispatch, capture) = request_id_logger();
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let dispatch = dispatch.clone();
            ctxvars::thread::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for request in 0..REQUESTS {
                        let id = format!("req-t{thread}-{request}");
                        let token = REQUEST_ID.set(id.clone());
                        info!(expected = %id, "start {id}");
                        std::thread::yield_now();
                        info!(expected = %id, "end {id}");
                        REQUEST_ID.reset(token).unwrap();
                        info!(thread, "between requests");
                    }
                })
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let objects = capture.objects();
    assert_eq!(objects.len(), THREADS * REQUESTS * 3);
    assert_eq!(assert_isolated(&objects), THREADS * REQUESTS * 2);
    assert_eq!(capture.writes.load(Ordering::SeqCst), objects.len());
}

#[test]
fn threads_inherit_the_spawners_request_id_and_keep_their_changes() {
    let (dispatch, capture) = request_id_logger();
    tracing::dispatcher::with_default(&dispatch, || {
        REQUEST_ID.scope("req-parent".into(), || {
            let handles: Vec<_> = (0..4)
                .map(|n| {
                    let dispatch = dispatch.clone();
                    ctxvars::thread::spawn(move || {
                        tracing::dispatcher::with_default(&dispatch, || {
                            info!(expected = "req-parent", "inherited req-parent");
                            let id = format!("req-child-{n}");
                            REQUEST_ID.scope(id.clone(), || info!(expected = %id, "own {id}"));
                            info!(expected = "req-parent", "back to req-parent");
                        })
                    })
                })
                .collect();
            for handle in handles {
                handle.join().unwrap();
            }
            info!(expected = "req-parent", "parent still req-parent");
        });
    });
    let objects = capture.objects();
    assert_eq!(objects.len(), 13);
    assert_eq!(assert_isolated(&objects), 13);
}

#[cfg(feature = "tokio")]
mod tokio_tasks {
    use super::*;
    use std::collections::HashSet;
    use std::time::Duration;
    use tracing::instrument::WithSubscriber;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_requests_on_tokio_tasks_never_see_each_others_id() {
        const TASKS: usize = 48;
        let (dispatch, capture) = request_id_logger();
        // Every task is inside its request at the same time: they interleave for sure.
        let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
        // Two tasks wait for each other while blocking their threads, so at least two
        // threads log for sure, however the runtime schedules under load.
        let pair = Arc::new(std::sync::Barrier::new(2));
        let handles: Vec<_> = (0..TASKS)
            .map(|task| {
                let barrier = barrier.clone();
                let pair = pair.clone();
                let request = async move {
                    info!(task, "before request");
                    let id = format!("req-task-{task}");
                    let token = REQUEST_ID.set(id.clone());
                    info!(expected = %id, "start {id}");
                    tokio::task::yield_now().await;
                    info!(expected = %id, "after yield {id}");
                    barrier.wait().await;
                    tokio::time::sleep(Duration::from_millis((task % 5) as u64)).await;
                    if task < 2 {
                        tokio::task::block_in_place(|| pair.wait());
                    }
                    info!(expected = %id, thread = ?std::thread::current().id(), "after sleep {id}");
                    tokio::task::yield_now().await;
                    REQUEST_ID.reset(token).unwrap();
                    info!(task, "after request");
                };
                ctxvars::tokio::spawn(request.with_subscriber(dispatch.clone()))
            })
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
        let objects = capture.objects();
        assert_eq!(objects.len(), TASKS * 5);
        assert_eq!(assert_isolated(&objects), TASKS * 3);

        // The requests really overlapped: every task logged "start" before any task got
        // past the barrier.
        let position = |prefix: &str, id: &str| {
            objects
                .iter()
                .position(|o| o["msg"] == format!("{prefix} {id}"))
                .unwrap()
        };
        let last_start = (0..TASKS)
            .map(|t| position("start", &format!("req-task-{t}")))
            .max()
            .unwrap();
        let first_after_sleep = (0..TASKS)
            .map(|t| position("after sleep", &format!("req-task-{t}")))
            .min()
            .unwrap();
        assert!(last_start < first_after_sleep);
        // And ran on more than one worker thread.
        let threads: HashSet<&Value> = objects.iter().filter_map(|o| o.get("thread")).collect();
        assert!(threads.len() > 1, "{threads:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spawned_tasks_and_blocking_work_log_the_spawners_id() {
        let (dispatch, capture) = request_id_logger();
        let token = REQUEST_ID.set("req-spawner".into());
        let task = ctxvars::tokio::spawn(
            async {
                tokio::task::yield_now().await;
                info!(expected = "req-spawner", "task req-spawner");
            }
            .with_subscriber(dispatch.clone()),
        );
        let blocking = {
            let dispatch = dispatch.clone();
            ctxvars::tokio::spawn_blocking(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    info!(expected = "req-spawner", "blocking req-spawner");
                })
            })
        };
        REQUEST_ID.reset(token).unwrap();
        // Plain tokio::spawn does not carry the context.
        let plain = tokio::spawn(async { info!("plain task") }.with_subscriber(dispatch.clone()));
        task.await.unwrap();
        blocking.await.unwrap();
        plain.await.unwrap();
        let objects = capture.objects();
        assert_eq!(objects.len(), 3);
        assert_eq!(assert_isolated(&objects), 2);
    }
}
