//! JSON logs that carry the request id, on threads and tokio tasks alike.
//!
//! Every `tracing` event is written to stdout as one JSON object with the `request_id`
//! context variable *as it is in the context that logs*:
//!
//! ```text
//! {"ts":"2026-11-25T08:28:35.123456Z","level":"INFO","msg":"Processing request","request_id":"req-8842"}
//! ```
//!
//! Run with `cargo run -p ctxvars --example json_logging --features tracing,tokio`. The
//! example also keeps a copy of its lines and checks them before exiting, so running it is
//! a test.

use std::io;
use std::sync::Mutex;
use std::time::Duration;

use ctxvars::logging::JsonLayer;
use ctxvars::ContextVar;
use serde_json::{json, Value};
use tracing::info;
use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::prelude::*;

static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");

fn handle_request(id: &str) {
    let token = REQUEST_ID.set(id.to_string());
    info!("Processing request");
    REQUEST_ID
        .reset(token)
        .expect("reset in the context that set it");
}

async fn handle_async_request(id: &'static str, work: Duration) {
    let token = REQUEST_ID.set(id.to_string());
    info!(request = id, "Request started");
    // While this task waits, the other request runs (possibly on this very worker).
    tokio::time::sleep(work).await;
    info!(request = id, "Request finished");
    REQUEST_ID
        .reset(token)
        .expect("reset in the task that set it");
}

fn main() {
    // Lines go to stdout; `.and(...)` also copies them to `CAPTURED` for the checks below.
    let layer = JsonLayer::new(io::stdout.and(|| Captured)).with_var(&REQUEST_ID);
    tracing_subscriber::registry().with(layer).init();

    info!("Server started");
    handle_request("req-8842");
    info!("Request handled");

    // Concurrent requests on a multi-thread runtime: each task logs its own id, set
    // inside the task. `ctxvars::tokio::spawn` gives every task its own context.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let first =
            ctxvars::tokio::spawn(handle_async_request("req-1001", Duration::from_millis(20)));
        let second =
            ctxvars::tokio::spawn(handle_async_request("req-1002", Duration::from_millis(5)));
        first.await.expect("request task");
        second.await.expect("request task");
    });

    check_output();
}

/// The lines this example wrote, as parsed JSON.
static CAPTURED: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Captured;

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        CAPTURED.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn check_output() {
    let output = String::from_utf8(CAPTURED.lock().unwrap().clone()).expect("UTF-8 output");
    let mut lines: Vec<Value> = output
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
        .collect();
    for line in &mut lines {
        let ts = line
            .as_object_mut()
            .and_then(|object| object.remove("ts"))
            .expect("every line has ts");
        let ts = ts.as_str().expect("ts is a string");
        assert!(ts.len() == 27 && ts.ends_with('Z'), "ts {ts:?}");
    }
    assert_eq!(lines.len(), 7, "{output}");
    assert_eq!(lines[0], json!({"level": "INFO", "msg": "Server started"}));
    assert_eq!(
        lines[1],
        json!({"level": "INFO", "msg": "Processing request", "request_id": "req-8842"})
    );
    // After `reset`, the request id is gone.
    assert_eq!(lines[2], json!({"level": "INFO", "msg": "Request handled"}));
    // The concurrent requests (in any order) each log their own id, never the other's.
    let mut concurrent: Vec<(&Value, &Value)> = lines[3..]
        .iter()
        .map(|line| {
            assert_eq!(line["request_id"], line["request"], "{line}");
            (&line["msg"], &line["request_id"])
        })
        .collect();
    concurrent.sort_by_key(|(msg, id)| (id.to_string(), msg.to_string()));
    let expected = [
        ("Request finished", "req-1001"),
        ("Request started", "req-1001"),
        ("Request finished", "req-1002"),
        ("Request started", "req-1002"),
    ];
    let concurrent: Vec<(&str, &str)> = concurrent
        .iter()
        .map(|(msg, id)| (msg.as_str().unwrap(), id.as_str().unwrap()))
        .collect();
    assert_eq!(concurrent, expected);
}
