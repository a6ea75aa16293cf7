//! One module per rule. A rule is a directory: the doc and metadata in `mod.rs`, one
//! checker per language it covers (`rust.rs`, `python.rs`).

pub(crate) mod guard_across_await;
pub(crate) mod mutable_context_value;
pub(crate) mod set_without_reset;
pub(crate) mod shared_context_run;
pub(crate) mod syntax_error;
pub(crate) mod thread_local_in_async;
pub(crate) mod unpropagated_spawn;
pub(crate) mod unused_suppression;

use crate::python::PythonContext;
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

/// Runs every enabled Python rule on one file.
pub(crate) fn check_python(context: &mut PythonContext<'_>) {
    if context.enabled(Rule::SetWithoutReset) {
        set_without_reset::python::check(context);
    }
    if context.enabled(Rule::ThreadLocalInAsync) {
        thread_local_in_async::python::check(context);
    }
    if context.enabled(Rule::UnpropagatedSpawn) {
        unpropagated_spawn::python::check(context);
    }
    if context.enabled(Rule::SharedContextRun) {
        shared_context_run::python::check(context);
    }
    if context.enabled(Rule::MutableContextValue) {
        mutable_context_value::python::check(context);
    }
}
