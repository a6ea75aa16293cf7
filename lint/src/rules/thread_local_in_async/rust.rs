//! The Rust checker.
//!
//! Every async body (an `async fn`, an `async` block, an async closure) is walked once in
//! evaluation order with a small dataflow state: which writes of each thread-local are still
//! *pending* (their value is what the thread-local holds now), and which thread-locals this
//! body has written since its last `.await` (*fresh*, so reading them sees its own value).
//! Branches join; a loop body is walked a second time when its first pass changed what
//! reaches its top, so a write at the end of a loop body reaches the `.await` at its top. A pending write that reaches an `.await` is finding (a); a pending write that
//! reaches an `.await` or the end of the body makes the thread-local *async-written*, the
//! crate-wide fact that turns a read in async code into finding (b).
//!
//! What is a write, precisely (`p` is the closure's parameter in `KEY.with(|p| ..)`):
//! - a *task* write stores a value from the task: `KEY.set(v)`, `KEY.replace(v)`,
//!   `p.set(v)`, `p.replace(v)`, `*p.borrow_mut() = v`, `p.borrow_mut().field = v`,
//!   `mem::replace(&mut *guard, v)`, and `p.borrow_mut().push(v)` when that is all the
//!   closure does (a stack of task ids; a scratch buffer does more in its closure);
//! - a *reset* writes a value that belongs to no task: an empty value (`None`, `false`, `0`,
//!   `T::new()`, `Default::default()`), `take()`, `pop()`, `clear()`, or a value computed from
//!   the thread-local itself (a restore of a saved old value, a counter or RNG update).
//!
//! A reset ends the pending write before it (write-then-restore with no `.await` between is
//! fine); it is never reported itself. Bodies of `#[tokio::main]`/`#[tokio::test]` functions
//! and async blocks handed straight to `block_on` are not task code: they stay on the thread
//! that blocks on them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Range;

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::visit::{self, Visit};

use crate::diagnostic::Diagnostic;
use crate::registry::Rule;
use crate::rust::macros::macro_body;
use crate::rust::{byte_range, FileIndex, RustContext};

/// Adds this rule's crate-wide facts about one file to its index.
pub(crate) fn collect_facts(ast: &syn::File, index: &mut FileIndex) {
    let declared: HashSet<String> = index
        .thread_locals
        .iter()
        .map(|key| key.name.clone())
        .collect();
    let other_kinds = other_locals(ast, index);
    // Thread-locals declared in other files are not known yet: any SCREAMING_CASE static
    // may be one (`check` only uses the names that are).
    let is_key = |name: &str| {
        declared.contains(name) || (is_screaming_case(name) && !other_kinds.contains(name))
    };
    let outcome = analyze(ast, index, &is_key);
    index
        .async_written_thread_locals
        .extend(outcome.async_written);
}

/// Checks one file.
pub(crate) fn check(context: &mut RustContext<'_>) {
    let declared: HashSet<&str> = context
        .index
        .thread_locals
        .iter()
        .map(|key| key.name.as_str())
        .collect();
    let other_kinds = other_locals(context.ast, context.index);
    let project = context.project;
    let is_key = |name: &str| {
        declared.contains(name)
            || (project.thread_locals.contains(name) && !other_kinds.contains(name))
    };
    let outcome = analyze(context.ast, context.index, &is_key);
    let text = context.source.text();

    let mut reported = HashSet::new();
    for write in &outcome.writes {
        reported.insert(write.range.start);
        let message = format!(
            "thread-local `{}` is written in async code before an `.await`, so other tasks on \
             this thread see the value and this task may resume on a thread without it",
            write.key
        );
        let diagnostic = Diagnostic::new(
            Rule::ThreadLocalInAsync,
            narrow(text, write.range.clone(), write.head.clone()),
            message,
        )
        .with_help(
            "keep task state in a `ctxvars::ContextVar` and run the future with `WithContext` \
             (or use a `tokio::task_local!`), or set and restore the thread-local within one \
             synchronous call",
        )
        .with_label(
            write.await_range.clone(),
            "the task may resume on another thread here",
        );
        context.report(diagnostic);
    }

    for read in &outcome.reads {
        if !project.async_written_thread_locals.contains(&read.key)
            || !reported.insert(read.range.start)
        {
            continue;
        }
        let message = format!(
            "thread-local `{}` is read in async code but async code also writes it, so this \
             task may read a value another task left on this thread",
            read.key
        );
        let mut diagnostic = Diagnostic::new(
            Rule::ThreadLocalInAsync,
            narrow(text, read.range.clone(), read.head.clone()),
            message,
        )
        .with_help(
            "keep task state in a `ctxvars::ContextVar` propagated with `WithContext`, or in a \
             `tokio::task_local!`, so each task reads its own value",
        );
        if let Some(written) = outcome.first_async_write.get(&read.key) {
            diagnostic = diagnostic.with_label(written.clone(), "written in async code here");
        }
        context.report(diagnostic);
    }
}

/// Names this file declares as something other than a thread-local (a `task_local!`, a
/// `ContextVar`, a plain `static ONCE: OnceCell<..>` or `const`): a same-named thread-local
/// elsewhere in the run is not the one used here.
fn other_locals(ast: &syn::File, index: &FileIndex) -> HashSet<String> {
    let declared: HashSet<&str> = index
        .thread_locals
        .iter()
        .map(|key| key.name.as_str())
        .collect();
    let mut items = PlainStatics::default();
    items.visit_file(ast);
    index
        .task_locals
        .iter()
        .map(|key| key.name.clone())
        .chain(index.context_vars.iter().cloned())
        .chain(items.names)
        .filter(|name| !declared.contains(name.as_str()))
        .collect()
}

/// The `static` and `const` items of a file (those inside `thread_local!` are macro tokens,
/// not items, so they are not among them).
#[derive(Default)]
struct PlainStatics {
    names: Vec<String>,
}

impl<'ast> Visit<'ast> for PlainStatics {
    fn visit_item_static(&mut self, item: &'ast syn::ItemStatic) {
        self.names.push(item.ident.to_string());
        visit::visit_item_static(self, item);
    }

    fn visit_item_const(&mut self, item: &'ast syn::ItemConst) {
        self.names.push(item.ident.to_string());
        visit::visit_item_const(self, item);
    }
}

fn is_screaming_case(name: &str) -> bool {
    name.chars().any(|c| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The whole access when it fits on one line, else just `KEY.method`.
fn narrow(text: &str, range: Range<usize>, head: Range<usize>) -> Range<usize> {
    match text.get(range.clone()) {
        Some(snippet) if !snippet.contains('\n') => range,
        _ => head,
    }
}

/// What one file's async code does with thread-locals.
#[derive(Debug, Default)]
struct Outcome {
    /// Finding (a): a task write that reaches an `.await`.
    writes: Vec<WriteFinding>,
    /// Candidates for finding (b): reads in task code not preceded by the task's own write.
    reads: Vec<ReadCandidate>,
    /// Thread-locals whose task write reaches an `.await` or the end of an async body.
    async_written: BTreeSet<String>,
    /// The first such write per thread-local in this file (a label for finding (b)).
    first_async_write: BTreeMap<String, Range<usize>>,
}

#[derive(Debug)]
struct WriteFinding {
    key: String,
    range: Range<usize>,
    head: Range<usize>,
    await_range: Range<usize>,
}

#[derive(Debug)]
struct ReadCandidate {
    key: String,
    range: Range<usize>,
    head: Range<usize>,
}

fn analyze(ast: &syn::File, index: &FileIndex, is_key: &dyn Fn(&str) -> bool) -> Outcome {
    let mut finder = Finder {
        index,
        is_key,
        blocked_on: HashSet::new(),
        outcome: Outcome::default(),
    };
    finder.visit_file(ast);
    let mut outcome = finder.outcome;
    outcome.writes.sort_by_key(|write| write.range.start);
    outcome.reads.sort_by_key(|read| read.range.start);
    outcome
}

/// Finds the async bodies of a file (also inside macro calls) and analyses each.
struct Finder<'a> {
    index: &'a FileIndex,
    is_key: &'a dyn Fn(&str) -> bool,
    /// Start offsets of `async` blocks passed straight to `block_on`.
    blocked_on: HashSet<usize>,
    outcome: Outcome,
}

enum BodyRef<'b> {
    Block(&'b syn::Block),
    Expr(&'b syn::Expr),
}

impl Finder<'_> {
    fn body(&mut self, body: BodyRef<'_>, task_code: bool) {
        if !task_code {
            return;
        }
        let mut saves = SaveLocals {
            flow: &*self,
            locals: HashMap::new(),
            sites: HashMap::new(),
        };
        match body {
            BodyRef::Block(block) => saves.visit_block(block),
            BodyRef::Expr(expr) => saves.visit_expr(expr),
        }
        let (locals, sites) = (saves.locals, saves.sites);
        let mut flow = Flow {
            index: self.index,
            is_key: self.is_key,
            saves: locals,
            restore_used: HashSet::new(),
            writes: BTreeMap::new(),
            reads: BTreeMap::new(),
            loops: Vec::new(),
            returns: State::unreachable(),
            discarded: None,
        };
        let mut state = State::start();
        match body {
            BodyRef::Block(block) => flow.block(block, &mut state),
            BodyRef::Expr(expr) => flow.expr(expr, &mut state),
        }
        let exit = state.join(&flow.returns);
        let escaping: BTreeSet<usize> = exit.pending.values().flatten().copied().collect();

        for (id, write) in &flow.writes {
            // A write that only escapes, after the body read the same thread-local, fills a
            // per-thread cache (`if let Some(t) = TOKEN.. { return t } .. TOKEN.set(..)`).
            let cache_fill = flow
                .reads
                .values()
                .any(|read| read.key == write.key && read.range.start < write.range.start);
            let escapes = escaping.contains(id) && !cache_fill;
            if write.first_await.is_none() && !escapes {
                continue;
            }
            self.outcome.async_written.insert(write.key.clone());
            let first = self
                .outcome
                .first_async_write
                .entry(write.key.clone())
                .or_insert_with(|| write.range.clone());
            if write.range.start < first.start {
                *first = write.range.clone();
            }
            if let Some(await_range) = &write.first_await {
                self.outcome.writes.push(WriteFinding {
                    key: write.key.clone(),
                    range: write.range.clone(),
                    head: write.head.clone(),
                    await_range: await_range.clone(),
                });
            }
        }
        for (id, read) in &flow.reads {
            let restores = sites
                .get(id)
                .is_some_and(|local| flow.restore_used.contains(local));
            if read.fresh || restores {
                continue;
            }
            self.outcome.reads.push(ReadCandidate {
                key: read.key.clone(),
                range: read.range.clone(),
                head: read.head.clone(),
            });
        }
    }

    /// The thread-local a receiver names, through `use` aliases.
    fn key_of(&self, receiver: &syn::Expr) -> Option<String> {
        key_of(self.index, self.is_key, receiver)
    }
}

fn key_of(
    index: &FileIndex,
    is_key: &dyn Fn(&str) -> bool,
    receiver: &syn::Expr,
) -> Option<String> {
    let syn::Expr::Path(path) = receiver else {
        return None;
    };
    if path.qself.is_some() {
        return None;
    }
    let full = index.resolve(&path.path);
    let name = full.rsplit("::").next()?;
    is_key(name).then(|| name.to_string())
}

impl<'ast> Visit<'ast> for Finder<'_> {
    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        if item.sig.asyncness.is_some() {
            self.body(BodyRef::Block(&item.block), !is_entry_point(&item.attrs));
        }
        visit::visit_item_fn(self, item);
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        if item.sig.asyncness.is_some() {
            self.body(BodyRef::Block(&item.block), !is_entry_point(&item.attrs));
        }
        visit::visit_impl_item_fn(self, item);
    }

    fn visit_trait_item_fn(&mut self, item: &'ast syn::TraitItemFn) {
        if let (Some(_), Some(block)) = (&item.sig.asyncness, &item.default) {
            self.body(BodyRef::Block(block), !is_entry_point(&item.attrs));
        }
        visit::visit_trait_item_fn(self, item);
    }

    fn visit_expr_async(&mut self, block: &'ast syn::ExprAsync) {
        let task_code = !self.blocked_on.contains(&byte_range(block.span()).start);
        self.body(BodyRef::Block(&block.block), task_code);
        visit::visit_expr_async(self, block);
    }

    fn visit_expr_closure(&mut self, closure: &'ast syn::ExprClosure) {
        if closure.asyncness.is_some() {
            self.body(BodyRef::Expr(&closure.body), true);
        }
        visit::visit_expr_closure(self, closure);
    }

    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        if callee_name(&call.func).as_deref() == Some("block_on") {
            self.note_blocked_on(call.args.iter());
        }
        visit::visit_expr_call(self, call);
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        if call.method == "block_on" {
            self.note_blocked_on(call.args.iter());
        }
        visit::visit_expr_method_call(self, call);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        if is_opaque_macro(mac) {
            return;
        }
        if let Some(stmts) = macro_body(mac) {
            for stmt in stmts.iter() {
                self.visit_stmt(stmt);
            }
        }
    }
}

impl Finder<'_> {
    fn note_blocked_on<'e>(&mut self, args: impl Iterator<Item = &'e syn::Expr>) {
        for arg in args {
            if let syn::Expr::Async(block) = arg {
                self.blocked_on.insert(byte_range(block.span()).start);
            }
        }
    }
}

/// `#[tokio::main]`, `#[tokio::test]`, `#[actix_web::main]`, `#[test_log::test]`: the body
/// runs inside `block_on` on the thread that starts it, never on a worker.
fn is_entry_point(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path()
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "main" || segment.ident == "test")
    })
}

/// Macros whose tokens are declarations, not code to look into.
fn is_opaque_macro(mac: &syn::Macro) -> bool {
    mac.path.segments.last().is_some_and(|segment| {
        matches!(
            segment.ident.to_string().as_str(),
            "thread_local" | "task_local" | "macro_rules" | "scoped_thread_local"
        )
    })
}

/// The last path segment of a called function (`tokio::task::spawn_blocking` → `spawn_blocking`).
fn callee_name(func: &syn::Expr) -> Option<String> {
    match func {
        syn::Expr::Path(path) => path
            .path
            .segments
            .last()
            .map(|segment| segment.ident.to_string()),
        _ => None,
    }
}

/// Closures given to these run on another thread or outside the task (`spawn_blocking`,
/// `thread::spawn`, `on_thread_start`): not async code.
fn runs_elsewhere(name: &str) -> bool {
    name.contains("spawn") || name.starts_with("on_thread")
}

/// Locals bound to what a thread-local held (`let old = KEY.replace(v)`): writing one back
/// is a restore, and the read that saved it is not a use of task state.
struct SaveLocals<'f, 'a> {
    flow: &'f Finder<'a>,
    /// Local name → the thread-local it came from.
    locals: HashMap<String, String>,
    /// Access start offset → the local it was saved in.
    sites: HashMap<usize, String>,
}

impl<'ast> Visit<'ast> for SaveLocals<'_, '_> {
    fn visit_local(&mut self, local: &'ast syn::Local) {
        if let (Some(name), Some(init)) = (pat_ident(&local.pat), &local.init) {
            if let Some(call) =
                innermost_key_call(&init.expr, |receiver| self.flow.key_of(receiver).is_some())
            {
                if let Some(key) = self.flow.key_of(&call.receiver) {
                    self.locals.insert(name.clone(), key);
                    self.sites.insert(byte_range(call.span()).start, name);
                }
            }
        }
        visit::visit_local(self, local);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        if is_opaque_macro(mac) {
            return;
        }
        if let Some(stmts) = macro_body(mac) {
            for stmt in stmts.iter() {
                self.visit_stmt(stmt);
            }
        }
    }

    // Other bodies and items have their own locals.
    fn visit_expr_async(&mut self, _: &'ast syn::ExprAsync) {}
    fn visit_item(&mut self, _: &'ast syn::Item) {}
    fn visit_expr_closure(&mut self, closure: &'ast syn::ExprClosure) {
        if closure.asyncness.is_none() {
            visit::visit_expr_closure(self, closure);
        }
    }
}

/// The `KEY.method(..)` call at the bottom of `KEY.with(..).clone()?`, `KEY.replace(v)`.
fn innermost_key_call(
    expr: &syn::Expr,
    is_key_receiver: impl Fn(&syn::Expr) -> bool + Copy,
) -> Option<&syn::ExprMethodCall> {
    match expr {
        syn::Expr::MethodCall(call) if is_key_receiver(&call.receiver) => Some(call),
        syn::Expr::MethodCall(call) => innermost_key_call(&call.receiver, is_key_receiver),
        syn::Expr::Try(inner) => innermost_key_call(&inner.expr, is_key_receiver),
        syn::Expr::Paren(inner) => innermost_key_call(&inner.expr, is_key_receiver),
        syn::Expr::Group(inner) => innermost_key_call(&inner.expr, is_key_receiver),
        _ => None,
    }
}

/// The one name a pattern binds (`x`, `mut x`, `x: T`, `Some(x)`, `Ok(mut x)`).
fn pat_ident(pat: &syn::Pat) -> Option<String> {
    match pat {
        syn::Pat::Ident(ident) if ident.subpat.is_none() => Some(ident.ident.to_string()),
        syn::Pat::Type(typed) => pat_ident(&typed.pat),
        syn::Pat::TupleStruct(tuple) if tuple.elems.len() == 1 => pat_ident(&tuple.elems[0]),
        syn::Pat::Reference(reference) => pat_ident(&reference.pat),
        _ => None,
    }
}

/// What a body has done to thread-locals at one point of its execution.
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    /// False after `return`/`break`/`continue`/`panic!`: nothing flows from here.
    reachable: bool,
    /// Thread-local → its task writes that may be what it holds now.
    pending: BTreeMap<String, BTreeSet<usize>>,
    /// Thread-locals this body wrote since its last `.await`, on every path.
    fresh: BTreeSet<String>,
}

impl State {
    fn start() -> Self {
        State {
            reachable: true,
            pending: BTreeMap::new(),
            fresh: BTreeSet::new(),
        }
    }

    fn unreachable() -> Self {
        State {
            reachable: false,
            ..State::start()
        }
    }

    fn join(&self, other: &State) -> State {
        if !self.reachable {
            return other.clone();
        }
        if !other.reachable {
            return self.clone();
        }
        let mut pending = self.pending.clone();
        for (key, writes) in &other.pending {
            pending
                .entry(key.clone())
                .or_default()
                .extend(writes.iter().copied());
        }
        State {
            reachable: true,
            pending,
            fresh: self.fresh.intersection(&other.fresh).cloned().collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteKind {
    /// Stores a value that belongs to the task.
    Task,
    /// Stores an empty value, or one computed from the thread-local itself.
    Reset,
}

#[derive(Debug)]
struct WriteRecord {
    key: String,
    range: Range<usize>,
    head: Range<usize>,
    first_await: Option<Range<usize>>,
}

#[derive(Debug)]
struct ReadRecord {
    key: String,
    range: Range<usize>,
    head: Range<usize>,
    /// The body wrote the thread-local with no `.await` since, every time the read ran.
    fresh: bool,
}

/// Loops nested deeper than this are walked once (their back edge is not followed).
const MAX_REPEATED_LOOP_DEPTH: usize = 4;

struct LoopExits {
    breaks: State,
    continues: State,
}

/// The walk over one async body, in evaluation order.
struct Flow<'a> {
    index: &'a FileIndex,
    is_key: &'a dyn Fn(&str) -> bool,
    saves: HashMap<String, String>,
    restore_used: HashSet<String>,
    writes: BTreeMap<usize, WriteRecord>,
    reads: BTreeMap<usize, ReadRecord>,
    loops: Vec<LoopExits>,
    returns: State,
    /// The expression statement being walked, whose value is thrown away.
    discarded: Option<Range<usize>>,
}

impl Flow<'_> {
    fn block(&mut self, block: &syn::Block, state: &mut State) {
        for stmt in &block.stmts {
            self.stmt(stmt, state);
        }
    }

    fn stmt(&mut self, stmt: &syn::Stmt, state: &mut State) {
        match stmt {
            syn::Stmt::Local(local) => {
                if let (syn::Pat::Wild(_), Some(init)) = (&local.pat, &local.init) {
                    self.discarded = Some(byte_range(init.expr.span()));
                }
                if let Some(init) = &local.init {
                    self.expr(&init.expr, state);
                    if let Some((_, diverge)) = &init.diverge {
                        let mut otherwise = state.clone();
                        self.expr(diverge, &mut otherwise);
                    }
                }
            }
            syn::Stmt::Item(_) => {}
            syn::Stmt::Expr(expr, semi) => {
                if semi.is_some() {
                    self.discarded = Some(byte_range(expr.span()));
                }
                self.expr(expr, state);
            }
            syn::Stmt::Macro(mac) => self.mac(&mac.mac, state),
        }
    }

    fn exprs<'e>(&mut self, exprs: impl IntoIterator<Item = &'e syn::Expr>, state: &mut State) {
        for expr in exprs {
            self.expr(expr, state);
        }
    }

    fn expr(&mut self, expr: &syn::Expr, state: &mut State) {
        if !state.reachable {
            return;
        }
        use syn::Expr;
        match expr {
            Expr::Await(awaited) => {
                self.expr(&awaited.base, state);
                let range = byte_range(awaited.dot_token.span).start
                    ..byte_range(awaited.await_token.span).end;
                self.await_point(range, state);
            }
            // Its own body (an async block; async closures fall to the last arm), or no code.
            Expr::Async(_) | Expr::Const(_) => {}
            Expr::Closure(closure) if closure.asyncness.is_none() => {
                self.closure(closure, state, false)
            }
            Expr::MethodCall(call) => self.method_call(call, state),
            Expr::Call(call) => {
                self.expr(&call.func, state);
                let elsewhere = callee_name(&call.func).is_some_and(|name| runs_elsewhere(&name));
                for arg in &call.args {
                    if !(elsewhere && matches!(arg, Expr::Closure(_))) {
                        self.expr(arg, state);
                    }
                }
            }
            Expr::If(branch) => {
                self.expr(&branch.cond, state);
                let mut then = state.clone();
                self.block(&branch.then_branch, &mut then);
                let mut otherwise = state.clone();
                if let Some((_, other)) = &branch.else_branch {
                    self.expr(other, &mut otherwise);
                }
                *state = then.join(&otherwise);
            }
            Expr::Match(matched) => {
                self.expr(&matched.expr, state);
                if matched.arms.is_empty() {
                    return;
                }
                let mut out = State::unreachable();
                for arm in &matched.arms {
                    let mut arm_state = state.clone();
                    if let Some((_, guard)) = &arm.guard {
                        self.expr(guard, &mut arm_state);
                    }
                    self.expr(&arm.body, &mut arm_state);
                    out = out.join(&arm_state);
                }
                *state = out;
            }
            Expr::While(looped) => self.run_loop(Some(&looped.cond), &looped.body, true, state),
            Expr::ForLoop(looped) => {
                self.expr(&looped.expr, state);
                self.run_loop(None, &looped.body, true, state);
            }
            Expr::Loop(looped) => self.run_loop(None, &looped.body, false, state),
            Expr::Binary(binary) => {
                self.expr(&binary.left, state);
                if matches!(binary.op, syn::BinOp::And(_) | syn::BinOp::Or(_)) {
                    let mut right = state.clone();
                    self.expr(&binary.right, &mut right);
                    *state = state.join(&right);
                } else {
                    self.expr(&binary.right, state);
                }
            }
            Expr::Return(ret) => {
                if let Some(value) = &ret.expr {
                    self.expr(value, state);
                }
                self.returns = self.returns.join(state);
                state.reachable = false;
            }
            Expr::Break(brk) => {
                if let Some(value) = &brk.expr {
                    self.expr(value, state);
                }
                // A labelled block's `break` (no loop): carry on after it, roughly.
                if let Some(exits) = self.loops.last_mut() {
                    exits.breaks = exits.breaks.join(state);
                    state.reachable = false;
                }
            }
            Expr::Continue(_) => {
                if let Some(exits) = self.loops.last_mut() {
                    exits.continues = exits.continues.join(state);
                    state.reachable = false;
                }
            }
            Expr::Try(tried) => {
                self.expr(&tried.expr, state);
                self.returns = self.returns.join(state);
            }
            Expr::Macro(mac) => self.mac(&mac.mac, state),
            Expr::Block(block) => self.block(&block.block, state),
            Expr::Unsafe(block) => self.block(&block.block, state),
            Expr::TryBlock(block) => self.block(&block.block, state),
            Expr::Let(binding) => self.expr(&binding.expr, state),
            Expr::Assign(assign) => {
                self.expr(&assign.right, state);
                self.expr(&assign.left, state);
            }
            Expr::Array(array) => self.exprs(&array.elems, state),
            Expr::Tuple(tuple) => self.exprs(&tuple.elems, state),
            Expr::Cast(cast) => self.expr(&cast.expr, state),
            Expr::Field(field) => self.expr(&field.base, state),
            Expr::Group(group) => self.expr(&group.expr, state),
            Expr::Paren(paren) => self.expr(&paren.expr, state),
            Expr::Index(index) => {
                self.expr(&index.expr, state);
                self.expr(&index.index, state);
            }
            Expr::Range(range) => {
                self.exprs(range.start.iter().map(|e| &**e), state);
                self.exprs(range.end.iter().map(|e| &**e), state);
            }
            Expr::Reference(reference) => self.expr(&reference.expr, state),
            Expr::RawAddr(raw) => self.expr(&raw.expr, state),
            Expr::Repeat(repeat) => self.expr(&repeat.expr, state),
            Expr::Struct(init) => {
                self.exprs(init.fields.iter().map(|field| &field.expr), state);
                if let Some(rest) = &init.rest {
                    self.expr(rest, state);
                }
            }
            Expr::Unary(unary) => self.expr(&unary.expr, state),
            Expr::Yield(yielded) => {
                if let Some(value) = &yielded.expr {
                    self.expr(value, state);
                }
            }
            _ => {}
        }
    }

    fn mac(&mut self, mac: &syn::Macro, state: &mut State) {
        if is_opaque_macro(mac) {
            return;
        }
        let name = mac
            .path
            .segments
            .last()
            .map(|segment| segment.ident.to_string())
            .unwrap_or_default();
        if let Some(stmts) = macro_body(mac) {
            for stmt in stmts.iter() {
                self.stmt(stmt, state);
            }
        }
        match name.as_str() {
            // These macros await the futures they are given.
            "select" | "select_biased" | "join" | "try_join" => {
                let start = byte_range(mac.path.span()).start;
                let end = byte_range(mac.bang_token.span).end;
                self.await_point(start..end, state);
            }
            "panic" | "unreachable" | "todo" | "unimplemented" => state.reachable = false,
            _ => {}
        }
    }

    /// Runs a loop body twice, so what its end leaves flows into its start.
    fn run_loop(
        &mut self,
        cond: Option<&syn::Expr>,
        body: &syn::Block,
        may_end: bool,
        state: &mut State,
    ) {
        self.loops.push(LoopExits {
            breaks: State::unreachable(),
            continues: State::unreachable(),
        });
        let mut entry = state.clone();
        let mut exit = State::unreachable();
        // A second pass only when the first changed what reaches the loop's start; deeply
        // nested loops get one pass each, so the walk stays linear in the body's size.
        let passes = if self.loops.len() <= MAX_REPEATED_LOOP_DEPTH {
            2
        } else {
            1
        };
        for _ in 0..passes {
            let mut current = entry.clone();
            if let Some(cond) = cond {
                self.expr(cond, &mut current);
            }
            if may_end {
                exit = exit.join(&current);
            }
            self.block(body, &mut current);
            if let Some(exits) = self.loops.last_mut() {
                let continues = std::mem::replace(&mut exits.continues, State::unreachable());
                current = current.join(&continues);
            }
            let next = entry.join(&current);
            if next == entry {
                break;
            }
            entry = next;
        }
        if let Some(exits) = self.loops.pop() {
            exit = exit.join(&exits.breaks);
        }
        *state = exit;
    }

    /// A closure that runs here, once (`always`) or perhaps not at all.
    fn closure(&mut self, closure: &syn::ExprClosure, state: &mut State, always: bool) {
        let outer_returns = std::mem::replace(&mut self.returns, State::unreachable());
        let outer_loops = std::mem::take(&mut self.loops);
        let mut inside = state.clone();
        self.expr(&closure.body, &mut inside);
        let returned = std::mem::replace(&mut self.returns, outer_returns);
        self.loops = outer_loops;
        let after = inside.join(&returned);
        *state = if always { after } else { state.join(&after) };
    }

    fn await_point(&mut self, range: Range<usize>, state: &mut State) {
        for id in state.pending.values().flatten() {
            if let Some(write) = self.writes.get_mut(id) {
                write.first_await.get_or_insert_with(|| range.clone());
            }
        }
        state.pending.clear();
        state.fresh.clear();
    }

    fn method_call(&mut self, call: &syn::ExprMethodCall, state: &mut State) {
        if let Some(key) = key_of(self.index, self.is_key, &call.receiver) {
            if let Some(access) = self.classify(&key, call) {
                let discarded = self.discarded.as_ref() == Some(&byte_range(call.span()));
                for arg in &call.args {
                    match arg {
                        syn::Expr::Closure(closure) if closure.asyncness.is_none() => {
                            self.closure(closure, state, true)
                        }
                        _ => self.expr(arg, state),
                    }
                }
                self.access(key, access, discarded, call, state);
                return;
            }
        }
        self.expr(&call.receiver, state);
        let elsewhere = runs_elsewhere(&call.method.to_string());
        for arg in &call.args {
            if !(elsewhere && matches!(arg, syn::Expr::Closure(_))) {
                self.expr(arg, state);
            }
        }
    }

    fn access(
        &mut self,
        key: String,
        access: Access,
        discarded: bool,
        call: &syn::ExprMethodCall,
        state: &mut State,
    ) {
        let range = byte_range(call.span());
        let head = byte_range(call.receiver.span()).start..byte_range(call.method.span()).end;
        let id = range.start;
        if access.read && !(access.result_is_write && discarded) {
            let fresh = state.fresh.contains(&key);
            let read = self.reads.entry(id).or_insert_with(|| ReadRecord {
                key: key.clone(),
                range: range.clone(),
                head: head.clone(),
                fresh: true,
            });
            read.fresh &= fresh;
        }
        match access.write {
            Some(WriteKind::Task) => {
                self.writes.entry(id).or_insert_with(|| WriteRecord {
                    key: key.clone(),
                    range,
                    head,
                    first_await: None,
                });
                state.pending.insert(key.clone(), BTreeSet::from([id]));
                state.fresh.insert(key);
            }
            Some(WriteKind::Reset) => {
                state.pending.remove(&key);
                state.fresh.insert(key);
            }
            None => {}
        }
    }

    /// What `KEY.method(..)` does, or `None` when it is not a thread-local access.
    fn classify(&mut self, key: &str, call: &syn::ExprMethodCall) -> Option<Access> {
        let mut own = self.own_names(key);
        let first_arg = call.args.first();
        let access = match (call.method.to_string().as_str(), call.args.len()) {
            ("set", 1) => Access {
                write: Some(self.value_kind(first_arg?, &own)),
                read: false,
                result_is_write: false,
            },
            ("replace", 1) => Access::write(self.value_kind(first_arg?, &own), true),
            ("take", 0) => Access::write(WriteKind::Reset, true),
            ("get", 0) | ("with_borrow", 1) => Access::read(),
            ("with" | "try_with", 1) => match first_arg? {
                syn::Expr::Closure(closure) => self.closure_access(closure, Level::Cell, &mut own),
                _ => Access::read(),
            },
            ("with_borrow_mut", 1) => match first_arg? {
                syn::Expr::Closure(closure) => self.closure_access(closure, Level::Value, &mut own),
                _ => Access::read(),
            },
            _ => return None,
        };
        Some(access)
    }

    /// Names whose value comes from the thread-local itself: the key and locals saved from it.
    fn own_names(&self, key: &str) -> HashSet<String> {
        let mut own: HashSet<String> = self
            .saves
            .iter()
            .filter(|(_, saved_from)| saved_from.as_str() == key)
            .map(|(local, _)| local.clone())
            .collect();
        own.insert(key.to_string());
        own
    }

    fn value_kind(&mut self, value: &syn::Expr, own: &HashSet<String>) -> WriteKind {
        if is_empty_value(value) {
            return WriteKind::Reset;
        }
        let mentioned = mentioned_names(value.to_token_stream(), own);
        if mentioned.is_empty() {
            return WriteKind::Task;
        }
        self.restore_used.extend(mentioned);
        WriteKind::Reset
    }

    fn closure_access(
        &mut self,
        closure: &syn::ExprClosure,
        level: Level,
        own: &mut HashSet<String>,
    ) -> Access {
        let Some(param) = closure.inputs.first().and_then(pat_ident) else {
            return Access::read();
        };
        own.insert(param.clone());
        let mut writes = ClosureWrites {
            flow: self,
            handles: HashMap::from([(param, level)]),
            own: own.clone(),
            store_only: is_single_statement(&closure.body),
            kind: None,
        };
        writes.visit_expr(&closure.body);
        let result_is_write = writes.is_write_op(result_expr(&closure.body));
        match writes.kind {
            Some(kind) => Access::write(kind, result_is_write),
            None => Access::read(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Access {
    write: Option<WriteKind>,
    /// Whether the access reads what the thread-local held (for finding (b)).
    read: bool,
    /// The access's result is just what its reset returns (`KEY.take()`,
    /// `KEY.with(|s| s.borrow_mut().pop())`): thrown away, it reads nothing.
    result_is_write: bool,
}

impl Access {
    fn read() -> Self {
        Access {
            write: None,
            read: true,
            result_is_write: false,
        }
    }

    /// A task write reads nothing that matters (finding (a) covers it); a reset or an update
    /// reads the old value.
    fn write(kind: WriteKind, result_is_write: bool) -> Self {
        Access {
            write: Some(kind),
            read: kind != WriteKind::Task,
            result_is_write,
        }
    }
}

/// The expression whose value a closure returns, `None` when it ends in a statement.
fn result_expr(body: &syn::Expr) -> Option<&syn::Expr> {
    match body {
        syn::Expr::Block(block) if block.block.stmts.len() == 1 => match &block.block.stmts[0] {
            syn::Stmt::Expr(expr, None) => result_expr(expr),
            _ => None,
        },
        syn::Expr::Block(_) => None,
        other => Some(other),
    }
}

/// How a name in a `with` closure reaches the thread-local's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// The `Cell`/`RefCell` itself (`KEY.with(|cell| ..)`).
    Cell,
    /// The value inside (`KEY.with_borrow_mut(|v| ..)`, `let mut v = cell.borrow_mut()`).
    Value,
}

/// Finds the writes a `with`/`with_borrow_mut` closure makes through its parameter.
struct ClosureWrites<'f, 'a> {
    flow: &'f mut Flow<'a>,
    handles: HashMap<String, Level>,
    own: HashSet<String>,
    /// The closure is one call or assignment (`|s| s.borrow_mut().push(id)`).
    store_only: bool,
    kind: Option<WriteKind>,
}

impl ClosureWrites<'_, '_> {
    fn record(&mut self, kind: WriteKind) {
        if self.kind != Some(WriteKind::Task) {
            self.kind = Some(kind);
        }
    }

    fn value(&mut self, value: &syn::Expr) {
        let kind = self.flow.value_kind(value, &self.own);
        self.record(kind);
    }

    /// Whether `expr` reaches the thread-local's storage: the parameter, a guard borrowed
    /// from it, `*guard`, `cell.borrow_mut()`, or a field of one of those.
    fn is_target(&self, expr: &syn::Expr) -> bool {
        match expr {
            syn::Expr::Path(path) => path
                .path
                .get_ident()
                .is_some_and(|ident| self.handles.contains_key(&ident.to_string())),
            syn::Expr::Field(field) => self.is_target(&field.base),
            syn::Expr::Unary(unary) if matches!(unary.op, syn::UnOp::Deref(_)) => {
                self.is_target(&unary.expr)
            }
            syn::Expr::Paren(paren) => self.is_target(&paren.expr),
            syn::Expr::Reference(reference) => self.is_target(&reference.expr),
            syn::Expr::MethodCall(call) => match call.method.to_string().as_str() {
                "borrow_mut" | "try_borrow_mut" | "get_mut" | "as_mut" => {
                    self.is_target(&call.receiver)
                }
                "unwrap" | "expect" => self.is_target(&call.receiver),
                _ => false,
            },
            syn::Expr::Try(tried) => self.is_target(&tried.expr),
            _ => false,
        }
    }
}

impl ClosureWrites<'_, '_> {
    /// Whether the closure's result is a write operation's (`s.borrow_mut().pop()`), or
    /// nothing (`{ s.borrow_mut().pop(); }`).
    fn is_write_op(&self, result: Option<&syn::Expr>) -> bool {
        let Some(result) = result else {
            return true;
        };
        match result {
            syn::Expr::MethodCall(call) => {
                self.is_target(&call.receiver)
                    && matches!(
                        call.method.to_string().as_str(),
                        "set"
                            | "replace"
                            | "take"
                            | "pop"
                            | "pop_back"
                            | "pop_front"
                            | "clear"
                            | "truncate"
                            | "push"
                            | "push_back"
                            | "push_front"
                            | "swap"
                    )
            }
            syn::Expr::Assign(_) => true,
            syn::Expr::Binary(binary) => binary.op.to_token_stream().to_string().ends_with('='),
            syn::Expr::Paren(paren) => self.is_write_op(Some(&paren.expr)),
            _ => false,
        }
    }
}

impl<'ast> Visit<'ast> for ClosureWrites<'_, '_> {
    fn visit_local(&mut self, local: &'ast syn::Local) {
        visit::visit_local(self, local);
        let (Some(name), Some(init)) = (pat_ident(&local.pat), &local.init) else {
            return;
        };
        if self.is_target(&init.expr) {
            self.handles.insert(name.clone(), Level::Value);
            self.own.insert(name);
        } else if !mentioned_names(init.expr.to_token_stream(), &self.own).is_empty() {
            self.own.insert(name);
        } else {
            self.handles.remove(&name);
            self.own.remove(&name);
        }
    }

    fn visit_expr_assign(&mut self, assign: &'ast syn::ExprAssign) {
        visit::visit_expr_assign(self, assign);
        let plain_handle = matches!(&*assign.left, syn::Expr::Path(path)
            if path.path.get_ident().is_some_and(|ident| self.handles.contains_key(&ident.to_string())));
        // `v = x` rebinds a `&mut` parameter; `*v = x` and `v.field = x` write through it.
        if !plain_handle && self.is_target(&assign.left) {
            self.value(&assign.right);
        }
    }

    fn visit_expr_binary(&mut self, binary: &'ast syn::ExprBinary) {
        visit::visit_expr_binary(self, binary);
        let compound = matches!(
            binary.op,
            syn::BinOp::AddAssign(_)
                | syn::BinOp::SubAssign(_)
                | syn::BinOp::MulAssign(_)
                | syn::BinOp::DivAssign(_)
                | syn::BinOp::RemAssign(_)
                | syn::BinOp::BitXorAssign(_)
                | syn::BinOp::BitAndAssign(_)
                | syn::BinOp::BitOrAssign(_)
                | syn::BinOp::ShlAssign(_)
                | syn::BinOp::ShrAssign(_)
        );
        // `*count += 1`: an update of the thread-local's own value.
        if compound && self.is_target(&binary.left) {
            self.record(WriteKind::Reset);
        }
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        visit::visit_expr_method_call(self, call);
        if !self.is_target(&call.receiver) {
            return;
        }
        match (call.method.to_string().as_str(), call.args.first()) {
            ("set" | "replace", Some(value)) if call.args.len() == 1 => self.value(value),
            ("swap", Some(_)) => self.record(WriteKind::Task),
            ("push" | "push_back" | "push_front", Some(value)) if self.store_only => {
                self.value(value)
            }
            ("take" | "pop" | "pop_back" | "pop_front" | "clear" | "truncate", _) => {
                self.record(WriteKind::Reset)
            }
            _ => {}
        }
    }

    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        visit::visit_expr_call(self, call);
        let syn::Expr::Path(func) = &*call.func else {
            return;
        };
        let path = self.flow.index.resolve(&func.path);
        let is_mem = |name: &str| {
            path == format!("mem::{name}")
                || path.ends_with(&format!("::mem::{name}"))
                || (path == name && call.args.len() == 2 && name == "replace")
        };
        let mut args = call.args.iter();
        let (Some(first), second) = (args.next(), args.next()) else {
            return;
        };
        if is_mem("replace") {
            if let (true, Some(value)) = (self.is_target(first), second) {
                self.value(value);
            }
        } else if is_mem("take") && self.is_target(first) {
            self.record(WriteKind::Reset);
        } else if is_mem("swap")
            && (self.is_target(first) || second.is_some_and(|other| self.is_target(other)))
        {
            self.record(WriteKind::Task);
        }
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        if let Some(stmts) = macro_body(mac) {
            for stmt in stmts.iter() {
                self.visit_stmt(stmt);
            }
        }
    }
}

/// `|x| x.f(..)`, `|x| { x.f(..); }`: the closure does one thing.
fn is_single_statement(body: &syn::Expr) -> bool {
    match body {
        syn::Expr::Block(block) => {
            block.block.stmts.len() == 1
                && matches!(&block.block.stmts[0], syn::Stmt::Expr(expr, _) if is_single_statement(expr))
        }
        syn::Expr::MethodCall(_) | syn::Expr::Assign(_) | syn::Expr::Call(_) => true,
        _ => false,
    }
}

/// A value that belongs to no task: `None`, `false`, `0`, `""`, `[]`, `vec![]`, `T::new()`,
/// `T::default()`, `Default::default()`.
fn is_empty_value(value: &syn::Expr) -> bool {
    match value {
        syn::Expr::Lit(lit) => match &lit.lit {
            syn::Lit::Bool(flag) => !flag.value,
            syn::Lit::Int(int) => int.base10_digits() == "0",
            syn::Lit::Str(text) => text.value().is_empty(),
            _ => false,
        },
        syn::Expr::Path(path) => path.path.is_ident("None"),
        syn::Expr::Call(call) if call.args.is_empty() => match &*call.func {
            syn::Expr::Path(func) => func
                .path
                .segments
                .last()
                .is_some_and(|segment| segment.ident == "new" || segment.ident == "default"),
            _ => false,
        },
        syn::Expr::Macro(mac) => mac.mac.path.is_ident("vec") && mac.mac.tokens.is_empty(),
        syn::Expr::Array(array) => array.elems.is_empty(),
        syn::Expr::Paren(paren) => is_empty_value(&paren.expr),
        syn::Expr::Group(group) => is_empty_value(&group.expr),
        _ => false,
    }
}

/// The names of `names` that occur in `tokens` as variables (not as `.field` or `.method`).
fn mentioned_names(tokens: TokenStream, names: &HashSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    collect_names(tokens, names, &mut found);
    found
}

fn collect_names(tokens: TokenStream, names: &HashSet<String>, found: &mut BTreeSet<String>) {
    let mut after_dot = false;
    for token in tokens {
        match &token {
            TokenTree::Ident(ident) => {
                let name = ident.to_string();
                if !after_dot && names.contains(&name) {
                    found.insert(name);
                }
                after_dot = false;
            }
            TokenTree::Punct(punct) => after_dot = punct.as_char() == '.',
            TokenTree::Group(group) => {
                collect_names(group.stream(), names, found);
                after_dot = false;
            }
            TokenTree::Literal(_) => after_dot = false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceFile;

    /// Lints `code` as the only file of a run: `(row, message)` per finding.
    fn findings(code: &str) -> Vec<(usize, String)> {
        let source = SourceFile::new("x.rs".into(), code.to_string());
        crate::rust::check_snippet(code, check)
            .into_iter()
            .map(|d| (source.location(d.range.start).row, d.message))
            .collect()
    }

    fn rows(code: &str) -> Vec<usize> {
        findings(code).into_iter().map(|(row, _)| row).collect()
    }

    const DECL: &str = "thread_local! { static ID: Cell<u64> = Cell::new(0); static REQ: RefCell<Option<String>> = RefCell::new(None); static STACK: RefCell<Vec<u64>> = RefCell::new(Vec::new()); }\n";

    #[test]
    fn a_write_before_an_await_is_reported_with_the_await_labelled() {
        let code = format!("{DECL}async fn f(id: u64) {{\n    ID.set(id);\n    g().await;\n}}\n");
        let diagnostics = crate::rust::check_snippet(&code, check);
        let source = SourceFile::new("x.rs".into(), code.clone());
        let index = FileIndex::build(&crate::rust::parse(&source).unwrap(), Default::default());
        assert_eq!(diagnostics.len(), 1);
        assert_eq!(&code[diagnostics[0].range.clone()], "ID.set(id)");
        assert_eq!(&code[diagnostics[0].labels[0].range.clone()], ".await");
        assert!(diagnostics[0].help.is_some());
        assert!(index.async_written_thread_locals.contains("ID"));
    }

    #[test]
    fn writes_inside_with_closures_are_recognised() {
        for write in [
            "ID.with(|c| c.set(id))",
            "REQ.with(|r| *r.borrow_mut() = Some(name))",
            "REQ.with(|r| { let mut r = r.borrow_mut(); *r = Some(name); })",
            "REQ.with_borrow_mut(|r| *r = Some(name))",
            "REQ.with(|r| r.borrow_mut().replace(name))",
            "REQ.with(|r| std::mem::replace(&mut *r.borrow_mut(), Some(name)))",
            "STACK.with(|s| s.borrow_mut().push(id))",
            "ID.replace(id)",
        ] {
            let code = format!(
                "{DECL}async fn f(id: u64, name: String) {{\n    {write};\n    g().await;\n}}\n"
            );
            assert_eq!(rows(&code), [3], "{write}");
        }
    }

    #[test]
    fn resets_updates_and_scratch_use_are_not_writes() {
        for write in [
            "ID.set(0)",
            "ID.take()",
            "REQ.with(|r| r.borrow_mut().take())",
            "ID.with(|c| c.set(c.get() + 1))",
            "ID.set(ID.get().wrapping_mul(6364136223846793005))",
            "STACK.with(|s| { let mut s = s.borrow_mut(); s.clear(); s.push(id); s.len() })",
            "STACK.with(|s| s.borrow_mut().pop())",
            "ID.with(|c| { let mut x = c.get(); x ^= x << 13; c.set(x); x })",
        ] {
            let code = format!("{DECL}async fn f(id: u64) {{\n    {write};\n    g().await;\n}}\n");
            assert_eq!(rows(&code), Vec::<usize>::new(), "{write}");
        }
    }

    #[test]
    fn only_a_following_await_counts() {
        // The await comes first, in a nested async block, in a closure, or after a restore.
        for body in [
            "g().await; ID.set(id);",
            "ID.set(id); tokio::spawn(async { g().await });",
            "let old = ID.replace(id); work(); ID.set(old); g().await;",
            "if c { ID.set(id); return; } g().await;",
        ] {
            let code = format!("{DECL}async fn f(id: u64, c: bool) {{\n    {body}\n}}\n");
            let written: Vec<_> = findings(&code)
                .into_iter()
                .filter(|(_, message)| message.contains("before an `.await`"))
                .collect();
            assert!(written.is_empty(), "{body}: {written:?}");
        }
    }

    #[test]
    fn loops_branches_and_macros_carry_the_write_to_the_await() {
        for body in [
            "loop { rx.recv().await; ID.set(id); }",
            "while let Some(id) = rx.recv().await { ID.set(id); }",
            "if c { ID.set(id); } else { other(); } g().await;",
            "ID.set(id); tokio::select! { _ = a => {}, _ = b => {} }",
            "ID.set(id); let r = format!(\"{}\", g().await);",
        ] {
            let code = format!("{DECL}async fn f(id: u64, c: bool) {{\n    {body}\n}}\n");
            assert!(
                findings(&code)
                    .iter()
                    .any(|(_, message)| message.contains("before an `.await`")),
                "{body}"
            );
        }
    }

    #[test]
    fn reads_are_reported_only_for_thread_locals_async_code_writes() {
        let code = format!(
            "{DECL}async fn set(id: u64) {{ ID.set(id); }}\n\
             async fn get() -> u64 {{\n    g().await;\n    ID.get()\n}}\n\
             async fn other() -> usize {{\n    STACK.with(|s| s.borrow().len())\n}}\n"
        );
        assert_eq!(rows(&code), [5]);
    }

    #[test]
    fn restores_and_discarded_resets_are_not_reads() {
        let writer =
            "async fn set(id: u64) { ID.set(id); STACK.with(|s| s.borrow_mut().push(id)); }\n";
        // Restores, pops and takes whose result is thrown away read nothing.
        for body in [
            "g().await; ID.set(0);",
            "g().await; let _ = ID.take();",
            "g().await; STACK.with(|s| s.borrow_mut().pop());",
            "g().await; STACK.with(|s| { s.borrow_mut().pop(); });",
        ] {
            let code = format!("{DECL}{writer}async fn f() {{\n    {body}\n}}\n");
            assert_eq!(rows(&code), Vec::<usize>::new(), "{body}");
        }
        // Their results, used, are reads.
        for body in [
            "g().await; let id = ID.take();",
            "g().await; ID.take().max(1);",
            "g().await; let top = STACK.with(|s| s.borrow_mut().pop());",
        ] {
            let code = format!("{DECL}{writer}async fn f() {{\n    {body}\n}}\n");
            assert_eq!(rows(&code), [4], "{body}");
        }
    }

    #[test]
    fn a_cache_filled_after_a_lookup_is_not_task_state() {
        let code = format!(
            "{DECL}async fn token() -> String {{\n\
             if let Some(t) = REQ.with(|r| r.borrow().clone()) {{ return t; }}\n\
             let t = fetch().await;\n\
             REQ.with(|r| *r.borrow_mut() = Some(t.clone()));\n\
             t\n}}\n\
             async fn user() {{ g().await; REQ.with_borrow(|r| r.clone()); }}\n"
        );
        assert_eq!(rows(&code), Vec::<usize>::new());
    }

    #[test]
    fn facts_name_only_thread_locals_written_by_task_code() {
        let ast = syn::parse_file(
            "static ONCE: OnceCell<u8> = OnceCell::new();\n\
             tokio::task_local! { static TASK: u8; }\n\
             async fn f() { ONCE.set(1); TASK.set(2); OTHER_FILE_KEY.set(3); g().await; }\n\
             async fn r() { ROUTE.with(|r| r.set(4)); }\n",
        )
        .unwrap();
        let index = FileIndex::build(&ast, Default::default());
        let mut facts: Vec<_> = index.async_written_thread_locals.iter().cloned().collect();
        facts.sort();
        assert_eq!(facts, ["OTHER_FILE_KEY", "ROUTE"]);
    }

    #[test]
    fn deeply_nested_loops_stay_linear() {
        let depth = 200;
        let code = format!(
            "{DECL}async fn f(id: u64) {{ {} ID.set(id); g().await; {} }}\n",
            "loop { ".repeat(depth),
            "}".repeat(depth)
        );
        // The engine's workers have big stacks for deep nesting; so does this test.
        let worker = std::thread::Builder::new().stack_size(64 << 20);
        let rows = worker
            .spawn(move || {
                let start = std::time::Instant::now();
                (rows(&code), start.elapsed())
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(rows.0, [2]);
        assert!(rows.1 < std::time::Duration::from_secs(5), "{:?}", rows.1);
    }

    #[test]
    fn entry_points_and_sync_code_are_not_task_code() {
        let code = format!(
            "{DECL}#[tokio::test]\nasync fn t() {{ ID.set(1); g().await; }}\n\
             fn s(id: u64) {{ ID.set(id); }}\n\
             fn main() {{ rt.block_on(async {{ ID.set(1); g().await; }}); }}\n\
             async fn h() {{ tokio::task::spawn_blocking(move || ID.set(2)).await; ID.get(); }}\n"
        );
        assert_eq!(rows(&code), Vec::<usize>::new());
    }
}
