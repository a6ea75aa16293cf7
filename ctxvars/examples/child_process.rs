//! Context does not cross a process boundary by itself: the parent injects its trace
//! context into the child's environment (`TRACEPARENT`, `BAGGAGE`), the child extracts it.
//!
//! Run: `cargo run -p ctxvars --example child_process`. The example re-runs itself as the
//! child and asserts what the child saw.

use std::process::Command;

use ctxvars::propagation::{
    extract, inject, Baggage, EnvCarrier, TraceParent, BAGGAGE, TRACE_PARENT,
};

/// Set in the child's environment so the re-run binary knows its role.
const CHILD_ROLE: &str = "CTXVARS_EXAMPLE_CHILD";
const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

fn main() {
    if std::env::var_os(CHILD_ROLE).is_some() {
        child();
    } else {
        parent();
    }
}

fn parent() {
    let exe = std::env::current_exe().expect("path of this example");
    let mut child = Command::new(exe);
    // Whatever this process inherited must not be what the child reports.
    child
        .env(CHILD_ROLE, "1")
        .env_remove("TRACEPARENT")
        .env_remove("BAGGAGE");

    let trace_parent: TraceParent = TRACEPARENT.parse().expect("a valid traceparent");
    let mut baggage = Baggage::new();
    baggage
        .insert("city", "São Paulo; BR")
        .expect("a valid baggage key");
    TRACE_PARENT.scope(trace_parent, || {
        BAGGAGE.scope(baggage, || inject(&mut child))
    });

    let output = child.output().expect("run the child process");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    print!("{stdout}");
    assert!(
        output.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected = [
        format!("child: traceparent={TRACEPARENT}"),
        "child: city=São Paulo; BR".to_string(),
    ];
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected);
}

fn child() {
    let mut context = extract(&EnvCarrier::from_env());
    context.run(|| {
        let trace_parent = TRACE_PARENT
            .get()
            .map(|tp| tp.to_string())
            .unwrap_or_default();
        let city = BAGGAGE
            .with(|b| b.and_then(|b| b.get("city")).map(str::to_owned))
            .unwrap_or_default();
        println!("child: traceparent={trace_parent}");
        println!("child: city={city}");
    });
}
