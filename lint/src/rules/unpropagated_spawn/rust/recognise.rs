//! Recognising the shapes CTX003 cares about, each a pure function of the syntax (and the
//! file's `use` aliases): spawn calls, carriers, context reads, tracing macros, types.

use proc_macro2::{TokenStream, TokenTree};

use crate::rust::FileIndex;

/// Where spawned work runs, which decides the help text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SpawnKind {
    /// A future on an async runtime (`tokio::spawn`, `JoinSet::spawn`).
    Task,
    /// A closure on tokio's blocking pool (`spawn_blocking`).
    Blocking,
    /// A closure on a new OS thread (`std::thread::spawn`, `Builder::spawn`, scoped threads).
    Thread,
    /// A closure on a rayon worker (`rayon::spawn`, `s.spawn(..)` in `rayon::scope`).
    Rayon,
    /// A function from `extra-spawn-functions`: a closure or a future, told by its argument.
    Configured,
}

/// Spawn functions called by path, by their full path.
const SPAWN_FUNCTIONS: &[(&str, SpawnKind)] = &[
    ("tokio::spawn", SpawnKind::Task),
    ("tokio::task::spawn", SpawnKind::Task),
    ("tokio::task::spawn_local", SpawnKind::Task),
    ("tokio::task::spawn_blocking", SpawnKind::Blocking),
    ("async_std::task::spawn", SpawnKind::Task),
    ("async_std::task::spawn_local", SpawnKind::Task),
    ("async_std::task::spawn_blocking", SpawnKind::Blocking),
    ("std::thread::spawn", SpawnKind::Thread),
    ("thread::spawn", SpawnKind::Thread),
    ("std::thread::Builder::spawn", SpawnKind::Thread),
    ("rayon::spawn", SpawnKind::Rayon),
    ("rayon::spawn_fifo", SpawnKind::Rayon),
    ("rayon_core::spawn", SpawnKind::Rayon),
    ("rayon_core::spawn_fifo", SpawnKind::Rayon),
];

/// Functions that run a closure with a scope handle whose `.spawn(..)` starts threads.
const SCOPE_FUNCTIONS: &[(&str, SpawnKind)] = &[
    ("std::thread::scope", SpawnKind::Thread),
    ("thread::scope", SpawnKind::Thread),
    ("crossbeam::scope", SpawnKind::Thread),
    ("crossbeam::thread::scope", SpawnKind::Thread),
    ("crossbeam_utils::thread::scope", SpawnKind::Thread),
    ("rayon::scope", SpawnKind::Rayon),
    ("rayon::scope_fifo", SpawnKind::Rayon),
    ("rayon::in_place_scope", SpawnKind::Rayon),
    ("rayon::in_place_scope_fifo", SpawnKind::Rayon),
    ("rayon_core::scope", SpawnKind::Rayon),
    ("rayon_core::scope_fifo", SpawnKind::Rayon),
];

/// Crates whose functions are never this project's own (their names must not be matched
/// against the crate-wide set of context-using functions).
const EXTERNAL_CRATES: &[&str] = &[
    "std",
    "core",
    "alloc",
    "tokio",
    "tokio_util",
    "tokio_stream",
    "futures",
    "futures_util",
    "tracing",
    "tracing_core",
    "tracing_subscriber",
    "tracing_futures",
    "opentelemetry",
    "opentelemetry_sdk",
    "ctxvars",
    "rayon",
    "rayon_core",
    "async_std",
    "crossbeam",
    "log",
    "anyhow",
    "serde",
    "serde_json",
    "http",
    "bytes",
];

/// The tracing macros that record an event in the current span.
const EVENT_MACROS: &[&str] = &["trace", "debug", "info", "warn", "error", "event"];

/// The tracing macros that create a span whose parent is the current span.
const SPAN_MACROS: &[&str] = &[
    "span",
    "trace_span",
    "debug_span",
    "info_span",
    "warn_span",
    "error_span",
];

/// The spawn function a resolved path names.
pub(super) fn spawn_function(resolved: &str, extra: &[String]) -> Option<SpawnKind> {
    if let Some((_, kind)) = SPAWN_FUNCTIONS.iter().find(|(path, _)| *path == resolved) {
        return Some(*kind);
    }
    extra
        .iter()
        .any(|entry| configured_path_matches(entry, resolved))
        .then_some(SpawnKind::Configured)
}

/// A scope function (`thread::scope`, `rayon::scope`) a resolved path names.
pub(super) fn scope_function(resolved: &str) -> Option<SpawnKind> {
    SCOPE_FUNCTIONS
        .iter()
        .find(|(path, _)| *path == resolved)
        .map(|(_, kind)| *kind)
}

/// Whether a configured full path (`my_crate::exec::spawn`) names the resolved call path
/// (`my_crate::exec::spawn`, or `crate::exec::spawn` inside that crate).
pub(super) fn configured_path_matches(entry: &str, resolved: &str) -> bool {
    let entry = entry.trim().trim_start_matches("::");
    if entry.is_empty() {
        return false;
    }
    if entry == resolved {
        return true;
    }
    match resolved.strip_prefix("crate::") {
        Some(rest) => entry.ends_with(&format!("::{rest}")),
        None => false,
    }
}

/// The last segment of a configured path (a carrier given as a method name or a path).
pub(super) fn last_segment(entry: &str) -> &str {
    entry.trim().rsplit("::").next().unwrap_or(entry)
}

/// A configured method-shaped entry (`my_crate::Pool::spawn`): its type and method.
pub(super) fn configured_method(entry: &str) -> Option<(&str, &str)> {
    let mut segments = entry.trim().rsplit("::");
    let method = segments.next()?;
    let ty = segments.next()?;
    ty.starts_with(|c: char| c.is_ascii_uppercase())
        .then_some((ty, method))
}

/// The expression inside parentheses and invisible groups.
pub(super) fn peel(expr: &syn::Expr) -> &syn::Expr {
    match expr {
        syn::Expr::Paren(inner) => peel(&inner.expr),
        syn::Expr::Group(inner) => peel(&inner.expr),
        _ => expr,
    }
}

/// The methods that carry the current context into a future or closure they wrap.
pub(super) fn is_carrier_method(call: &syn::ExprMethodCall, extra: &[String]) -> bool {
    let method = call.method.to_string();
    match method.as_str() {
        "instrument" | "in_current_span" | "with_current_context" => true,
        // opentelemetry's / ctxvars' `FutureExt::with_context(cx)` takes a context value;
        // anyhow's and snafu's `Context::with_context(|| ..)` take a closure.
        "with_context" => call.args.len() == 1 && !is_closure_like(&call.args[0]),
        _ => extra
            .iter()
            .any(|entry| !entry.contains("::") && last_segment(entry) == method),
    }
}

/// Carriers whose wrapped work keeps whatever context the caller has (as opposed to
/// `.instrument(span)`, which gives the work a context of its own).
pub(super) fn carries_current(method: &str) -> bool {
    matches!(method, "in_current_span" | "with_current_context")
}

/// Functions that wrap work so it runs in the caller's context.
pub(super) fn is_carrier_function(resolved: &str, extra: &[String]) -> bool {
    resolved == "ctxvars::propagate"
        || resolved.ends_with("Instrument::instrument")
        || resolved.ends_with("Instrument::in_current_span")
        || resolved.ends_with("FutureExt::with_context")
        || resolved.ends_with("FutureExt::with_current_context")
        || resolved.ends_with("WithContext::new")
        || resolved.starts_with("ctxvars::thread::")
        || resolved.starts_with("ctxvars::tokio::")
        || extra.iter().any(|entry| {
            configured_path_matches(entry, resolved)
                || (!entry.contains("::") && last_segment(resolved) == entry.trim())
        })
}

fn is_closure_like(expr: &syn::Expr) -> bool {
    matches!(peel(expr), syn::Expr::Closure(_))
}

/// What a tracing macro does with the current span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TracingMacro {
    Event,
    Span,
}

/// A tracing event or span macro that uses the current span as its parent: not one with an
/// explicit `parent:`, and not `log`'s macros of the same names.
pub(super) fn tracing_macro(
    mac: &syn::Macro,
    index: &FileIndex,
    log_macros: bool,
) -> Option<TracingMacro> {
    let name = mac.path.segments.last()?.ident.to_string();
    let kind = if EVENT_MACROS.contains(&name.as_str()) {
        TracingMacro::Event
    } else if SPAN_MACROS.contains(&name.as_str()) {
        TracingMacro::Span
    } else {
        return None;
    };
    let resolved = index.resolve(&mac.path);
    let from_tracing = if mac.path.segments.len() == 1 && resolved == name {
        // A bare `info!`: tracing's unless `#[macro_use] extern crate log` brought log's.
        !log_macros
    } else {
        let root = resolved.split("::").next().unwrap_or_default();
        root.starts_with("tracing") || matches!(root, "crate" | "self" | "super" | "$crate")
    };
    (from_tracing && !has_explicit_parent(&mac.tokens)).then_some(kind)
}

/// `parent: x` among a macro's leading arguments.
pub(super) fn has_explicit_parent(tokens: &TokenStream) -> bool {
    let tokens: Vec<TokenTree> = tokens.clone().into_iter().collect();
    let is_colon =
        |token: &TokenTree| matches!(token, TokenTree::Punct(punct) if punct.as_char() == ':');
    tokens.windows(3).enumerate().any(|(at, window)| {
        let starts_argument =
            at == 0 || matches!(&tokens[at - 1], TokenTree::Punct(punct) if punct.as_char() == ',');
        starts_argument
            && matches!(&window[0], TokenTree::Ident(ident) if ident == "parent")
            && is_colon(&window[1])
            && !is_colon(&window[2])
    })
}

/// `assert!`, `assert_eq!`, `debug_assert_ne!`, `assert_matches!`: their context reads are a
/// test's oracle, not a use.
pub(super) fn is_assert_macro(mac: &syn::Macro) -> bool {
    mac.path.segments.last().is_some_and(|segment| {
        let name = segment.ident.to_string();
        name.starts_with("assert") || name.starts_with("debug_assert")
    })
}

/// A call that reads the current context, described for the message.
pub(super) fn context_read_call(resolved: &str) -> Option<&'static str> {
    let last_two = {
        let mut parts = resolved.rsplit("::");
        let last = parts.next().unwrap_or_default();
        (parts.next().unwrap_or_default(), last)
    };
    match last_two {
        ("Span", "current") => Some("`Span::current()`"),
        ("Context", "current") => Some("`Context::current()`"),
        ("Context", "map_current") => Some("`Context::map_current(..)`"),
        ("Context", method) if method.starts_with("current_with_") => {
            Some("`Context::current_with_..`")
        }
        (_, "get_active_span") => Some("`get_active_span(..)`"),
        (_, "copy_context") if resolved == "copy_context" || resolved.starts_with("ctxvars") => {
            Some("`copy_context()`")
        }
        _ => None,
    }
}

/// The crate-wide key of a function called by path: `name` for a free function,
/// `Type::name` for an associated one; `None` for another crate's function.
pub(super) fn call_key(
    path: &syn::Path,
    index: &FileIndex,
    impl_type: Option<&str>,
) -> Option<String> {
    let segments: Vec<String> = path
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    let last = segments.last()?.clone();
    if segments.len() >= 2 && segments[0] == "Self" {
        return impl_type.map(|ty| format!("{ty}::{last}"));
    }
    let resolved = index.resolve(path);
    let parts: Vec<&str> = resolved.split("::").collect();
    if is_external(parts[0]) || (parts.len() > 1 && !index.is_local_root(parts[0])) {
        return None;
    }
    match parts.len() {
        0 | 1 => Some(last),
        n => {
            let owner = parts[n - 2];
            if owner.starts_with(|c: char| c.is_ascii_uppercase()) {
                Some(format!("{owner}::{last}"))
            } else {
                Some(last)
            }
        }
    }
}

/// Whether a path's first segment names a crate that is never the linted project.
pub(super) fn is_external(root: &str) -> bool {
    EXTERNAL_CRATES.contains(&root)
}

/// The type paths a type mentions, resolved (`Arc<Mutex<JoinSet<()>>>` → three paths).
pub(super) fn type_words(ty: &syn::Type, index: &FileIndex) -> Vec<String> {
    let mut words = Vec::new();
    collect_type_words(ty, index, &mut words);
    words
}

fn collect_type_words(ty: &syn::Type, index: &FileIndex, words: &mut Vec<String>) {
    match ty {
        syn::Type::Path(path) => {
            words.push(index.resolve(&path.path));
            for segment in &path.path.segments {
                if let syn::PathArguments::AngleBracketed(args) = &segment.arguments {
                    for arg in &args.args {
                        if let syn::GenericArgument::Type(inner) = arg {
                            collect_type_words(inner, index, words);
                        }
                    }
                }
            }
        }
        syn::Type::Reference(reference) => collect_type_words(&reference.elem, index, words),
        syn::Type::Paren(inner) => collect_type_words(&inner.elem, index, words),
        syn::Type::Group(inner) => collect_type_words(&inner.elem, index, words),
        _ => {}
    }
}

/// What a receiver's type says about its `.spawn(..)` methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Spawner {
    JoinSet,
    /// `tokio_util::task::JoinMap` (`spawn(key, future)`).
    JoinMap,
    /// `tokio_util::task::TaskTracker`.
    TaskTracker,
    Runtime,
    LocalSet,
    ThreadBuilder,
    TaskBuilder,
    RayonPool,
    ThreadScope,
    RayonScope,
}

/// The marker type words given to scope-closure parameters.
pub(super) const THREAD_SCOPE: &str = "<thread scope>";
pub(super) const RAYON_SCOPE: &str = "<rayon scope>";

/// Classifies a receiver by the type paths it is known to have.
pub(super) fn spawner(words: &[String]) -> Option<Spawner> {
    words.iter().find_map(|word| {
        let word = word.as_str();
        if word == THREAD_SCOPE {
            Some(Spawner::ThreadScope)
        } else if word == RAYON_SCOPE {
            Some(Spawner::RayonScope)
        } else if word.ends_with("JoinSet") {
            Some(Spawner::JoinSet)
        } else if word.ends_with("JoinMap") {
            Some(Spawner::JoinMap)
        } else if word.ends_with("TaskTracker") {
            Some(Spawner::TaskTracker)
        } else if word.ends_with("runtime::Handle") || word.ends_with("runtime::Runtime") {
            Some(Spawner::Runtime)
        } else if word.ends_with("task::LocalSet") || word == "LocalSet" {
            Some(Spawner::LocalSet)
        } else if word.ends_with("thread::Builder") {
            Some(Spawner::ThreadBuilder)
        } else if word.ends_with("task::Builder") {
            Some(Spawner::TaskBuilder)
        } else if word.starts_with("rayon") && word.ends_with("ThreadPool") {
            Some(Spawner::RayonPool)
        } else if (word.starts_with("crossbeam") && word.ends_with("Scope"))
            || word.ends_with("thread::Scope")
        {
            Some(Spawner::ThreadScope)
        } else if word.starts_with("rayon") && word.ends_with("Scope") {
            Some(Spawner::RayonScope)
        } else {
            None
        }
    })
}

/// The spawn a method of a known spawner makes, and which argument is the work.
pub(super) fn spawner_method(spawner: Spawner, method: &str) -> Option<(SpawnKind, usize)> {
    use Spawner::*;
    match (spawner, method) {
        (JoinSet, "spawn" | "spawn_on" | "spawn_local" | "spawn_local_on") => {
            Some((SpawnKind::Task, 0))
        }
        (JoinSet, "spawn_blocking" | "spawn_blocking_on") => Some((SpawnKind::Blocking, 0)),
        (JoinMap, "spawn" | "spawn_on" | "spawn_local" | "spawn_local_on") => {
            Some((SpawnKind::Task, 1))
        }
        (JoinMap, "spawn_blocking" | "spawn_blocking_on") => Some((SpawnKind::Blocking, 1)),
        (TaskTracker, "spawn" | "spawn_on" | "spawn_local" | "spawn_local_on") => {
            Some((SpawnKind::Task, 0))
        }
        (TaskTracker, "spawn_blocking" | "spawn_blocking_on") => Some((SpawnKind::Blocking, 0)),
        (Runtime, "spawn") | (LocalSet, "spawn_local") => Some((SpawnKind::Task, 0)),
        (Runtime, "spawn_blocking") => Some((SpawnKind::Blocking, 0)),
        (TaskBuilder, "spawn" | "spawn_on" | "spawn_local" | "spawn_local_on") => {
            Some((SpawnKind::Task, 0))
        }
        (TaskBuilder, "spawn_blocking" | "spawn_blocking_on") => Some((SpawnKind::Blocking, 0)),
        (ThreadBuilder, "spawn") => Some((SpawnKind::Thread, 0)),
        (ThreadBuilder, "spawn_scoped") => Some((SpawnKind::Thread, 1)),
        (ThreadScope, "spawn") => Some((SpawnKind::Thread, 0)),
        (RayonPool | RayonScope, "spawn" | "spawn_fifo" | "spawn_broadcast") => {
            Some((SpawnKind::Rayon, 0))
        }
        _ => None,
    }
}

/// How a spawner's `.spawn` is named in messages.
pub(super) fn spawner_name(spawner: Spawner, method: &str) -> String {
    let owner = match spawner {
        Spawner::JoinSet => "JoinSet",
        Spawner::JoinMap => "JoinMap",
        Spawner::TaskTracker => "TaskTracker",
        Spawner::Runtime => "Handle",
        Spawner::LocalSet => "LocalSet",
        Spawner::ThreadBuilder => "thread::Builder",
        Spawner::TaskBuilder => "task::Builder",
        Spawner::RayonPool => "ThreadPool",
        Spawner::ThreadScope => "thread::Scope",
        Spawner::RayonScope => "rayon::Scope",
    };
    format!("{owner}::{method}")
}

/// The type a constructor-like call returns: `JoinSet::new()` → `tokio::task::JoinSet`.
pub(super) fn constructed_type(resolved: &str) -> Option<String> {
    let (owner, _) = resolved.rsplit_once("::")?;
    let ty = owner.rsplit("::").next()?;
    ty.starts_with(|c: char| c.is_ascii_uppercase())
        .then(|| owner.to_string())
}

/// The type a method on a receiver of type `words` returns, for builder and handle chains.
pub(super) fn method_result_type(words: &[String], method: &str) -> Option<Vec<String>> {
    match method {
        "unwrap" | "expect" | "clone" | "as_ref" | "as_mut" | "borrow" | "borrow_mut"
        | "unwrap_or_else" | "lock" | "read" | "write" | "to_owned" => return Some(words.to_vec()),
        _ => {}
    }
    let first = words.first()?;
    if first.ends_with("runtime::Builder") && method == "build" {
        return Some(vec!["tokio::runtime::Runtime".to_string()]);
    }
    if first.ends_with("runtime::Runtime") && method == "handle" {
        return Some(vec!["tokio::runtime::Handle".to_string()]);
    }
    if first.starts_with("rayon") && first.ends_with("ThreadPoolBuilder") && method == "build" {
        return Some(vec!["rayon::ThreadPool".to_string()]);
    }
    if first.ends_with("Builder") && !matches!(method, "build" | "spawn" | "spawn_scoped") {
        // Setters (`name`, `stack_size`, `num_threads`, `enable_all`) return the builder.
        return Some(words.to_vec());
    }
    None
}

/// A token-level look at a macro whose tokens are not Rust syntax (`select!`): the tracing
/// macros and context reads in it, or `None` when it also spawns or enters a context (then
/// nothing is known about which of its parts run where).
pub(super) fn scan_tokens(
    tokens: &TokenStream,
    log_macros: bool,
) -> Option<Vec<(proc_macro2::Span, String)>> {
    let mut found = Vec::new();
    if scan(tokens, log_macros, &mut found) {
        Some(found)
    } else {
        None
    }
}

fn scan(
    tokens: &TokenStream,
    log_macros: bool,
    found: &mut Vec<(proc_macro2::Span, String)>,
) -> bool {
    let tokens: Vec<TokenTree> = tokens.clone().into_iter().collect();
    for (at, token) in tokens.iter().enumerate() {
        match token {
            TokenTree::Group(group) if !scan(&group.stream(), log_macros, found) => {
                return false;
            }
            TokenTree::Group(_) => {}
            TokenTree::Ident(ident) => {
                let name = ident.to_string();
                if name.starts_with("spawn")
                    || matches!(
                        name.as_str(),
                        "enter" | "entered" | "in_scope" | "attach" | "instrument" | "scope"
                    )
                {
                    return false;
                }
                let bang = matches!(tokens.get(at + 1), Some(TokenTree::Punct(punct)) if punct.as_char() == '!');
                let after_path = at >= 2
                    && matches!(&tokens[at - 1], TokenTree::Punct(punct) if punct.as_char() == ':');
                let qualifier = if after_path {
                    match tokens.get(at.wrapping_sub(3)) {
                        Some(TokenTree::Ident(root)) => root.to_string(),
                        _ => String::new(),
                    }
                } else {
                    String::new()
                };
                let tracing_name =
                    EVENT_MACROS.contains(&name.as_str()) || SPAN_MACROS.contains(&name.as_str());
                let by_log = if after_path {
                    !qualifier.starts_with("tracing")
                } else {
                    log_macros
                };
                if bang && tracing_name && !by_log {
                    let explicit = match tokens.get(at + 2) {
                        Some(TokenTree::Group(group)) => has_explicit_parent(&group.stream()),
                        _ => false,
                    };
                    if !explicit {
                        found.push((ident.span(), format!("`{name}!`")));
                    }
                }
            }
            _ => {}
        }
    }
    true
}
