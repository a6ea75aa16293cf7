//! The Python checker.
//!
//! A callable handed to another thread (`executor.submit`, `executor.map`,
//! `loop.run_in_executor`, `threading.Thread(target=..)`, `threading.Timer`, the methods of
//! a `multiprocessing` pool) starts there in an empty context: CPython copies the context
//! only for `asyncio` tasks and `asyncio.to_thread`. It is reported when the callable reads
//! the context (`effects.rs`) and the pool it goes to is known (`pools.rs`); carriers need no
//! special case, since `ctx.run` and `copy_context().run` handed over in its place are not
//! functions that read anything.
//!
//! `scopes.rs` resolves names the way Python does, so a parameter or loop variable named
//! like a module's function is not taken for it.

mod effects;
mod pools;
mod scopes;

use crate::diagnostic::Diagnostic;
use crate::python::ast::{self, Expr};
use crate::python::{range, PyFileIndex, PyProjectIndex, PythonContext};
use crate::registry::Rule;
use crate::test_paths::is_test_path;

use effects::{ContextEffects, Read};
use pools::{Pool, Pools, MAP_METHODS, SUBMIT_METHODS};
use scopes::{ScopeId, Scopes};

/// Words one of the spawns contains; a file without any is not walked.
const SPAWN_WORDS: &[&str] = &[
    "submit",
    "map",
    "apply",
    "run_in_executor",
    "Thread",
    "Timer",
];

/// Adds this rule's run-wide facts about one module to its index: its module-level
/// functions that read the context (of this module's variables, or opentelemetry's).
pub(crate) fn collect_facts(ast: &ast::ModModule, index: &mut PyFileIndex) {
    if index.context_vars.is_empty() && !imports_opentelemetry(index) {
        return;
    }
    let scopes = Scopes::build(ast);
    let mut own = PyProjectIndex::default();
    own.merge(index);
    let names = effects::reading_functions(&mut ContextEffects::new(&scopes, index, &own));
    index.context_reading_fns.extend(names);
}

/// Checks one file.
pub(crate) fn check(context: &mut PythonContext<'_>) {
    let text = context.source.text();
    // Tests hand work to threads under a context on purpose, to check what propagates.
    let project = context.project;
    let nothing_to_read = project.context_vars.is_empty()
        && project.context_reading_fns.is_empty()
        && !imports_opentelemetry(context.index);
    if nothing_to_read
        || is_test_path(context.source.path())
        || !SPAWN_WORDS.iter().any(|word| text.contains(word))
    {
        return;
    }
    let scopes = Scopes::build(context.ast);
    let pools = Pools {
        scopes: &scopes,
        index: context.index,
        extra: &context.settings.extra_executors,
    };
    let mut effects = ContextEffects::new(&scopes, context.index, context.project);
    let mut diagnostics = Vec::new();
    // Work spawned at import time leaves no request's context behind.
    for id in scopes.ids().filter(|&id| scopes.in_function(id)) {
        for &call in &scopes.get(id).calls {
            let Some(spawn) = spawn(call, id, &pools) else {
                continue;
            };
            if let Some(read) = effects.of_callable(spawn.work, id).reads.first() {
                diagnostics.push(diagnostic(text, call, &spawn, read));
            }
        }
    }
    for diagnostic in diagnostics {
        context.report(diagnostic);
    }
}

/// Whether the module imports opentelemetry, whose context its functions may read.
fn imports_opentelemetry(index: &PyFileIndex) -> bool {
    index
        .imports
        .values()
        .any(|module| module == "opentelemetry" || module.starts_with("opentelemetry."))
}

/// How work is handed over, which decides the fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handoff {
    Submit,
    Map,
    RunInExecutor,
    Thread,
    Timer,
}

struct Spawn<'a> {
    work: &'a Expr,
    handoff: Handoff,
    /// Threads or processes (never [`Pool::CopiesContext`]).
    pool: Pool,
}

/// The work `call` hands to another thread or process, if it is a spawn.
fn spawn<'a>(call: &'a ast::ExprCall, scope: ScopeId, pools: &Pools<'_, 'a>) -> Option<Spawn<'a>> {
    let (work, handoff, pool) = match call.func.as_ref() {
        Expr::Attribute(method) if method.attr.id.as_str() == "run_in_executor" => {
            let executor = call.arguments.args.first()?;
            let pool = if executor.is_none_literal_expr() {
                // The loop's default executor, a `ThreadPoolExecutor`.
                Pool::Threads
            } else {
                pools.of(executor, scope)?
            };
            (argument(call, 1, "func")?, Handoff::RunInExecutor, pool)
        }
        Expr::Attribute(method) if SUBMIT_METHODS.contains(&method.attr.id.as_str()) => {
            let pool = pools.of(&method.value, scope)?;
            // `Executor.submit`'s callable is positional-only; a `multiprocessing` pool's
            // may be `func=`.
            (argument(call, 0, "func")?, Handoff::Submit, pool)
        }
        Expr::Attribute(method) if MAP_METHODS.contains(&method.attr.id.as_str()) => {
            let pool = pools.of(&method.value, scope)?;
            (argument(call, 0, "func")?, Handoff::Map, pool)
        }
        func => {
            let class = pools.scopes.resolve_global(pools.index, func, scope)?;
            match class.as_str() {
                // Python 3.14's `context=` gives the thread a context of the caller's choice.
                "threading.Thread" if keyword(call, "context").is_none() => {
                    (argument(call, 1, "target")?, Handoff::Thread, Pool::Threads)
                }
                "threading.Timer" => (
                    argument(call, 1, "function")?,
                    Handoff::Timer,
                    Pool::Threads,
                ),
                _ => return None,
            }
        }
    };
    (pool != Pool::CopiesContext).then_some(Spawn {
        work,
        handoff,
        pool,
    })
}

/// The argument at `position` or passed as `name`, unless it is `None`.
fn argument<'a>(call: &'a ast::ExprCall, position: usize, name: &str) -> Option<&'a Expr> {
    call.arguments
        .args
        .get(position)
        .filter(|arg| !arg.is_starred_expr())
        .or_else(|| keyword(call, name))
        .filter(|value| !value.is_none_literal_expr())
}

/// The argument passed as `name=`, unless it is `None`.
fn keyword<'a>(call: &'a ast::ExprCall, name: &str) -> Option<&'a Expr> {
    call.arguments
        .keywords
        .iter()
        .find(|keyword| {
            keyword
                .arg
                .as_ref()
                .is_some_and(|arg| arg.id.as_str() == name)
        })
        .map(|keyword| &keyword.value)
        .filter(|value| !value.is_none_literal_expr())
}

fn diagnostic(text: &str, call: &ast::ExprCall, spawn: &Spawn<'_>, read: &Read) -> Diagnostic {
    let work = match (short_source(text, spawn.work), spawn.work) {
        (Some(source), _) => format!("`{source}`"),
        (None, Expr::Lambda(_)) => "this lambda".to_string(),
        (None, _) => "this callable".to_string(),
    };
    let spawner = match (short_source(text, &call.func), call.func.as_ref()) {
        (Some(source), _) => format!("`{source}`"),
        (None, Expr::Attribute(method)) => format!("`{}`", method.attr.id),
        (None, _) => "the spawn".to_string(),
    };
    let message = match spawn.pool {
        Pool::Processes => format!(
            "{work} reads {} but {spawner} runs it in another process, which the caller's context does not reach",
            read.shown
        ),
        _ => format!(
            "{work} reads {} but {spawner} runs it on another thread, without the caller's context",
            read.shown
        ),
    };
    // At the hand-over, as in Rust: the call is what loses the context (and what a fix
    // wraps), wherever the work was defined.
    let work_at = range(spawn.work);
    let mut diagnostic = Diagnostic::new(Rule::UnpropagatedSpawn, range(&*call.func), message)
        .with_help(help(spawn))
        .with_label(work_at.clone(), "handed over without a context here");
    if read.at != work_at {
        diagnostic = diagnostic.with_label(read.at.clone(), format!("reads {} here", read.shown));
    }
    diagnostic
}

fn help(spawn: &Spawn<'_>) -> &'static str {
    if spawn.pool == Pool::Processes {
        return "pass the values the work needs as arguments: a context cannot be sent to another process";
    }
    match spawn.handoff {
        Handoff::Submit => {
            "submit `contextvars.copy_context().run` with the work as its first argument, so it runs in a copy of the caller's context"
        }
        Handoff::Map => {
            "submit each item as `pool.submit(contextvars.copy_context().run, func, item)`: one context cannot be entered by two threads at once"
        }
        Handoff::RunInExecutor => {
            "use `asyncio.to_thread`, which copies the context, or pass `contextvars.copy_context().run` with the work as its first argument"
        }
        Handoff::Thread => {
            "start the thread with `target=contextvars.copy_context().run, args=(func, ...)`"
        }
        Handoff::Timer => {
            "pass `contextvars.copy_context().run` as the function, with `args=(func, ...)`"
        }
    }
}

/// The expression's source, if it is short enough for a message.
fn short_source<'t>(text: &'t str, expr: &Expr) -> Option<&'t str> {
    text.get(range(expr))
        .filter(|source| source.len() <= 40 && !source.contains('\n'))
}

#[cfg(test)]
mod tests {
    use crate::python::PyFileIndex;
    use crate::source::SourceFile;

    fn facts(code: &str) -> Vec<String> {
        let source = SourceFile::new("jobs.py".into(), code.to_string());
        let parsed = crate::python::parse(&source);
        let index = PyFileIndex::build(&parsed.module, "app.jobs".to_string());
        let mut names: Vec<String> = index.context_reading_fns.into_iter().collect();
        names.sort();
        names
    }

    #[test]
    fn module_functions_that_read_the_context_are_run_wide_facts() {
        let code = concat!(
            "import contextvars\n",
            "from opentelemetry import trace\n",
            "rid = contextvars.ContextVar('rid')\n",
            "def direct():\n    return rid.get()\n",
            "def through():\n    return direct()\n",
            "def span():\n    return trace.get_current_span()\n",
            "def explicit(ctx):\n    return trace.get_current_span(ctx)\n",
            "def own(value):\n    rid.set(value)\n    return direct()\n",
            "def deferred():\n    return lambda: rid.get()\n",
            "async def later():\n    return rid.get()\n",
            "@decorate\ndef wrapped():\n    return rid.get()\n",
            "class C:\n    def method(self):\n        return rid.get()\n",
        );
        assert_eq!(
            facts(code),
            ["app.jobs.direct", "app.jobs.span", "app.jobs.through"]
        );
    }
}
