//! One walk over a file that tracks, at every point, whether a context is current and
//! whether the code there runs in spawned work that lost its caller's context.
//!
//! The same walk summarises functions (collect mode: does the body use the context it is
//! called in?) and checks spawns (check mode).

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use syn::spanned::Spanned;
use syn::visit::{self, Visit};

use super::recognise::{self as rec, SpawnKind, TracingMacro};
use crate::rust::context_calls::{guard_call, GuardKind};
use crate::rust::index::is_instrument;
use crate::rust::macros::macro_body;
use crate::rust::test_code::is_cfg_test;
use crate::rust::{byte_range, FileIndex};

/// What kind of context the caller has; it decides the wording and the help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CtxKind {
    /// A tracing span.
    Span,
    /// An opentelemetry `Context`.
    Otel,
    /// `ctxvars` context variables.
    Vars,
}

/// Where the caller's context comes from.
#[derive(Debug, Clone)]
pub(super) struct Origin {
    pub(super) kind: CtxKind,
    pub(super) range: Range<usize>,
    pub(super) label: &'static str,
    /// Whether async blocks written here also run in this context (an `#[instrument]`ed
    /// async fn's span, a future's `.instrument(span)`), or only code that runs right here
    /// (an entered guard: an async block is polled later, anywhere).
    into_async: bool,
}

#[derive(Debug, Clone)]
enum State {
    /// No context is known to be current.
    None,
    /// A context is current.
    Has(Origin),
    /// Inside work whose context is whatever it is started with (spawned work, or a
    /// function being summarised): uses of the context are recorded in this frame.
    Lost(usize),
    /// Inside spawned work that set up its own tracing (a default subscriber, a captured
    /// context run): its uses are not the caller's and it has nothing to lose.
    Covered,
}

/// A use of the current context: where, and how it reads in a message.
#[derive(Debug, Clone)]
pub(super) struct Use {
    pub(super) range: Range<usize>,
    /// "logs with `info!`", "reads `Span::current()`".
    pub(super) what: String,
}

#[derive(Debug, Default)]
struct Frame {
    uses: Vec<Use>,
    /// Calls of functions that may use the context: their key and the call as a use.
    calls: Vec<(String, Use)>,
}

/// What a local binding is known to hold.
#[derive(Debug, Clone, Default)]
struct Binding {
    /// The type paths of its type, when known.
    ty: Vec<String>,
    span_like: bool,
    ctx_like: bool,
    /// For a future or closure: whether it is carried, or the context uses inside it.
    work: Option<Work>,
}

#[derive(Debug, Clone)]
enum Work {
    Carried,
    Uses(Vec<Use>),
}

/// What a spawn's argument is.
enum Body<'e> {
    /// Wrapped in a carrier.
    Carried,
    /// An `async` block or a closure, written in place.
    Literal(&'e syn::Expr),
    /// A call whose result is the work (`handle(conn)`, `worker.run()`).
    Call {
        key: Option<String>,
        name: String,
        expr: &'e syn::Expr,
    },
    /// A variable, or a function passed by name.
    Name(String, &'e syn::Expr),
    Unknown,
}

/// Which functions use the context they are called in (check mode).
#[derive(Debug, Default)]
pub(super) struct FnUses<'a> {
    pub(super) defined: HashSet<String>,
    /// Keys of context-using functions, and `async KEY` for those that are `async fn`s.
    pub(super) using: HashSet<String>,
    pub(super) project: Option<&'a HashSet<String>>,
}

impl FnUses<'_> {
    fn uses(&self, key: &str) -> bool {
        self.lookup(key, key)
    }

    /// Whether an `async fn` whose body uses the context: only then does spawning the
    /// future a call returns move those uses into the task (a plain function returning a
    /// future runs its body, and creates its spans, in the caller).
    fn uses_when_awaited(&self, key: &str) -> bool {
        self.lookup(key, &format!("{ASYNC_PREFIX}{key}"))
    }

    fn lookup(&self, key: &str, fact: &str) -> bool {
        if self.defined.contains(key) {
            self.using.contains(fact)
        } else {
            self.project.is_some_and(|project| project.contains(fact))
        }
    }
}

/// How an `async fn` among the context-using functions is marked in the crate-wide facts.
pub(super) const ASYNC_PREFIX: &str = "async ";

/// What the walk needs to know about the file and the run.
pub(super) struct Config<'a> {
    pub(super) index: &'a FileIndex,
    pub(super) context_vars: HashSet<String>,
    pub(super) extra_spawns: &'a [String],
    pub(super) extra_carriers: &'a [String],
    /// `#[macro_use] extern crate log;`: bare `info!` is log's.
    pub(super) log_macros: bool,
    /// Struct field name → the type paths of its type (for `self.tasks.spawn(..)`).
    pub(super) fields: HashMap<String, Vec<String>>,
    pub(super) fns: Option<&'a FnUses<'a>>,
}

/// One function's summary (collect mode).
#[derive(Debug)]
pub(super) struct FnSummary {
    pub(super) key: String,
    pub(super) is_async: bool,
    /// Uses the context itself (outside any span of its own).
    pub(super) direct: bool,
    /// Keys of functions it calls outside spawned work.
    pub(super) calls: Vec<String>,
}

/// A spawn that loses a context its work uses.
#[derive(Debug)]
pub(super) struct Report {
    pub(super) name: String,
    pub(super) range: Range<usize>,
    pub(super) kind: SpawnKind,
    /// The work is a closure (not a future).
    pub(super) closure: bool,
    pub(super) origin: Origin,
    pub(super) uses: Vec<Use>,
}

struct SpawnSite {
    name: String,
    range: Range<usize>,
    kind: SpawnKind,
    /// The work closure's parameter is itself a scope handle (rayon's `s.spawn(|s| ..)`).
    scope_param: Option<&'static str>,
}

pub(super) struct Walker<'a> {
    cfg: &'a Config<'a>,
    collect: bool,
    state: State,
    frames: Vec<Frame>,
    scopes: Vec<HashMap<String, Binding>>,
    /// Per block: the guards it entered (binding name, or `reset:VAR` for a `VAR.set`),
    /// and the state before each.
    guards: Vec<Vec<(String, State)>>,
    impl_type: Option<String>,
    /// Every name a pattern binds in the enclosing function: such a name is a variable,
    /// never a function passed by name.
    fn_locals: HashSet<String>,
    /// Variables of the enclosing function that are passed to a spawn: the future or
    /// closure bound to one runs elsewhere, so it is not walked in the current context.
    fn_spawned: HashSet<String>,
    in_test: bool,
    in_assert: usize,
    /// Above zero while summarising a `let`-bound future: nothing is reported.
    dry: usize,
    /// The next closure's parameters are scope handles of this kind.
    scope_params: Option<&'static str>,
    pub(super) summaries: Vec<FnSummary>,
    pub(super) reports: Vec<Report>,
}

impl<'a> Walker<'a> {
    pub(super) fn new(cfg: &'a Config<'a>, collect: bool) -> Self {
        Walker {
            cfg,
            collect,
            state: State::None,
            frames: Vec::new(),
            scopes: vec![HashMap::new()],
            guards: vec![Vec::new()],
            impl_type: None,
            fn_locals: HashSet::new(),
            fn_spawned: HashSet::new(),
            in_test: false,
            in_assert: 0,
            dry: 0,
            scope_params: None,
            summaries: Vec::new(),
            reports: Vec::new(),
        }
    }

    // ----- recording ---------------------------------------------------------------

    fn record(&mut self, found: Use) {
        // Tests that spawn under a context check how it propagates, on purpose; assertions
        // read the context as the test's oracle.
        if self.in_assert > 0 || self.in_test {
            return;
        }
        if let State::Lost(frame) = self.state {
            self.frames[frame].uses.push(found);
        }
    }

    fn record_call(&mut self, key: String, found: Use) {
        if self.in_assert > 0 || self.in_test {
            return;
        }
        if let State::Lost(frame) = self.state {
            self.frames[frame].calls.push((key, found));
        }
    }

    /// A finished frame's uses, with its calls of context-using functions added.
    fn resolve(&self, frame: Frame) -> Vec<Use> {
        let mut uses = frame.uses;
        if let Some(fns) = self.cfg.fns {
            uses.extend(
                frame
                    .calls
                    .into_iter()
                    .filter(|(key, _)| fns.uses(key))
                    .map(|(_, found)| found),
            );
        }
        uses
    }

    fn fn_uses(&self, key: &str) -> bool {
        self.cfg.fns.is_some_and(|fns| fns.uses(key))
    }

    fn async_fn_uses(&self, key: &str) -> bool {
        self.cfg.fns.is_some_and(|fns| fns.uses_when_awaited(key))
    }

    // ----- bindings and shapes -------------------------------------------------------

    fn lookup(&self, name: &str) -> Option<&Binding> {
        self.scopes.iter().rev().find_map(|scope| scope.get(name))
    }

    fn is_variable(&self, name: &str) -> bool {
        self.lookup(name).is_some() || self.fn_locals.contains(name)
    }

    fn bind(&mut self, name: String, binding: Binding) {
        if let Some(scope) = self.scopes.last_mut() {
            scope.insert(name, binding);
        }
    }

    fn single_ident(expr: &syn::Expr) -> Option<String> {
        match rec::peel(expr) {
            syn::Expr::Path(path) if path.qself.is_none() && path.path.segments.len() == 1 => {
                Some(path.path.segments[0].ident.to_string())
            }
            _ => None,
        }
    }

    /// The type paths an expression is known to have.
    fn type_of(&self, expr: &syn::Expr) -> Vec<String> {
        match rec::peel(expr) {
            syn::Expr::Path(_) => match Self::single_ident(expr) {
                Some(name) if name == "self" => self.impl_type.iter().cloned().collect(),
                Some(name) => self
                    .lookup(&name)
                    .map(|binding| binding.ty.clone())
                    .unwrap_or_default(),
                None => Vec::new(),
            },
            syn::Expr::Field(field) => match &field.member {
                syn::Member::Named(name) => self
                    .cfg
                    .fields
                    .get(&name.to_string())
                    .cloned()
                    .unwrap_or_default(),
                syn::Member::Unnamed(_) => Vec::new(),
            },
            syn::Expr::Call(call) => {
                let syn::Expr::Path(func) = &*call.func else {
                    return Vec::new();
                };
                let mut resolved = self.cfg.index.resolve(&func.path);
                if let (Some(rest), Some(ty)) = (resolved.strip_prefix("Self::"), &self.impl_type) {
                    resolved = format!("{ty}::{rest}");
                }
                let mut words: Vec<String> = rec::constructed_type(&resolved).into_iter().collect();
                if call.args.len() == 1 && resolved.ends_with("::new") {
                    words.extend(self.type_of(&call.args[0]));
                }
                words
            }
            syn::Expr::MethodCall(call) => {
                let receiver = self.type_of(&call.receiver);
                rec::method_result_type(&receiver, &call.method.to_string()).unwrap_or_default()
            }
            syn::Expr::Try(inner) => self.type_of(&inner.expr),
            syn::Expr::Reference(inner) => self.type_of(&inner.expr),
            _ => Vec::new(),
        }
    }

    /// Whether an expression is (very likely) a tracing span.
    fn is_span_expr(&self, expr: &syn::Expr) -> bool {
        let named_span = |name: &str| name.to_ascii_lowercase().contains("span");
        match rec::peel(expr) {
            syn::Expr::Path(_) => match Self::single_ident(expr) {
                // `self.enter()` in `impl Span` (tracing's own `in_scope`).
                Some(name) if name == "self" => self.impl_type.as_deref() == Some("Span"),
                Some(name) => match self.lookup(&name) {
                    Some(binding) => {
                        binding.span_like
                            || (binding.ty.is_empty() && !binding.ctx_like && named_span(&name))
                    }
                    None => named_span(&name),
                },
                None => false,
            },
            syn::Expr::Field(field) => match &field.member {
                syn::Member::Named(name) => {
                    named_span(&name.to_string())
                        || self
                            .cfg
                            .fields
                            .get(&name.to_string())
                            .is_some_and(|words| words.iter().any(|word| is_span_type(word)))
                }
                syn::Member::Unnamed(_) => false,
            },
            syn::Expr::Macro(mac) => mac.mac.path.segments.last().is_some_and(|segment| {
                let name = segment.ident.to_string();
                name == "span" || name.ends_with("_span")
            }),
            syn::Expr::Call(call) => match &*call.func {
                syn::Expr::Path(func) => {
                    let resolved = self.cfg.index.resolve(&func.path);
                    resolved.starts_with("Span::") || resolved.contains("::Span::")
                }
                _ => false,
            },
            syn::Expr::MethodCall(call) => match call.method.to_string().as_str() {
                "span" => true,
                "clone" | "or_current" | "follows_from" | "record" => {
                    self.is_span_expr(&call.receiver)
                }
                _ => false,
            },
            syn::Expr::Reference(inner) => self.is_span_expr(&inner.expr),
            _ => false,
        }
    }

    /// Whether an expression is (very likely) an opentelemetry or ctxvars `Context`.
    fn is_ctx_expr(&self, expr: &syn::Expr) -> bool {
        let named_ctx = |name: &str| {
            let name = name.to_ascii_lowercase();
            name == "cx"
                || name.contains("ctx")
                || name.contains("context")
                || name.ends_with("_cx")
        };
        match rec::peel(expr) {
            syn::Expr::Path(_) => match Self::single_ident(expr) {
                // `self.enter()` in `impl Span` (tracing's own `in_scope`).
                Some(name) if name == "self" => self.impl_type.as_deref() == Some("Span"),
                Some(name) => match self.lookup(&name) {
                    Some(binding) => {
                        binding.ctx_like
                            || (binding.ty.is_empty() && !binding.span_like && named_ctx(&name))
                    }
                    None => named_ctx(&name),
                },
                None => false,
            },
            syn::Expr::Field(field) => match &field.member {
                syn::Member::Named(name) => named_ctx(&name.to_string()),
                syn::Member::Unnamed(_) => false,
            },
            syn::Expr::Call(call) => match &*call.func {
                syn::Expr::Path(func) => {
                    let resolved = self.cfg.index.resolve(&func.path);
                    resolved.contains("Context::") || resolved.ends_with("copy_context")
                }
                _ => false,
            },
            syn::Expr::MethodCall(call) => {
                let method = call.method.to_string();
                match method.as_str() {
                    "extract" | "extract_with_context" | "context" => true,
                    "clone" => self.is_ctx_expr(&call.receiver),
                    _ if method.starts_with("with_") => self.is_ctx_expr(&call.receiver),
                    _ => false,
                }
            }
            syn::Expr::Reference(inner) => self.is_ctx_expr(&inner.expr),
            _ => false,
        }
    }

    /// A receiver that is a known `ContextVar` static.
    fn known_var(&self, expr: &syn::Expr) -> Option<String> {
        match rec::peel(expr) {
            syn::Expr::Path(path) => {
                let name = path.path.segments.last()?.ident.to_string();
                (self.cfg.context_vars.contains(&name) && self.lookup(&name).is_none())
                    .then_some(name)
            }
            _ => None,
        }
    }

    /// The key of a method called on `receiver` (`self.run()` in `impl Worker` →
    /// `Worker::run`), when the receiver's type is known and local.
    fn method_key(&self, receiver: &syn::Expr, method: &str) -> Option<String> {
        if Self::single_ident(receiver).as_deref() == Some("self") {
            return self.impl_type.as_ref().map(|ty| format!("{ty}::{method}"));
        }
        let words = self.type_of(receiver);
        let first = words.first()?;
        let root = first.split("::").next().unwrap_or_default();
        if rec::is_external(root) || !self.cfg.index.is_local_root(root) {
            return None;
        }
        let ty = first.rsplit("::").next()?;
        ty.starts_with(|c: char| c.is_ascii_uppercase())
            .then(|| format!("{ty}::{method}"))
    }

    fn binding_for(&mut self, init: Option<&syn::Expr>, annotated: Option<&syn::Type>) -> Binding {
        let annotated_words = annotated
            .map(|ty| rec::type_words(ty, self.cfg.index))
            .unwrap_or_default();
        let Some(init) = init else {
            return Binding {
                span_like: annotated_words.iter().any(|word| is_span_type(word)),
                ctx_like: annotated_words.iter().any(|word| is_ctx_type(word)),
                ty: annotated_words,
                work: None,
            };
        };
        let ty = if annotated_words.is_empty() {
            self.type_of(init)
        } else {
            annotated_words
        };
        Binding {
            span_like: ty.iter().any(|word| is_span_type(word)) || self.is_span_expr(init),
            ctx_like: ty.iter().any(|word| is_ctx_type(word)) || self.is_ctx_expr(init),
            ty,
            work: self.work_of(init),
        }
    }

    /// For a future or closure bound to a name: what it would lose if spawned.
    fn work_of(&mut self, init: &syn::Expr) -> Option<Work> {
        // Inside a summary already: nothing is reported there, and summarising again at
        // every level would walk nested closures exponentially often.
        if self.collect || self.dry > 0 {
            return None;
        }
        match self.classify(init) {
            Body::Carried => Some(Work::Carried),
            Body::Literal(work) => {
                self.dry += 1;
                let uses = self.in_lost_frame(work, None);
                self.dry -= 1;
                Some(Work::Uses(uses))
            }
            _ => None,
        }
    }

    /// Walks `work` as code that runs without the caller's context; returns its uses.
    fn in_lost_frame(&mut self, work: &syn::Expr, scope_param: Option<&'static str>) -> Vec<Use> {
        self.frames.push(Frame::default());
        let frame = self.frames.len() - 1;
        let saved = std::mem::replace(&mut self.state, State::Lost(frame));
        if matches!(rec::peel(work), syn::Expr::Closure(_)) {
            self.scope_params = scope_param;
        }
        self.visit_expr(work);
        self.scope_params = None;
        self.state = saved;
        let frame = self.frames.pop().unwrap_or_default();
        self.resolve(frame)
    }

    fn classify<'e>(&self, expr: &'e syn::Expr) -> Body<'e> {
        let expr = rec::peel(expr);
        match expr {
            syn::Expr::Async(_) | syn::Expr::Closure(_) => Body::Literal(expr),
            syn::Expr::MethodCall(call)
                if rec::is_carrier_method(call, self.cfg.extra_carriers) =>
            {
                Body::Carried
            }
            syn::Expr::MethodCall(call)
                if matches!(
                    call.method.to_string().as_str(),
                    "boxed" | "boxed_local" | "fuse" | "into_future"
                ) =>
            {
                self.classify(&call.receiver)
            }
            // Work handed to a subscriber of its own: the caller's spans mean nothing there.
            syn::Expr::MethodCall(call) if call.method == "with_subscriber" => Body::Carried,
            syn::Expr::MethodCall(call) => match self.classify(&call.receiver) {
                // `async { .. }.map(..)`: the block still runs in the spawned task.
                Body::Literal(work) => Body::Literal(work),
                _ => Body::Call {
                    key: self.method_key(&call.receiver, &call.method.to_string()),
                    name: call.method.to_string(),
                    expr,
                },
            },
            syn::Expr::Call(call) => {
                let syn::Expr::Path(func) = &*call.func else {
                    return Body::Unknown;
                };
                let resolved = self.cfg.index.resolve(&func.path);
                if rec::is_carrier_function(&resolved, self.cfg.extra_carriers) {
                    return Body::Carried;
                }
                if call.args.len() == 1
                    && (resolved.ends_with("Box::pin")
                        || resolved.ends_with("Box::new")
                        || resolved.ends_with("pin::pin"))
                {
                    return self.classify(&call.args[0]);
                }
                Body::Call {
                    key: self.call_key(&func.path),
                    name: path_text(&func.path),
                    expr,
                }
            }
            syn::Expr::Path(path) => match Self::single_ident(expr) {
                Some(name) => Body::Name(name, expr),
                // A function passed by path: `thread::spawn(worker::run)`.
                None => Body::Call {
                    key: self.call_key(&path.path),
                    name: path_text(&path.path),
                    expr,
                },
            },
            _ => Body::Unknown,
        }
    }

    /// The crate-wide key of a function called by path, unless it is a local variable.
    fn call_key(&self, path: &syn::Path) -> Option<String> {
        if path.segments.len() == 1 && self.is_variable(&path.segments[0].ident.to_string()) {
            return None;
        }
        rec::call_key(path, self.cfg.index, self.impl_type.as_deref())
    }

    // ----- context changes ------------------------------------------------------------

    /// The guard a `let` initialiser makes, if it makes one (`span.enter()`,
    /// `span.entered()`, `cx.attach()`, `VAR.set_guard(v)`, a default subscriber).
    fn guard_origin(&self, expr: &syn::Expr) -> Option<State> {
        let expr = rec::peel(expr);
        let range = byte_range(expr.span());
        let span_guard = || {
            State::Has(Origin {
                kind: CtxKind::Span,
                range: range.clone(),
                label: "the caller's span is entered here",
                into_async: false,
            })
        };
        if let syn::Expr::MethodCall(call) = expr {
            if call.method == "entered" && call.args.is_empty() && self.is_span_expr(&call.receiver)
            {
                return Some(span_guard());
            }
        }
        match guard_call(expr, self.cfg.index)? {
            GuardKind::SpanEnter => match expr {
                syn::Expr::MethodCall(call) if self.is_span_expr(&call.receiver) => {
                    Some(span_guard())
                }
                _ => None,
            },
            GuardKind::ContextAttach => {
                let plausible = match expr {
                    syn::Expr::MethodCall(call) => self.is_ctx_expr(&call.receiver),
                    _ => true,
                };
                plausible.then(|| {
                    State::Has(Origin {
                        kind: CtxKind::Otel,
                        range: range.clone(),
                        label: "the caller's context is attached here",
                        into_async: false,
                    })
                })
            }
            GuardKind::VarGuard => Some(State::Has(Origin {
                kind: CtxKind::Vars,
                range: range.clone(),
                label: "the caller's context variable is set here",
                into_async: false,
            })),
            GuardKind::DefaultDispatcher => Some(State::Covered),
        }
    }

    /// `VAR.set(v)` on a known context variable.
    fn var_set(&self, expr: &syn::Expr) -> Option<(String, State)> {
        let syn::Expr::MethodCall(call) = rec::peel(expr) else {
            return None;
        };
        if call.method != "set" || call.args.len() != 1 {
            return None;
        }
        let var = self.known_var(&call.receiver)?;
        Some((
            format!("reset:{var}"),
            State::Has(Origin {
                kind: CtxKind::Vars,
                range: byte_range(call.span()),
                label: "the caller's context variable is set here",
                into_async: false,
            }),
        ))
    }

    fn enter(&mut self, name: String, state: State) {
        // A subscriber of its own only matters inside spawned work.
        if matches!(state, State::Covered) && !matches!(self.state, State::Lost(_)) {
            return;
        }
        let previous = std::mem::replace(&mut self.state, state);
        if let Some(guards) = self.guards.last_mut() {
            guards.push((name, previous));
        }
    }

    fn leave(&mut self, name: &str) {
        let Some(guards) = self.guards.last_mut() else {
            return;
        };
        if let Some(at) = guards.iter().rposition(|(guard, _)| guard == name) {
            let (_, previous) = guards.remove(at);
            self.state = previous;
        }
    }

    /// Bindings, guards and resets a statement makes, after it has been walked.
    fn after_stmt(&mut self, stmt: &syn::Stmt) {
        match stmt {
            syn::Stmt::Local(local) => {
                let init = local.init.as_ref().map(|init| &*init.expr);
                let (name, annotated) = pattern_name(&local.pat);
                if let Some(init) = init {
                    if let Some((reset, state)) = self.var_set(init) {
                        self.enter(reset, state);
                    } else if let (Some(name), Some(state)) = (&name, self.guard_origin(init)) {
                        self.enter(name.clone(), state);
                    } else {
                        self.ends_guard(init);
                    }
                }
                if let Some(name) = name {
                    let binding = self.binding_for(init, annotated);
                    self.bind(name, binding);
                }
            }
            syn::Stmt::Expr(expr, _) => {
                if let Some((reset, state)) = self.var_set(expr) {
                    self.enter(reset, state);
                    return;
                }
                self.ends_guard(expr);
            }
            _ => {}
        }
    }

    /// `drop(guard)`, `guard.exit()`, `VAR.reset(token)` (through `.unwrap()` and `?`).
    fn ends_guard(&mut self, expr: &syn::Expr) {
        match unwrapped(expr) {
            syn::Expr::Call(call) if call.args.len() == 1 => {
                if let (syn::Expr::Path(func), Some(arg)) =
                    (&*call.func, Self::single_ident(&call.args[0]))
                {
                    if func.path.is_ident("drop") {
                        self.leave(&arg);
                    }
                }
            }
            syn::Expr::MethodCall(call) => {
                if call.method == "exit" && call.args.is_empty() {
                    if let Some(name) = Self::single_ident(&call.receiver) {
                        self.leave(&name);
                    }
                } else if call.method == "reset" {
                    if let Some(var) = self.known_var(&call.receiver) {
                        self.leave(&format!("reset:{var}"));
                    }
                }
            }
            _ => {}
        }
    }

    fn walk_stmts(&mut self, stmts: &[syn::Stmt]) {
        let saved = self.state.clone();
        self.scopes.push(HashMap::new());
        self.guards.push(Vec::new());
        for stmt in stmts {
            self.visit_stmt(stmt);
            self.after_stmt(stmt);
        }
        self.guards.pop();
        self.scopes.pop();
        self.state = saved;
    }

    /// Walks `expr` with `state` current, then restores the state.
    fn walk_in(&mut self, expr: &syn::Expr, state: State) {
        let saved = std::mem::replace(&mut self.state, state);
        self.walk_work(expr);
        self.state = saved;
    }

    /// Walks work handed to a carrier: an async block here runs in the current context.
    fn walk_work(&mut self, expr: &syn::Expr) {
        match rec::peel(expr) {
            syn::Expr::Async(block) => self.walk_async(block, true),
            other => self.visit_expr(other),
        }
    }

    fn walk_async(&mut self, block: &syn::ExprAsync, inherit: bool) {
        let saved = self.state.clone();
        if let State::Has(origin) = &self.state {
            if !origin.into_async && !inherit {
                self.state = State::None;
            }
        }
        visit::visit_expr_async(self, block);
        self.state = saved;
    }

    // ----- functions --------------------------------------------------------------------

    fn walk_fn(&mut self, attrs: &[syn::Attribute], sig: &syn::Signature, block: &syn::Block) {
        let key = match &self.impl_type {
            Some(ty) => format!("{ty}::{}", sig.ident),
            None => sig.ident.to_string(),
        };
        let saved_state = std::mem::replace(&mut self.state, State::None);
        let mut names = FnNames::default();
        for input in &sig.inputs {
            names.visit_fn_arg(input);
        }
        names.visit_block(block);
        let saved_locals = std::mem::replace(&mut self.fn_locals, names.bound);
        let saved_spawned = std::mem::replace(&mut self.fn_spawned, names.spawned);
        let saved_test = self.in_test;
        self.in_test |= attrs.iter().any(is_test_attr);
        let instrument = attrs.iter().find(|attr| is_instrument(attr));
        let frame = self.collect.then(|| {
            self.frames.push(Frame::default());
            self.frames.len() - 1
        });
        self.state = match (instrument, frame) {
            (Some(attr), _) => State::Has(Origin {
                kind: CtxKind::Span,
                range: byte_range(attr.span()),
                label: "`#[instrument]` enters the caller's span for the whole function body",
                into_async: sig.asyncness.is_some(),
            }),
            (None, Some(frame)) => State::Lost(frame),
            (None, None) => State::None,
        };
        let mut params = HashMap::new();
        for input in &sig.inputs {
            if let syn::FnArg::Typed(typed) = input {
                if let (Some(name), _) = pattern_name(&typed.pat) {
                    let words = rec::type_words(&typed.ty, self.cfg.index);
                    params.insert(
                        name,
                        Binding {
                            span_like: words.iter().any(|word| is_span_type(word)),
                            ctx_like: words.iter().any(|word| is_ctx_type(word)),
                            ty: words,
                            work: None,
                        },
                    );
                }
            }
        }
        self.scopes.push(params);
        self.visit_block(block);
        self.scopes.pop();
        if frame.is_some() {
            let frame = self.frames.pop().unwrap_or_default();
            // An `#[instrument]`ed function makes a span of its own (with no parent, in
            // spawned work): its logs keep a context, so calling it is not a use.
            self.summaries.push(FnSummary {
                key,
                is_async: sig.asyncness.is_some(),
                direct: !frame.uses.is_empty(),
                calls: frame.calls.into_iter().map(|(key, _)| key).collect(),
            });
        }
        self.state = saved_state;
        self.fn_locals = saved_locals;
        self.fn_spawned = saved_spawned;
        self.in_test = saved_test;
    }

    // ----- spawns -------------------------------------------------------------------------

    fn on_spawn(&mut self, site: SpawnSite, args: &[&syn::Expr], body_index: usize) {
        let caller = self.state.clone();
        for (at, arg) in args.iter().enumerate() {
            if at != body_index {
                self.visit_expr(arg);
            }
        }
        let Some(body) = args.get(body_index) else {
            return;
        };
        let closure = matches!(rec::peel(body), syn::Expr::Closure(_));
        let uses = self.spawned_uses(body, site.scope_param);
        if self.collect || self.dry > 0 {
            return;
        }
        if let (State::Has(origin), Some(uses)) = (caller, uses) {
            if !uses.is_empty() {
                self.reports.push(Report {
                    name: site.name,
                    range: site.range,
                    kind: site.kind,
                    closure,
                    origin,
                    uses,
                });
            }
        }
    }

    /// Walks a spawn's work and returns the context uses it would lose (`None`: carried,
    /// or not known).
    fn spawned_uses(
        &mut self,
        body: &syn::Expr,
        scope_param: Option<&'static str>,
    ) -> Option<Vec<Use>> {
        match self.classify(body) {
            Body::Carried | Body::Unknown => {
                self.visit_expr(body);
                None
            }
            Body::Literal(work) => Some(self.in_lost_frame(work, scope_param)),
            Body::Call { key, name, expr } => {
                // The arguments are evaluated here, in the caller; the call's body runs there.
                match expr {
                    syn::Expr::Call(call) => {
                        for arg in &call.args {
                            self.visit_expr(arg);
                        }
                    }
                    syn::Expr::MethodCall(call) => {
                        self.visit_expr(&call.receiver);
                        for arg in &call.args {
                            self.visit_expr(arg);
                        }
                    }
                    _ => {}
                }
                // A function passed by path runs whole in the spawned work; a called one
                // only hands over the future it returns.
                let passed = matches!(expr, syn::Expr::Path(_));
                let uses = key
                    .filter(|key| {
                        if passed {
                            self.fn_uses(key)
                        } else {
                            self.async_fn_uses(key)
                        }
                    })
                    .map(|_| Use {
                        range: byte_range(expr.span()),
                        what: format!("runs `{name}`, which uses the current context"),
                    });
                Some(uses.into_iter().collect())
            }
            Body::Name(name, expr) => match self.lookup(&name) {
                Some(binding) => match &binding.work {
                    Some(Work::Uses(uses)) => Some(uses.clone()),
                    _ => None,
                },
                None if self.fn_locals.contains(&name) => None,
                None => {
                    let used = self.fn_uses(&name);
                    Some(
                        used.then(|| Use {
                            range: byte_range(expr.span()),
                            what: format!("runs `{name}`, which uses the current context"),
                        })
                        .into_iter()
                        .collect(),
                    )
                }
            },
        }
    }

    fn spawn_method(&mut self, call: &syn::ExprMethodCall) -> bool {
        let method = call.method.to_string();
        let args: Vec<&syn::Expr> = call.args.iter().collect();
        let range = byte_range(call.method.span());
        if method.starts_with("spawn") {
            let words = self.type_of(&call.receiver);
            if let Some(spawner) = rec::spawner(&words) {
                if let Some((kind, body)) = rec::spawner_method(spawner, &method) {
                    self.visit_expr(&call.receiver);
                    let scope_param =
                        (spawner == rec::Spawner::RayonScope).then_some(rec::RAYON_SCOPE);
                    let site = SpawnSite {
                        name: rec::spawner_name(spawner, &method),
                        range,
                        kind,
                        scope_param,
                    };
                    self.on_spawn(site, &args, body);
                    return true;
                }
            }
        }
        let configured = self.cfg.extra_spawns.iter().find_map(|entry| {
            let (ty, name) = rec::configured_method(entry)?;
            (name == method).then_some(ty)
        });
        if let Some(ty) = configured {
            let words = self.type_of(&call.receiver);
            if words
                .iter()
                .any(|word| word.rsplit("::").next() == Some(ty))
            {
                self.visit_expr(&call.receiver);
                let site = SpawnSite {
                    name: format!("{ty}::{method}"),
                    range,
                    kind: SpawnKind::Configured,
                    scope_param: None,
                };
                self.on_spawn(site, &args, 0);
                return true;
            }
        }
        false
    }
}

impl<'ast> Visit<'ast> for Walker<'_> {
    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        let saved = self.impl_type.take();
        self.walk_fn(&item.attrs, &item.sig, &item.block);
        self.impl_type = saved;
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        self.walk_fn(&item.attrs, &item.sig, &item.block);
    }

    fn visit_trait_item_fn(&mut self, item: &'ast syn::TraitItemFn) {
        if let Some(block) = &item.default {
            self.walk_fn(&item.attrs, &item.sig, block);
        }
    }

    fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
        let ty = match &*item.self_ty {
            syn::Type::Path(path) => path.path.segments.last().map(|s| s.ident.to_string()),
            _ => None,
        };
        let saved = std::mem::replace(&mut self.impl_type, ty);
        let saved_test = self.in_test;
        self.in_test |= item.attrs.iter().any(is_cfg_test);
        visit::visit_item_impl(self, item);
        self.impl_type = saved;
        self.in_test = saved_test;
    }

    fn visit_item_trait(&mut self, item: &'ast syn::ItemTrait) {
        let saved = self.impl_type.replace(item.ident.to_string());
        visit::visit_item_trait(self, item);
        self.impl_type = saved;
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        let saved = self.in_test;
        self.in_test |= item.attrs.iter().any(is_cfg_test);
        visit::visit_item_mod(self, item);
        self.in_test = saved;
    }

    fn visit_local(&mut self, local: &'ast syn::Local) {
        let spawned_work = match (pattern_name(&local.pat).0, &local.init) {
            (Some(name), Some(init)) => {
                self.fn_spawned.contains(&name)
                    && matches!(self.classify(&init.expr), Body::Literal(_))
            }
            _ => false,
        };
        if spawned_work {
            let saved = std::mem::replace(&mut self.state, State::None);
            visit::visit_local(self, local);
            self.state = saved;
        } else {
            visit::visit_local(self, local);
        }
    }

    fn visit_block(&mut self, block: &'ast syn::Block) {
        self.walk_stmts(&block.stmts);
    }

    fn visit_expr_async(&mut self, block: &'ast syn::ExprAsync) {
        self.walk_async(block, false);
    }

    fn visit_expr_closure(&mut self, closure: &'ast syn::ExprClosure) {
        let marker = self.scope_params.take();
        let mut params = HashMap::new();
        for input in &closure.inputs {
            if let (Some(name), annotated) = pattern_name(input) {
                let ty = match marker {
                    Some(marker) => vec![marker.to_string()],
                    None => annotated
                        .map(|ty| rec::type_words(ty, self.cfg.index))
                        .unwrap_or_default(),
                };
                let binding = Binding {
                    span_like: ty.iter().any(|word| is_span_type(word)),
                    ctx_like: ty.iter().any(|word| is_ctx_type(word)),
                    ty,
                    work: None,
                };
                params.insert(name, binding);
            }
        }
        self.scopes.push(params);
        visit::visit_expr_closure(self, closure);
        self.scopes.pop();
    }

    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        let syn::Expr::Path(func) = &*call.func else {
            return visit::visit_expr_call(self, call);
        };
        let resolved = self.cfg.index.resolve(&func.path);
        let args: Vec<&syn::Expr> = call.args.iter().collect();
        if let Some(kind) = rec::spawn_function(&resolved, self.cfg.extra_spawns) {
            let site = SpawnSite {
                name: path_text(&func.path),
                range: byte_range(func.span()),
                kind,
                scope_param: None,
            };
            let body = usize::from(resolved.ends_with("spawn_scoped"));
            return self.on_spawn(site, &args, body);
        }
        if let Some(kind) = rec::scope_function(&resolved) {
            let marker = match kind {
                SpawnKind::Rayon => rec::RAYON_SCOPE,
                _ => rec::THREAD_SCOPE,
            };
            for arg in args {
                if matches!(rec::peel(arg), syn::Expr::Closure(_)) {
                    self.scope_params = Some(marker);
                }
                self.visit_expr(arg);
                self.scope_params = None;
            }
            return;
        }
        // Spawned work that installs a subscriber of its own logs on purpose.
        if resolved.ends_with("with_default") && matches!(self.state, State::Lost(_)) {
            for arg in args {
                self.walk_in(arg, State::Covered);
            }
            return;
        }
        if let Some(what) = rec::context_read_call(&resolved) {
            self.record(Use {
                range: byte_range(func.span()),
                what: format!("reads {what}"),
            });
        } else if let Some(single) = Self::single_ident(&call.func) {
            // A closure bound here and called in spawned work.
            if let Some(Binding {
                work: Some(Work::Uses(uses)),
                ..
            }) = self.lookup(&single)
            {
                for found in uses.clone() {
                    self.record(found);
                }
            } else if let Some(key) = self.call_key(&func.path) {
                self.record_call(key, call_use(&func.path, func.span()));
            }
        } else if let Some(key) = self.call_key(&func.path) {
            self.record_call(key, call_use(&func.path, func.span()));
        }
        visit::visit_expr_call(self, call);
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        let method = call.method.to_string();
        if rec::is_carrier_method(call, self.cfg.extra_carriers) {
            for arg in &call.args {
                self.visit_expr(arg);
            }
            if rec::carries_current(&method) {
                self.walk_work(&call.receiver);
            } else {
                let kind = if method == "with_context" {
                    CtxKind::Otel
                } else {
                    CtxKind::Span
                };
                let origin = Origin {
                    kind,
                    range: byte_range(call.method.span()),
                    label: "the future runs in this context",
                    into_async: true,
                };
                self.walk_in(&call.receiver, State::Has(origin));
            }
            return;
        }
        match method.as_str() {
            "with_subscriber" if call.args.len() == 1 => {
                self.visit_expr(&call.args[0]);
                self.walk_in(&call.receiver, State::Covered);
                return;
            }
            "in_scope" if call.args.len() == 1 && self.is_span_expr(&call.receiver) => {
                self.visit_expr(&call.receiver);
                let origin = Origin {
                    kind: CtxKind::Span,
                    range: byte_range(call.method.span()),
                    label: "`in_scope` enters the caller's span here",
                    into_async: false,
                };
                self.walk_in(&call.args[0], State::Has(origin));
                return;
            }
            "scope" if call.args.len() == 2 && self.known_var(&call.receiver).is_some() => {
                self.visit_expr(&call.args[0]);
                let origin = Origin {
                    kind: CtxKind::Vars,
                    range: byte_range(call.method.span()),
                    label: "the caller's context variable is set here",
                    into_async: false,
                };
                self.walk_in(&call.args[1], State::Has(origin));
                return;
            }
            "run"
                if call.args.len() == 1
                    && matches!(rec::peel(&call.args[0]), syn::Expr::Closure(_))
                    && matches!(self.state, State::Lost(_))
                    && self.is_ctx_expr(&call.receiver) =>
            {
                self.visit_expr(&call.receiver);
                self.walk_in(&call.args[0], State::Covered);
                return;
            }
            "in_span" if call.args.len() == 2 && receiver_mentions(&call.receiver, "tracer") => {
                self.record(Use {
                    range: byte_range(call.method.span()),
                    what: "starts an opentelemetry span with `in_span(..)`".to_string(),
                });
                self.visit_expr(&call.receiver);
                self.visit_expr(&call.args[0]);
                let origin = Origin {
                    kind: CtxKind::Otel,
                    range: byte_range(call.method.span()),
                    label: "`in_span` makes the caller's span current here",
                    into_async: false,
                };
                self.walk_in(&call.args[1], State::Has(origin));
                return;
            }
            _ => {}
        }
        if self.spawn_method(call) {
            return;
        }
        if matches!(self.state, State::Lost(_)) {
            let reads_var = (method == "get" && call.args.is_empty())
                || (method == "with" && call.args.len() == 1);
            if reads_var {
                if let Some(var) = self.known_var(&call.receiver) {
                    self.record(Use {
                        range: byte_range(call.span()),
                        what: format!("reads `{var}`"),
                    });
                }
            }
            if method == "start"
                && call.args.len() == 1
                && receiver_mentions(&call.receiver, "tracer")
            {
                self.record(Use {
                    range: byte_range(call.method.span()),
                    what: "starts an opentelemetry span with `start(..)`".to_string(),
                });
            }
            if let Some(key) = self.method_key(&call.receiver, &method) {
                let found = Use {
                    range: byte_range(call.method.span()),
                    what: format!("calls `{method}`, which uses the current context"),
                };
                self.record_call(key, found);
            }
        }
        visit::visit_expr_method_call(self, call);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        let Some(last) = mac.path.segments.last() else {
            return;
        };
        let name = last.ident.to_string();
        if let Some(kind) = rec::tracing_macro(mac, self.cfg.index, self.cfg.log_macros) {
            let what = match kind {
                TracingMacro::Event => format!("logs with `{name}!`"),
                TracingMacro::Span => format!("creates a span with `{name}!`"),
            };
            self.record(Use {
                range: byte_range(mac.path.span()),
                what,
            });
            return;
        }
        if name == "macro_rules" {
            return;
        }
        let assert = rec::is_assert_macro(mac);
        self.in_assert += usize::from(assert);
        match macro_body(mac) {
            Some(stmts) => self.walk_stmts(&stmts),
            None if matches!(self.state, State::Lost(_)) => {
                for (span, found) in
                    rec::scan_tokens(&mac.tokens, self.cfg.log_macros).unwrap_or_default()
                {
                    let event = !found.contains("span");
                    self.record(Use {
                        range: byte_range(span),
                        what: if event {
                            format!("logs with {found}")
                        } else {
                            format!("creates a span with {found}")
                        },
                    });
                }
            }
            None => {}
        }
        self.in_assert -= usize::from(assert);
    }
}

/// Names in a function body (not inside nested items): every identifier a pattern binds,
/// and the variables passed to a `spawn*` call or method.
#[derive(Default)]
struct FnNames {
    bound: HashSet<String>,
    spawned: HashSet<String>,
}

impl FnNames {
    fn spawned_args<'e>(&mut self, args: impl IntoIterator<Item = &'e syn::Expr>) {
        for arg in args {
            if let Some(name) = Walker::single_ident(arg) {
                self.spawned.insert(name);
            }
        }
    }
}

impl<'ast> Visit<'ast> for FnNames {
    fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
        self.bound.insert(pat.ident.to_string());
        visit::visit_pat_ident(self, pat);
    }

    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        if let syn::Expr::Path(func) = &*call.func {
            if func
                .path
                .segments
                .last()
                .is_some_and(|segment| segment.ident.to_string().starts_with("spawn"))
            {
                self.spawned_args(&call.args);
            }
        }
        visit::visit_expr_call(self, call);
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        if call.method.to_string().starts_with("spawn") {
            self.spawned_args(&call.args);
        }
        visit::visit_expr_method_call(self, call);
    }

    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

/// The expression under `.unwrap()`, `.expect(..)`, `.ok()` and `?`.
fn unwrapped(expr: &syn::Expr) -> &syn::Expr {
    match rec::peel(expr) {
        syn::Expr::MethodCall(call)
            if matches!(call.method.to_string().as_str(), "unwrap" | "expect" | "ok") =>
        {
            unwrapped(&call.receiver)
        }
        syn::Expr::Try(inner) => unwrapped(&inner.expr),
        other => other,
    }
}

fn call_use(path: &syn::Path, span: proc_macro2::Span) -> Use {
    Use {
        range: byte_range(span),
        what: format!(
            "calls `{}`, which uses the current context",
            path_text(path)
        ),
    }
}

/// A path as written, without spaces (`tokio::spawn`).
fn path_text(path: &syn::Path) -> String {
    quote::ToTokens::to_token_stream(path)
        .to_string()
        .replace(' ', "")
}

/// Whether a receiver's text names `word` (`tracer`, `self.tracer`, `global::tracer("x")`).
fn receiver_mentions(expr: &syn::Expr, word: &str) -> bool {
    quote::ToTokens::to_token_stream(expr)
        .to_string()
        .to_ascii_lowercase()
        .contains(word)
}

/// The name a `let`/parameter pattern binds, and its type annotation.
fn pattern_name(pat: &syn::Pat) -> (Option<String>, Option<&syn::Type>) {
    match pat {
        syn::Pat::Ident(ident) => (Some(ident.ident.to_string()), None),
        syn::Pat::Type(typed) => (pattern_name(&typed.pat).0, Some(&typed.ty)),
        _ => (None, None),
    }
}

fn is_span_type(word: &str) -> bool {
    let last = word.rsplit("::").next().unwrap_or(word);
    matches!(last, "Span" | "EnteredSpan")
}

fn is_ctx_type(word: &str) -> bool {
    word.rsplit("::").next() == Some("Context")
}

/// `#[test]`, `#[tokio::test]`, `#[rstest]`, `#[test_case(..)]`.
fn is_test_attr(attr: &syn::Attribute) -> bool {
    attr.path().segments.last().is_some_and(|segment| {
        matches!(
            segment.ident.to_string().as_str(),
            "test" | "rstest" | "test_case" | "bench"
        )
    })
}
