//! The Rust checker.
//!
//! One walk (`walk.rs`) tracks the context state at every point of a function: none, a
//! context current (an `#[instrument]`ed body, an entered or attached guard in scope, a set
//! context variable, the closure of `span.in_scope(..)`, a future given `.instrument(..)`),
//! or "lost" inside spawned work that was not given a carrier. A use of the context in a
//! lost state is recorded against that spawn; a spawn whose caller had a context and whose
//! work records a use is reported.
//!
//! The same walk summarises every function in collect mode (its body starts "lost"), so a
//! spawned call of a local function that logs counts as a use, across files.

mod recognise;
mod walk;

use std::collections::{HashMap, HashSet};

use syn::visit::Visit;

use crate::diagnostic::Diagnostic;
use crate::registry::Rule;
use crate::rust::{FileIndex, RustContext};
use crate::test_paths::is_test_path;

use recognise::SpawnKind;
use walk::{Config, CtxKind, FnSummary, FnUses, Report, Walker, ASYNC_PREFIX};

/// Adds this rule's crate-wide facts about one file to its index: the functions whose
/// bodies use the context they are called in (keys `name`, or `Type::name` for methods),
/// each `async fn` among them also as `async KEY`.
pub(crate) fn collect_facts(ast: &syn::File, index: &mut FileIndex) {
    let config = Config {
        index,
        context_vars: index.context_vars.iter().cloned().collect(),
        extra_spawns: &[],
        extra_carriers: &[],
        log_macros: uses_log_macros(ast),
        fields: field_types(ast, index),
        fns: None,
    };
    let summaries = summarise(ast, &config);
    let (_, using) = fixpoint(&summaries, |_| false);
    index.context_using_fns.extend(using);
}

/// Checks one file.
pub(crate) fn check(context: &mut RustContext<'_>) {
    // Tests spawn under a context on purpose, to check what propagates.
    if is_test_path(context.source.path()) {
        return;
    }
    let mut context_vars: HashSet<String> = context.index.context_vars.iter().cloned().collect();
    context_vars.extend(context.project.context_vars.iter().cloned());
    let mut config = Config {
        index: context.index,
        context_vars,
        extra_spawns: &context.settings.extra_spawn_functions,
        extra_carriers: &context.settings.extra_carriers,
        log_macros: uses_log_macros(context.ast),
        fields: field_types(context.ast, context.index),
        fns: None,
    };
    let summaries = summarise(context.ast, &config);
    let project = &context.project.context_using_fns;
    let (defined, using) = fixpoint(&summaries, |key| project.contains(key));
    let fns = FnUses {
        defined,
        using,
        project: Some(project),
    };
    config.fns = Some(&fns);
    let mut walker = Walker::new(&config, false);
    walker.visit_file(context.ast);
    let reports = std::mem::take(&mut walker.reports);
    for report in reports {
        context.report(diagnostic(report));
    }
}

fn summarise(ast: &syn::File, config: &Config<'_>) -> Vec<FnSummary> {
    let mut walker = Walker::new(config, true);
    walker.visit_file(ast);
    walker.summaries
}

/// The functions defined here, and the facts about those that use the context directly or
/// through calls (a called function not defined here uses it when `external` says so):
/// their keys, and `async KEY` for the `async fn`s among them.
fn fixpoint(
    summaries: &[FnSummary],
    external: impl Fn(&str) -> bool,
) -> (HashSet<String>, HashSet<String>) {
    let defined: HashSet<String> = summaries.iter().map(|fact| fact.key.clone()).collect();
    let mut using: HashSet<String> = summaries
        .iter()
        .filter(|fact| fact.direct)
        .map(|fact| fact.key.clone())
        .collect();
    loop {
        let mut changed = false;
        for fact in summaries {
            if using.contains(&fact.key) {
                continue;
            }
            let uses = fact.calls.iter().any(|callee| {
                if defined.contains(callee) {
                    using.contains(callee)
                } else {
                    external(callee)
                }
            });
            if uses {
                using.insert(fact.key.clone());
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    for fact in summaries {
        if fact.is_async && using.contains(&fact.key) {
            using.insert(format!("{ASYNC_PREFIX}{}", fact.key));
        }
    }
    (defined, using)
}

/// `#[macro_use] extern crate log;`: a bare `info!` is then log's, not tracing's.
fn uses_log_macros(ast: &syn::File) -> bool {
    ast.items.iter().any(|item| match item {
        syn::Item::ExternCrate(krate) => {
            krate.ident == "log"
                && krate
                    .attrs
                    .iter()
                    .any(|attr| attr.path().is_ident("macro_use"))
        }
        _ => false,
    })
}

/// Every named struct field's type paths, by field name (`tasks` → `tokio::task::JoinSet`).
fn field_types(ast: &syn::File, index: &FileIndex) -> HashMap<String, Vec<String>> {
    struct Fields<'i> {
        index: &'i FileIndex,
        types: HashMap<String, Vec<String>>,
    }
    impl<'ast> Visit<'ast> for Fields<'_> {
        fn visit_field(&mut self, field: &'ast syn::Field) {
            if let Some(name) = &field.ident {
                self.types.insert(
                    name.to_string(),
                    recognise::type_words(&field.ty, self.index),
                );
            }
        }
    }
    let mut fields = Fields {
        index,
        types: HashMap::new(),
    };
    fields.visit_file(ast);
    fields.types
}

fn diagnostic(report: Report) -> Diagnostic {
    let first = &report.uses[0];
    let future = match report.kind {
        SpawnKind::Task => true,
        SpawnKind::Blocking | SpawnKind::Thread | SpawnKind::Rayon => false,
        SpawnKind::Configured => !report.closure,
    };
    let (work, destination) = match report.kind {
        SpawnKind::Task => ("a future", "a new task"),
        SpawnKind::Blocking => ("a closure", "the blocking pool"),
        SpawnKind::Thread => ("a closure", "a new thread"),
        SpawnKind::Rayon => ("a closure", "a rayon worker"),
        SpawnKind::Configured if future => ("a future", "other work"),
        SpawnKind::Configured => ("a closure", "other work"),
    };
    let context = match report.origin.kind {
        CtxKind::Span => "span",
        CtxKind::Otel => "opentelemetry context",
        CtxKind::Vars => "context variables",
    };
    let message = format!(
        "`{}` hands {work} to {destination} without the caller's {context}, but it {}",
        report.name, first.what
    );
    let help = help(report.kind, future, report.origin.kind);
    let mut diagnostic = Diagnostic::new(Rule::UnpropagatedSpawn, report.range, message)
        .with_help(help)
        .with_label(report.origin.range.clone(), report.origin.label);
    let label = if future {
        "this runs in the spawned task, where the caller's context is not current"
    } else {
        "this runs on the other thread, where the caller's context is not current"
    };
    diagnostic = diagnostic.with_label(first.range.clone(), label);
    diagnostic
}

fn help(kind: SpawnKind, future: bool, context: CtxKind) -> String {
    match (future, context) {
        (true, CtxKind::Span) => "carry the span: add `.in_current_span()` to the future \
             (`use tracing::Instrument;`), or `.instrument(span)` with an explicit span"
            .to_string(),
        (true, CtxKind::Otel) => "carry the context: add `.with_current_context()` to the \
             future (`use opentelemetry::context::FutureExt;`)"
            .to_string(),
        (true, CtxKind::Vars) => "carry the context: spawn with `ctxvars::tokio::spawn`, or add \
             `.with_current_context()` to the future (`use ctxvars::ContextFutureExt;`)"
            .to_string(),
        (false, CtxKind::Span) => "carry the span: capture `let span = tracing::Span::current();` \
             before spawning and run the closure's body in `span.in_scope(..)`, or wrap the \
             closure in `ctxvars::propagate(..)`"
            .to_string(),
        (false, CtxKind::Otel) => "carry the context: capture `let cx = \
             opentelemetry::Context::current();` before spawning and hold `cx.attach()` \
             inside the closure"
            .to_string(),
        (false, CtxKind::Vars) => match kind {
            SpawnKind::Thread => "carry the context: spawn with `ctxvars::thread::spawn`, or wrap \
                 the closure in `ctxvars::propagate(..)`"
                .to_string(),
            SpawnKind::Blocking => "carry the context: spawn with \
                 `ctxvars::tokio::spawn_blocking`, or wrap the closure in `ctxvars::propagate(..)`"
                .to_string(),
            _ => "carry the context: wrap the closure in `ctxvars::propagate(..)`".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::RuleSet;
    use crate::rust::ProjectIndex;
    use crate::settings::Settings;
    use crate::source::SourceFile;

    /// Findings (row, source text at the range, message, help) in the last of `files`,
    /// with the crate-wide facts of all of them.
    fn findings_in(files: &[&str], settings: &Settings) -> Vec<(usize, String, String, String)> {
        let mut project = ProjectIndex::default();
        for text in files {
            let source = SourceFile::new("lib.rs".into(), text.to_string());
            let ast = crate::rust::parse(&source).expect("test code parses");
            project.merge(&FileIndex::build(&ast, Default::default()));
        }
        let text = files.last().expect("a file");
        let source = SourceFile::new("lib.rs".into(), text.to_string());
        let ast = crate::rust::parse(&source).expect("test code parses");
        let index = FileIndex::build(&ast, Default::default());
        let mut context =
            RustContext::new(&source, &ast, &index, &project, settings, RuleSet::all());
        check(&mut context);
        context
            .into_diagnostics()
            .into_iter()
            .map(|found| {
                (
                    source.location(found.range.start).row,
                    text[found.range.clone()].to_string(),
                    found.message,
                    found.help.unwrap_or_default(),
                )
            })
            .collect()
    }

    fn rows(code: &str) -> Vec<usize> {
        findings_in(&[code], &Settings::default())
            .into_iter()
            .map(|found| found.0)
            .collect()
    }

    #[test]
    fn reports_at_the_spawn_path_or_method_with_a_help_for_its_kind() {
        let found = findings_in(
            &[r#"
            #[tracing::instrument]
            async fn handle() {
                tokio::spawn(async { tracing::info!("x") });
                std::thread::spawn(|| tracing::info!("x"));
            }
            "#],
            &Settings::default(),
        );
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].1, "tokio::spawn");
        assert!(found[0]
            .2
            .starts_with("`tokio::spawn` hands a future to a new task"));
        assert!(found[0].3.contains(".in_current_span()"));
        assert_eq!(found[1].1, "std::thread::spawn");
        assert!(found[1].3.contains("Span::current()"));
        assert!(found[1].3.contains("ctxvars::propagate"));
    }

    #[test]
    fn a_guard_bound_to_underscore_or_dropped_is_no_context() {
        let code = r#"
            fn f(span: tracing::Span) {
                let _ = span.enter();
                std::thread::spawn(|| tracing::info!("x"));
                span.enter();
                std::thread::spawn(|| tracing::info!("x"));
                let guard = span.enter();
                std::thread::spawn(|| tracing::info!("x"));
                drop(guard);
                std::thread::spawn(|| tracing::info!("x"));
            }
        "#;
        assert_eq!(rows(code), [8]);
    }

    #[test]
    fn a_runtime_or_local_set_guard_is_no_context() {
        let code = r#"
            fn f(handle: tokio::runtime::Handle, local: tokio::task::LocalSet) {
                let _a = handle.enter();
                let _b = local.enter();
                let _c = Handle::current().enter();
                tokio::spawn(async { tracing::info!("x") });
            }
        "#;
        assert_eq!(rows(code), Vec::<usize>::new());
    }

    #[test]
    fn configured_spawn_functions_and_carriers_are_used() {
        let settings = Settings {
            extra_spawn_functions: vec![
                "my_rt::spawn_task".to_string(),
                "my_rt::Pool::submit".to_string(),
            ],
            extra_carriers: vec!["propagating".to_string(), "my_rt::carry".to_string()],
            ..Settings::default()
        };
        let code = r#"
            use my_rt::{carry, spawn_task, Pool};
            #[tracing::instrument(skip(pool))]
            fn f(pool: &Pool) {
                spawn_task(|| tracing::info!("x"));
                pool.submit(|| tracing::info!("x"));
                spawn_task(carry(|| tracing::info!("x")));
                spawn_task(async { tracing::info!("x") }.propagating());
                other::spawn_task(|| tracing::info!("x"));
            }
        "#;
        let found = findings_in(&[code], &settings);
        let rows: Vec<usize> = found.iter().map(|found| found.0).collect();
        assert_eq!(rows, [5, 6]);
        assert_eq!(found[0].1, "spawn_task");
        assert_eq!(found[1].1, "submit");
        assert!(found[1].2.starts_with("`Pool::submit` hands a closure"));
    }

    #[test]
    fn context_using_functions_are_known_across_files_and_overridden_locally() {
        let helpers = r#"
            pub fn audit() { tracing::info!("audited"); }
            pub fn quiet() {}
            pub struct Mailer;
            impl Mailer { pub fn send(&self) { tracing::debug!("sent"); } }
        "#;
        let caller = r#"
            use crate::helpers::{audit, quiet, Mailer};
            #[tracing::instrument(skip(mailer))]
            fn f(mailer: Mailer) {
                std::thread::spawn(|| audit());
                std::thread::spawn(|| quiet());
                std::thread::spawn(move || mailer.send());
            }
        "#;
        let found = findings_in(&[helpers, caller], &Settings::default());
        let rows: Vec<usize> = found.iter().map(|found| found.0).collect();
        assert_eq!(rows, [5, 7]);

        let shadowing = r#"
            fn audit() {}
            #[tracing::instrument]
            fn f() { std::thread::spawn(|| audit()); }
        "#;
        assert!(findings_in(&[helpers, shadowing], &Settings::default()).is_empty());
    }

    #[test]
    fn facts_name_free_functions_and_methods_by_type() {
        let ast = syn::parse_file(
            r#"
            fn logs() { tracing::warn!("x"); }
            fn calls_logs() { logs(); }
            fn silent() {}
            #[tracing::instrument]
            fn own_span() { tracing::info!("x"); }
            fn spawns() { tokio::spawn(async { tracing::info!("x") }); }
            async fn notify() { logs(); }
            struct Worker;
            impl Worker {
                fn run(&self) { self.step(); }
                fn step(&self) { let _ = tracing::Span::current(); }
            }
            "#,
        )
        .unwrap();
        let index = FileIndex::build(&ast, Default::default());
        let mut facts: Vec<&str> = index.context_using_fns.iter().map(String::as_str).collect();
        facts.sort_unstable();
        assert_eq!(
            facts,
            [
                "Worker::run",
                "Worker::step",
                "async notify",
                "calls_logs",
                "logs",
                "notify"
            ]
        );
    }

    #[test]
    fn log_macros_brought_by_macro_use_are_not_tracing() {
        let code = r#"
            #[macro_use]
            extern crate log;
            #[tracing::instrument]
            fn f() { std::thread::spawn(|| info!("x")); }
        "#;
        assert_eq!(rows(code), Vec::<usize>::new());
    }

    #[test]
    fn a_captured_context_run_inside_the_work_carries_it() {
        let code = r#"
            static ID: ctxvars::ContextVar<u64> = ctxvars::ContextVar::new("id");
            fn f() {
                let _id = ID.set_guard(7);
                let ctx = ctxvars::copy_context();
                std::thread::spawn(move || ctx.run(|| ID.get()));
                std::thread::spawn(move || ID.get());
            }
        "#;
        assert_eq!(rows(code), [7]);
    }
}
