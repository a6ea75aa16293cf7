//! One module per rule. A rule that exists in several languages is a directory: the doc
//! and metadata in `mod.rs`, one checker per language (`rust.rs`, later `python.rs`).

pub(crate) mod guard_across_await;
pub(crate) mod set_without_reset;
pub(crate) mod syntax_error;
pub(crate) mod thread_local_in_async;
pub(crate) mod unpropagated_spawn;
pub(crate) mod unused_suppression;

use crate::registry::Rule;
use crate::rust::RustContext;

/// Runs every enabled Rust rule on one file.
pub(crate) fn check_rust(context: &mut RustContext<'_>) {
    if context.enabled(Rule::SetWithoutReset) {
        set_without_reset::rust::check(context);
    }
    if context.enabled(Rule::ThreadLocalInAsync) {
        thread_local_in_async::rust::check(context);
    }
    if context.enabled(Rule::UnpropagatedSpawn) {
        unpropagated_spawn::rust::check(context);
    }
    if context.enabled(Rule::GuardAcrossAwait) {
        guard_across_await::rust::check(context);
    }
}
