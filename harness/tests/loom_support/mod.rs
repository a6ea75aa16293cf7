//! Running a loom model clean, and with a `ctxvars` mutant in a child process.
//!
//! A mutant run must fail, and a loom model that fails can abort its process: loom then drops
//! the thread-local storage of the model's threads outside the model, and a context still
//! stored there panics inside a destructor (a loom `Arc` may only be touched inside a model).
//! So [`assert_killed`] runs the model in a child process (this test binary, filtered to the
//! calling test) and reads the child's first failure from its stderr. The mutant is switched
//! on only in that child, so it never leaks into another test.

use std::env;
use std::panic;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

use ctxvars::mutant::{self, Mutant};

/// Payload of the panics models raise on purpose (and catch); the panic hook skips them.
pub const PLANNED: &str = "planned panic";

/// In a child process: the test whose mutant run the process is for.
const CHILD_ENV: &str = "CTXHARNESS_LOOM_MUTANT_TEST";
/// The line a child writes for the first failure of its model.
const FAILED: &str = "loom model failed at interleaving";

/// Interleavings the running model has started (one model runs at a time, see `explore`).
static INTERLEAVINGS: AtomicUsize = AtomicUsize::new(0);

/// Explores every interleaving of `model` (up to `builder`'s bounds), prints how many there
/// were, and panics if one fails.
pub fn explore(name: &str, builder: loom::model::Builder, model: fn()) {
    static SERIAL: Mutex<()> = Mutex::new(());
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let interleavings = run(&builder, model);
    println!("loom model `{name}`: {interleavings} interleavings explored, all passed");
    // A model without a second interleaving checks no concurrency at all.
    assert!(
        interleavings > 1,
        "`{name}` explored only {interleavings} interleaving"
    );
}

/// Asserts that some interleaving of `model` fails with `bug` switched on, with a panic
/// message containing `expected`: the failure the mutant exists to cause, not another one.
///
/// `test` is the name of the calling test: the child process runs just that test.
pub fn assert_killed(
    test: &str,
    bug: Mutant,
    builder: loom::model::Builder,
    model: fn(),
    expected: &str,
) {
    if env::var(CHILD_ENV).is_ok_and(|child| child == test) {
        mutant::set(Some(bug));
        let interleavings = run(&builder, model);
        println!("{bug:?} survived all {interleavings} interleavings");
        return;
    }
    let child = Command::new(env::current_exe().expect("the test binary's path"))
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, test)
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&child.stdout);
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(
        stdout.contains("running 1 test"),
        "the child ran no test named `{test}`:\n{stdout}"
    );
    assert!(
        !child.status.success(),
        "`{test}`: the model passed with {bug:?} on:\n{stdout}"
    );
    let failure = stderr
        .lines()
        .find(|line| line.starts_with(FAILED))
        .unwrap_or_else(|| panic!("`{test}`: the child failed without a model failure:\n{stderr}"));
    assert!(
        failure.contains(expected),
        "`{test}`: the model failed with {bug:?} on, but not with `{expected}`:\n{stderr}"
    );
    println!("{bug:?}: {failure}");
}

fn run(builder: &loom::model::Builder, model: fn()) -> usize {
    install_panic_hook();
    INTERLEAVINGS.store(0, Ordering::SeqCst);
    builder.check(move || {
        INTERLEAVINGS.fetch_add(1, Ordering::SeqCst);
        model();
    });
    INTERLEAVINGS.load(Ordering::SeqCst)
}

/// Skips planned panics, and reports the first real one on one line with its interleaving.
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let report = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() == Some(&PLANNED) {
                return;
            }
            static FIRST: AtomicBool = AtomicBool::new(true);
            if FIRST.swap(false, Ordering::SeqCst) {
                let message = info
                    .payload()
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| info.payload().downcast_ref::<&str>().copied())
                    .unwrap_or("a panic without a message");
                let interleaving = INTERLEAVINGS.load(Ordering::SeqCst);
                // One line, so the parent of a mutant run can find it.
                eprintln!("{FAILED} {interleaving}: {}", message.replace('\n', " "));
            }
            report(info);
        }));
    });
}
