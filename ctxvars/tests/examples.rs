//! Runs the built examples the way a user would and checks what they print.
//!
//! `cargo test` builds the package's examples (those whose required features are enabled)
//! into `target/<profile>/examples/` before running the tests; this test binary lives in
//! `target/<profile>/deps/`, so the examples are found next to it.

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/examples/<name>`, derived from this test binary's path.
fn example_path(name: &str) -> PathBuf {
    let test_binary = std::env::current_exe().expect("path of the test binary");
    let profile_dir = test_binary
        .parent() // deps
        .and_then(|deps| deps.parent()) // <profile>
        .expect("the test binary is in target/<profile>/deps");
    profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// Runs the example `name`, checks that it succeeded, and returns its stdout.
fn run_example(name: &str) -> String {
    let path = example_path(name);
    assert!(
        path.is_file(),
        "{} is missing: run the tests with `cargo test` (which builds the examples) or \
         build it with `cargo build -p ctxvars --example {name}`",
        path.display()
    );
    let output = Command::new(&path)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", path.display()));
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 stdout");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{name} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    stdout
}

#[test]
fn thread_pool_jobs_all_see_the_submitters_trace_id() {
    let stdout = run_example("thread_pool");
    let mut lines: Vec<&str> = stdout.lines().collect();
    // The jobs run concurrently on the pool, so they may finish in any order.
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "job 1: trace-abc-123",
            "job 2: trace-abc-123",
            "job 3: trace-abc-123",
        ],
        "stdout:\n{stdout}"
    );
}

#[test]
fn child_process_extracts_the_context_its_parent_injected() {
    let stdout = run_example("child_process");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "child: traceparent=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "child: city=São Paulo; BR",
        ]
    );
}

#[cfg(all(feature = "tracing", feature = "tokio"))]
#[test]
fn json_logging_logs_the_request_id_of_each_request() {
    let stdout = run_example("json_logging");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 7, "stdout:\n{stdout}");

    // Each line starts with `{"ts":"YYYY-MM-DDTHH:MM:SS.ffffffZ",`; the rest is exact.
    let after_ts = |line: &str| -> String {
        let ts = line
            .strip_prefix(r#"{"ts":""#)
            .and_then(|rest| rest.get(..27))
            .unwrap_or_else(|| panic!("no ts in {line}"));
        let shape = "dddd-dd-ddTdd:dd:dd.ddddddZ";
        let well_formed = ts.bytes().zip(shape.bytes()).all(|(byte, expected)| {
            if expected == b'd' {
                byte.is_ascii_digit()
            } else {
                byte == expected
            }
        });
        assert!(well_formed, "ts {ts:?} in {line}");
        let rest = &line[r#"{"ts":""#.len() + 27..];
        rest.strip_prefix("\",")
            .unwrap_or_else(|| panic!("no key after ts in {line}"))
            .to_owned()
    };

    assert_eq!(
        after_ts(lines[0]),
        r#""level":"INFO","msg":"Server started"}"#
    );
    assert_eq!(
        after_ts(lines[1]),
        r#""level":"INFO","msg":"Processing request","request_id":"req-8842"}"#
    );
    assert_eq!(
        after_ts(lines[2]),
        r#""level":"INFO","msg":"Request handled"}"#
    );

    // The concurrent tokio requests print in an order that depends on scheduling.
    let mut concurrent: Vec<String> = lines[3..].iter().map(|line| after_ts(line)).collect();
    concurrent.sort_unstable();
    let expected = [
        r#""level":"INFO","msg":"Request finished","request_id":"req-1001","request":"req-1001"}"#,
        r#""level":"INFO","msg":"Request finished","request_id":"req-1002","request":"req-1002"}"#,
        r#""level":"INFO","msg":"Request started","request_id":"req-1001","request":"req-1001"}"#,
        r#""level":"INFO","msg":"Request started","request_id":"req-1002","request":"req-1002"}"#,
    ];
    assert_eq!(concurrent, expected, "stdout:\n{stdout}");

    // And the req-8842 line, parsed: exactly these keys besides ts.
    let mut object: serde_json::Value = serde_json::from_str(lines[1]).expect("JSON line");
    object.as_object_mut().unwrap().remove("ts");
    assert_eq!(
        object,
        serde_json::json!({"level": "INFO", "msg": "Processing request", "request_id": "req-8842"})
    );
}
