//! The Rust checker.
//!
//! Every body (an `async fn`, an `async` block or closure, a sync fn or closure) is walked
//! on its own, in source order, with the guards it binds (`let g = <guard call>;`) in
//! scope. An `.await` of the body (or a macro that awaits implicitly: `select!`, `join!`,
//! `try_join!`, `pending!`) is recorded on every guard still tracked there; a guard is
//! reported when its scope ends if it collected any. A guard stops being tracked where it
//! is dropped or leaves the binding: any use of its name as a value (`drop(g)`,
//! `v.push(g)`, `g.exit()`, a capture by a nested closure or `async` block), except `&g`,
//! `let _ = g;` (neither moves) and `let h = g;`, which carries the guard on under the new
//! name. A drop in one branch of an `if`/`match`/`select!` counts as a drop after it (the
//! guard may be gone), unless that branch leaves the body (`return`, `panic!`).

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::visit::{self, Visit};

use crate::diagnostic::Diagnostic;
use crate::registry::Rule;
use crate::rust::context_calls::{guard_call, is_runtime_handle, GuardKind};
use crate::rust::macros::macro_body;
use crate::rust::test_code::is_cfg_test;
use crate::rust::{byte_range, FileIndex, RustContext};
use crate::test_paths::is_test_path;

/// Macros that await the futures they are given: the macro itself is a suspension point.
const AWAITING_MACROS: &[&str] = &["select", "select_biased", "join", "try_join", "pending"];

/// Macros that never return: a branch ending in one does not reach the code after it.
const DIVERGING_MACROS: &[&str] = &["panic", "unreachable", "todo", "unimplemented", "bail"];

/// Checks one file.
pub(crate) fn check(context: &mut RustContext<'_>) {
    let mut checker = Checker {
        index: context.index,
        findings: Vec::new(),
        by_call: HashMap::new(),
    };
    let in_tests_dir = is_test_path(context.source.path());
    Finder {
        checker: &mut checker,
        enclosing: Enclosing {
            test_or_main: in_tests_dir,
            impl_type: None,
        },
    }
    .visit_file(context.ast);
    for diagnostic in checker.findings {
        context.report(diagnostic);
    }
}

/// The findings of one file, one per guard-making call.
struct Checker<'a> {
    index: &'a FileIndex,
    findings: Vec<Diagnostic>,
    /// Guard call range → its finding, so a guard reported twice (its labels split between
    /// the branches of an `if`) becomes one finding.
    by_call: HashMap<Range<usize>, usize>,
}

impl Checker<'_> {
    fn report(&mut self, guard: Guard) {
        if let Some(&at) = self.by_call.get(&guard.call) {
            let finding = &mut self.findings[at];
            for (range, message) in guard.awaits {
                if !finding.labels.iter().any(|label| label.range == range) {
                    finding
                        .labels
                        .push(crate::diagnostic::Label { range, message });
                }
            }
            finding.labels.sort_by_key(|label| label.range.start);
            return;
        }
        let mut diagnostic = Diagnostic::new(
            Rule::GuardAcrossAwait,
            guard.call.clone(),
            format!(
                "{} `{}` is held across an `.await`",
                guard.kind.describe(),
                guard.name
            ),
        )
        .with_help(help(guard.kind));
        for (range, message) in guard.awaits {
            diagnostic = diagnostic.with_label(range, message);
        }
        self.by_call.insert(guard.call, self.findings.len());
        self.findings.push(diagnostic);
    }
}

fn help(kind: GuardKind) -> &'static str {
    match kind {
        GuardKind::SpanEnter => {
            "drop the guard before the `.await`, or attach the span to the future with `.instrument(span)`"
        }
        GuardKind::ContextAttach => {
            "drop the guard before the `.await`, or attach the context to the future with `.with_context(cx)`"
        }
        GuardKind::DefaultDispatcher => {
            "drop the guard before the `.await`, or attach the subscriber to the future with `.with_subscriber(subscriber)`"
        }
        GuardKind::VarGuard => {
            "drop the guard before the `.await`, or run the future in its own context with `ctxvars`' `WithContext` (`.with_context(ctx)`)"
        }
    }
}

/// What the item around a body says about it.
#[derive(Debug, Clone, Default)]
struct Enclosing {
    /// Code whose default subscriber is meant for every task it runs: test code on a
    /// current-thread runtime (a `#[test]`/`#[tokio::test]` fn that is not
    /// `flavor = "multi_thread"`, a `#[cfg(test)]` module, a test file by its path) or a
    /// runtime's `#[tokio::main]` body, which `block_on` polls on the main thread only.
    test_or_main: bool,
    /// The type of the `impl` block the body is in (`Runtime` for `impl Runtime`).
    impl_type: Option<String>,
}

/// Finds the bodies: fn items, methods, and expressions outside any fn (a `static`'s
/// initialiser), including those inside item-position macros (`cfg_if!`, `cfg_rt!`).
struct Finder<'c, 'a> {
    checker: &'c mut Checker<'a>,
    enclosing: Enclosing,
}

impl Finder<'_, '_> {
    fn body(&mut self, attrs: &[syn::Attribute], is_async: bool, block: &syn::Block) {
        let mut enclosing = self.enclosing.clone();
        if let Some(test) = attrs.iter().find_map(test_attribute) {
            enclosing.test_or_main = test;
        }
        let mut walker = Walker::new(self.checker, is_async, enclosing);
        walker.visit_block(block);
    }

    fn item_macro(&mut self, mac: &syn::Macro) {
        if mac.path.is_ident("macro_rules") {
            return;
        }
        if let Ok(file) = syn::parse2::<syn::File>(mac.tokens.clone()) {
            self.visit_file(&file);
        }
    }

    fn within(&mut self, enclosing: Enclosing, visit: impl FnOnce(&mut Self)) {
        let outer = std::mem::replace(&mut self.enclosing, enclosing);
        visit(self);
        self.enclosing = outer;
    }
}

impl<'ast> Visit<'ast> for Finder<'_, '_> {
    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        self.body(&item.attrs, item.sig.asyncness.is_some(), &item.block);
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        self.body(&item.attrs, item.sig.asyncness.is_some(), &item.block);
    }

    fn visit_trait_item_fn(&mut self, item: &'ast syn::TraitItemFn) {
        if let Some(block) = &item.default {
            self.body(&item.attrs, item.sig.asyncness.is_some(), block);
        }
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        let mut enclosing = self.enclosing.clone();
        enclosing.test_or_main |= item.attrs.iter().any(is_cfg_test);
        self.within(enclosing, |finder| visit::visit_item_mod(finder, item));
    }

    fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
        let mut enclosing = self.enclosing.clone();
        enclosing.impl_type = type_name(&item.self_ty);
        self.within(enclosing, |finder| visit::visit_item_impl(finder, item));
    }

    fn visit_item_macro(&mut self, item: &'ast syn::ItemMacro) {
        if item.ident.is_none() {
            self.item_macro(&item.mac);
        }
    }

    fn visit_impl_item_macro(&mut self, item: &'ast syn::ImplItemMacro) {
        self.item_macro(&item.mac);
    }

    fn visit_expr(&mut self, expr: &'ast syn::Expr) {
        Walker::new(self.checker, false, self.enclosing.clone()).visit_expr(expr);
    }
}

/// `Some(true)` for a test attribute on a current-thread runtime (`#[test]`,
/// `#[tokio::test]`) or a runtime's `main` (`#[tokio::main]`), `Some(false)` for
/// `#[tokio::test(flavor = "multi_thread")]`.
fn test_attribute(attr: &syn::Attribute) -> Option<bool> {
    let last = attr.path().segments.last()?;
    if last.ident == "main" {
        return Some(true);
    }
    if last.ident != "test" {
        return None;
    }
    let args = match &attr.meta {
        syn::Meta::List(list) => list.tokens.to_string(),
        _ => String::new(),
    };
    Some(!args.contains("multi_thread"))
}

/// The last identifier of a type's path (`Runtime` for `crate::runtime::Runtime<T>`).
fn type_name(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(path) => path.path.segments.last().map(|s| s.ident.to_string()),
        syn::Type::Reference(reference) => type_name(&reference.elem),
        syn::Type::Paren(inner) => type_name(&inner.elem),
        _ => None,
    }
}

/// A guard bound by a `let` of the body being walked.
struct Guard {
    name: String,
    kind: GuardKind,
    /// The call that made it: where the finding is reported.
    call: Range<usize>,
    /// Still alive under its binding, as far as the walk can tell.
    tracked: bool,
    /// The suspension points it is alive at, with their label.
    awaits: Vec<(Range<usize>, String)>,
}

/// A name bound in the body; `guard` is the index of the guard it holds.
struct Binding {
    name: String,
    guard: Option<usize>,
}

/// Walks one body.
struct Walker<'c, 'a> {
    checker: &'c mut Checker<'a>,
    is_async: bool,
    enclosing: Enclosing,
    guards: Vec<Guard>,
    bindings: Vec<Binding>,
}

/// Where a scope starts: the bindings and guards made before it.
#[derive(Clone, Copy)]
struct Scope {
    bindings: usize,
    guards: usize,
}

impl<'c, 'a> Walker<'c, 'a> {
    fn new(checker: &'c mut Checker<'a>, is_async: bool, enclosing: Enclosing) -> Self {
        Walker {
            checker,
            is_async,
            enclosing,
            guards: Vec::new(),
            bindings: Vec::new(),
        }
    }

    fn push_scope(&self) -> Scope {
        Scope {
            bindings: self.bindings.len(),
            guards: self.guards.len(),
        }
    }

    /// Ends a scope: its bindings go out of scope and its guards are dropped.
    fn pop_scope(&mut self, scope: Scope) {
        self.bindings.truncate(scope.bindings);
        for guard in self.guards.drain(scope.guards..) {
            if self.is_async && !guard.awaits.is_empty() {
                self.checker.report(guard);
            }
        }
    }

    fn bind_pattern(&mut self, pat: &syn::Pat) {
        let mut names = PatternNames::default();
        names.visit_pat(pat);
        for name in names.0 {
            self.bindings.push(Binding { name, guard: None });
        }
    }

    /// The guard `name` holds here, if it holds one.
    fn guard_named(&self, name: &str) -> Option<usize> {
        self.bindings
            .iter()
            .rev()
            .find(|binding| binding.name == name)
            .and_then(|binding| binding.guard)
    }

    fn untrack(&mut self, name: &str) {
        if let Some(at) = self.guard_named(name) {
            self.guards[at].tracked = false;
        }
    }

    /// A nested body (closure, `async` block) that mentions a guard takes it or borrows
    /// it: it is no longer tracked here.
    fn untrack_mentioned(&mut self, tokens: TokenStream) {
        let mut idents = HashSet::new();
        collect_idents(tokens, &mut idents);
        for name in idents {
            self.untrack(&name);
        }
    }

    /// A suspension point of this body: every tracked guard is held across it.
    fn suspend(&mut self, range: Range<usize>, message: &str) {
        for guard in self.guards.iter_mut().filter(|guard| guard.tracked) {
            guard.awaits.push((range.clone(), message.to_string()));
        }
    }

    fn snapshot(&self) -> Vec<bool> {
        self.guards.iter().map(|guard| guard.tracked).collect()
    }

    fn restore(&mut self, snapshot: &[bool]) {
        for (guard, &tracked) in self.guards.iter_mut().zip(snapshot) {
            guard.tracked = tracked;
        }
    }

    /// After branches: a guard is still tracked only if every branch that falls through
    /// kept it (a drop on any path may have ended it).
    fn merge(&mut self, before: &[bool], branches: &[Vec<bool>]) {
        let merged: Vec<bool> = before
            .iter()
            .enumerate()
            .map(|(at, &tracked)| tracked && branches.iter().all(|branch| branch[at]))
            .collect();
        self.restore(&merged);
    }

    /// Walks a branch from `before`, returning what it leaves tracked, or `None` when it
    /// diverges.
    fn branch(
        &mut self,
        before: &[bool],
        diverges: bool,
        walk: impl FnOnce(&mut Self),
    ) -> Option<Vec<bool>> {
        self.restore(before);
        walk(self);
        let after = self.snapshot();
        (!diverges).then(|| after[..before.len()].to_vec())
    }

    /// A nested body: walked on its own, after taking the guards it mentions.
    fn nested_body(
        &mut self,
        body: &dyn quote::ToTokens,
        is_async: bool,
        walk: impl FnOnce(&mut Walker),
    ) {
        if self.guards.iter().any(|guard| guard.tracked) {
            self.untrack_mentioned(body.to_token_stream());
        }
        let mut walker = Walker::new(self.checker, is_async, self.enclosing.clone());
        let scope = walker.push_scope();
        walk(&mut walker);
        walker.pop_scope(scope);
    }

    fn statements(&mut self, stmts: &[syn::Stmt]) {
        let scope = self.push_scope();
        for stmt in stmts {
            self.visit_stmt(stmt);
        }
        self.pop_scope(scope);
    }

    fn awaiting_macro(&mut self, mac: &syn::Macro, name: &str) {
        let range = macro_range(mac);
        let message = format!("held across this `{name}!`, which awaits");
        if name == "select" || name == "select_biased" {
            if let Ok(select) = parse_select.parse2(mac.tokens.clone()) {
                for branch in &select {
                    if let Some(future) = &branch.future {
                        self.visit_expr(future);
                    }
                    if let Some(condition) = &branch.condition {
                        self.visit_expr(condition);
                    }
                }
                self.suspend(range, &message);
                let before = self.snapshot();
                let mut after = Vec::new();
                for branch in &select {
                    let diverges = diverges(&branch.handler);
                    let tracked = self.branch(&before, diverges, |walker| {
                        let scope = walker.push_scope();
                        if let Some(pat) = &branch.pat {
                            walker.bind_pattern(pat);
                        }
                        walker.visit_expr(&branch.handler);
                        walker.pop_scope(scope);
                    });
                    after.extend(tracked);
                }
                self.merge(&before, &after);
                return;
            }
        } else if let Some(stmts) = macro_body(mac) {
            self.statements(&stmts);
            self.suspend(range, &message);
            return;
        }
        self.untrack_mentioned(mac.tokens.clone());
        self.suspend(range, &message);
    }
}

impl<'ast> Visit<'ast> for Walker<'_, '_> {
    fn visit_block(&mut self, block: &'ast syn::Block) {
        self.statements(&block.stmts);
    }

    fn visit_local(&mut self, local: &'ast syn::Local) {
        let Some(init) = &local.init else {
            self.bind_pattern(&local.pat);
            return;
        };
        let name = bound_name(&local.pat);
        // `let h = g;` moves the guard to a new name (and scope).
        if let (Some(name), Some(from)) = (&name, single_ident(&init.expr)) {
            if let Some(at) = self
                .guard_named(&from)
                .filter(|&at| self.guards[at].tracked)
            {
                let old = &mut self.guards[at];
                old.tracked = false;
                let guard = Guard {
                    name: name.clone(),
                    kind: old.kind,
                    call: old.call.clone(),
                    tracked: true,
                    awaits: std::mem::take(&mut old.awaits),
                };
                self.guards.push(guard);
                self.bindings.push(Binding {
                    name: name.clone(),
                    guard: Some(self.guards.len() - 1),
                });
                return;
            }
        }
        if matches!(local.pat, syn::Pat::Wild(_)) && single_ident(&init.expr).is_some() {
            // `let _ = g;` neither moves nor drops `g`.
            return;
        }
        self.visit_expr(&init.expr);
        if let Some((_, diverge)) = &init.diverge {
            self.visit_expr(diverge);
        }
        let made = held_guard(&init.expr, self.checker.index, &self.enclosing);
        match (name, made) {
            (Some(name), Some((kind, call))) => {
                self.guards.push(Guard {
                    name: name.clone(),
                    kind,
                    call,
                    tracked: true,
                    awaits: Vec::new(),
                });
                self.bindings.push(Binding {
                    name,
                    guard: Some(self.guards.len() - 1),
                });
            }
            _ => self.bind_pattern(&local.pat),
        }
    }

    fn visit_expr_await(&mut self, expr: &'ast syn::ExprAwait) {
        self.visit_expr(&expr.base);
        let start = byte_range(expr.dot_token.span).start;
        let end = byte_range(expr.await_token.span).end;
        self.suspend(start..end, "held across this `.await`");
    }

    fn visit_expr_async(&mut self, expr: &'ast syn::ExprAsync) {
        self.nested_body(expr, true, |walker| {
            walker.visit_block(&expr.block);
        });
    }

    fn visit_expr_closure(&mut self, expr: &'ast syn::ExprClosure) {
        let is_async = expr.asyncness.is_some();
        self.nested_body(expr, is_async, |walker| {
            for input in &expr.inputs {
                walker.bind_pattern(input);
            }
            walker.visit_expr(&expr.body);
        });
    }

    fn visit_expr_path(&mut self, expr: &'ast syn::ExprPath) {
        if let Some(ident) = expr.path.get_ident().filter(|_| expr.qself.is_none()) {
            self.untrack(&ident.to_string());
        }
    }

    fn visit_expr_reference(&mut self, expr: &'ast syn::ExprReference) {
        // `&g` borrows: the guard stays alive.
        if single_ident(&expr.expr).is_none() {
            self.visit_expr(&expr.expr);
        }
    }

    fn visit_expr_if(&mut self, expr: &'ast syn::ExprIf) {
        let scope = self.push_scope();
        self.visit_expr(&expr.cond);
        let before = self.snapshot();
        let mut after = Vec::new();
        let then_diverges = block_diverges(&expr.then_branch);
        after.extend(self.branch(&before, then_diverges, |walker| {
            walker.visit_block(&expr.then_branch);
        }));
        self.bindings.truncate(scope.bindings);
        match &expr.else_branch {
            Some((_, otherwise)) => {
                let diverges = diverges(otherwise);
                after.extend(self.branch(&before, diverges, |walker| {
                    walker.visit_expr(otherwise);
                }));
            }
            None => after.push(before.clone()),
        }
        self.merge(&before, &after);
        self.pop_scope(scope);
    }

    fn visit_expr_match(&mut self, expr: &'ast syn::ExprMatch) {
        self.visit_expr(&expr.expr);
        let before = self.snapshot();
        let mut after = Vec::new();
        for arm in &expr.arms {
            let diverges = diverges(&arm.body);
            after.extend(self.branch(&before, diverges, |walker| {
                let scope = walker.push_scope();
                walker.bind_pattern(&arm.pat);
                if let Some((_, guard)) = &arm.guard {
                    walker.visit_expr(guard);
                }
                walker.visit_expr(&arm.body);
                walker.pop_scope(scope);
            }));
        }
        self.merge(&before, &after);
    }

    fn visit_expr_for_loop(&mut self, expr: &'ast syn::ExprForLoop) {
        self.visit_expr(&expr.expr);
        let scope = self.push_scope();
        self.bind_pattern(&expr.pat);
        self.visit_block(&expr.body);
        self.pop_scope(scope);
    }

    fn visit_expr_while(&mut self, expr: &'ast syn::ExprWhile) {
        let scope = self.push_scope();
        self.visit_expr(&expr.cond);
        self.visit_block(&expr.body);
        self.pop_scope(scope);
    }

    fn visit_expr_let(&mut self, expr: &'ast syn::ExprLet) {
        self.visit_expr(&expr.expr);
        self.bind_pattern(&expr.pat);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        let name = macro_name(mac);
        if AWAITING_MACROS.contains(&name.as_str()) && !is_blocking_select(mac, self.checker.index)
        {
            self.awaiting_macro(mac, &name);
        } else if let Some(stmts) = macro_body(mac) {
            self.statements(&stmts);
        } else {
            // Tokens that are not Rust (`info!(%x, "..")`): mentioned guards are taken,
            // and each `.await` outside a nested `async` block is a suspension point.
            self.untrack_mentioned(mac.tokens.clone());
            let mut awaits = Vec::new();
            find_awaits(mac.tokens.clone(), &mut awaits);
            for range in awaits {
                self.suspend(range, "held across this `.await`");
            }
        }
    }

    fn visit_item(&mut self, item: &'ast syn::Item) {
        Finder {
            checker: self.checker,
            enclosing: self.enclosing.clone(),
        }
        .visit_item(item);
    }
}

/// The guard a `let` initialiser makes and keeps: `span.enter()`, `Some(span.enter())`,
/// `span.as_ref().map(|s| s.enter())`; with the range of the guard-making call.
fn held_guard(
    expr: &syn::Expr,
    index: &FileIndex,
    enclosing: &Enclosing,
) -> Option<(GuardKind, Range<usize>)> {
    if let Some(kind) = guard_kind(expr, index, enclosing) {
        return Some((kind, byte_range(expr.span())));
    }
    match expr {
        syn::Expr::Call(call) if call.args.len() == 1 => {
            let syn::Expr::Path(function) = &*call.func else {
                return None;
            };
            if !function.path.is_ident("Some") {
                return None;
            }
            held_guard(&call.args[0], index, enclosing)
        }
        syn::Expr::MethodCall(call) if call.method == "map" && call.args.len() == 1 => {
            let syn::Expr::Closure(closure) = &call.args[0] else {
                return None;
            };
            if closure.asyncness.is_some() {
                return None;
            }
            let kind = guard_kind(&closure.body, index, enclosing)?;
            Some((kind, byte_range(expr.span())))
        }
        syn::Expr::Paren(inner) => held_guard(&inner.expr, index, enclosing),
        _ => None,
    }
}

/// `guard_call`, minus what this rule does not hold against the code:
/// - `enter()` on what is by its name a runtime handle or a `LocalSet` that the shared
///   recogniser lets through (`rt1`, `rt_past`, `h`, `local`, `self` in `impl Runtime`):
///   tokio's `EnterGuard`/`LocalEnterGuard` only say which runtime `spawn` uses;
/// - a default subscriber set in test code on a current-thread runtime, where every task
///   runs on the test's thread and is meant to see it.
fn guard_kind(expr: &syn::Expr, index: &FileIndex, enclosing: &Enclosing) -> Option<GuardKind> {
    let kind = guard_call(expr, index)?;
    match (kind, expr) {
        (GuardKind::SpanEnter, syn::Expr::MethodCall(call))
            if is_runtime_like(&call.receiver, enclosing) =>
        {
            None
        }
        (GuardKind::SpanEnter, syn::Expr::Paren(inner)) => {
            guard_kind(&inner.expr, index, enclosing)
        }
        (GuardKind::DefaultDispatcher, _) if enclosing.test_or_main => None,
        _ => Some(kind),
    }
}

/// Whether the receiver of `.enter()` is a tokio runtime: by name (shared with every
/// rule), or `self` inside an `impl` of a runtime type.
fn is_runtime_like(receiver: &syn::Expr, enclosing: &Enclosing) -> bool {
    if is_runtime_handle(receiver) {
        return true;
    }
    let is_self = matches!(receiver, syn::Expr::Path(path) if path.path.is_ident("self"));
    is_self
        && enclosing.impl_type.as_deref().is_some_and(|ty| {
            ["Runtime", "Handle", "LocalSet", "LocalRuntime"]
                .iter()
                .any(|runtime| ty.ends_with(runtime))
        })
}

/// The name a `let` binds by value when its pattern is one identifier (`g`, `mut g`,
/// `g: Entered<'_>`); `None` for `_`, `ref g` and destructuring.
fn bound_name(pat: &syn::Pat) -> Option<String> {
    match pat {
        syn::Pat::Ident(ident) if ident.by_ref.is_none() && ident.subpat.is_none() => {
            Some(ident.ident.to_string())
        }
        syn::Pat::Type(typed) => bound_name(&typed.pat),
        _ => None,
    }
}

/// `g` when `expr` is a bare local name.
fn single_ident(expr: &syn::Expr) -> Option<String> {
    match expr {
        syn::Expr::Path(path) if path.qself.is_none() => {
            path.path.get_ident().map(ToString::to_string)
        }
        syn::Expr::Paren(inner) => single_ident(&inner.expr),
        _ => None,
    }
}

/// The names a pattern binds.
#[derive(Default)]
struct PatternNames(Vec<String>);

impl<'ast> Visit<'ast> for PatternNames {
    fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
        self.0.push(pat.ident.to_string());
        visit::visit_pat_ident(self, pat);
    }
}

fn collect_idents(tokens: TokenStream, idents: &mut HashSet<String>) {
    for token in tokens {
        match token {
            TokenTree::Ident(ident) => {
                idents.insert(ident.to_string());
            }
            TokenTree::Group(group) => collect_idents(group.stream(), idents),
            _ => {}
        }
    }
}

/// The `.await`s in tokens that do not parse, outside nested `async` blocks.
fn find_awaits(tokens: TokenStream, awaits: &mut Vec<Range<usize>>) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    for (at, token) in tokens.iter().enumerate() {
        match token {
            TokenTree::Punct(dot) if dot.as_char() == '.' => {
                if let Some(TokenTree::Ident(ident)) = tokens.get(at + 1) {
                    if ident == "await" {
                        awaits.push(byte_range(dot.span()).start..byte_range(ident.span()).end);
                    }
                }
            }
            TokenTree::Group(group) => {
                let after_async = tokens[..at]
                    .iter()
                    .rev()
                    .take(2)
                    .any(|token| matches!(token, TokenTree::Ident(ident) if ident == "async"));
                if !(after_async && group.delimiter() == Delimiter::Brace) {
                    find_awaits(group.stream(), awaits);
                }
            }
            _ => {}
        }
    }
}

fn macro_name(mac: &syn::Macro) -> String {
    mac.path
        .segments
        .last()
        .map(|segment| segment.ident.to_string())
        .unwrap_or_default()
}

/// crossbeam's `select!` blocks the thread instead of awaiting: its path says so, or its
/// branches do (`recv(rx) -> msg => ..`).
fn is_blocking_select(mac: &syn::Macro, index: &FileIndex) -> bool {
    if index.resolve(&mac.path).contains("crossbeam") {
        return true;
    }
    let tokens: Vec<TokenTree> = mac.tokens.clone().into_iter().collect();
    tokens.windows(2).any(|pair| {
        matches!(
            pair,
            [TokenTree::Punct(minus), TokenTree::Punct(gt)]
                if minus.as_char() == '-' && gt.as_char() == '>'
        )
    })
}

/// `tokio::select!`: the path and the bang.
fn macro_range(mac: &syn::Macro) -> Range<usize> {
    byte_range(mac.path.span()).start..byte_range(mac.bang_token.span).end
}

/// Whether evaluating `expr` leaves the body (`return`, `panic!`) instead of reaching the
/// code that follows.
fn diverges(expr: &syn::Expr) -> bool {
    match expr {
        // Not `break`/`continue`: the code after the loop runs with what the branch did.
        syn::Expr::Return(_) => true,
        syn::Expr::Block(block) => block_diverges(&block.block),
        syn::Expr::Macro(mac) => DIVERGING_MACROS.contains(&macro_name(&mac.mac).as_str()),
        _ => false,
    }
}

fn block_diverges(block: &syn::Block) -> bool {
    match block.stmts.last() {
        Some(syn::Stmt::Expr(expr, _)) => diverges(expr),
        Some(syn::Stmt::Macro(mac)) => DIVERGING_MACROS.contains(&macro_name(&mac.mac).as_str()),
        _ => false,
    }
}

/// One branch of a `select!`: `pat = future, if condition => handler`, or
/// `else => handler` / `complete => handler` / `default => handler` (no future).
struct SelectBranch {
    pat: Option<syn::Pat>,
    future: Option<syn::Expr>,
    condition: Option<syn::Expr>,
    handler: syn::Expr,
}

/// Parses the branches of a `tokio::select!` / `futures::select!` body.
fn parse_select(input: ParseStream<'_>) -> syn::Result<Vec<SelectBranch>> {
    if input.peek(syn::Ident) && input.peek2(syn::Token![;]) {
        let ident: syn::Ident = input.parse()?;
        if ident != "biased" {
            return Err(syn::Error::new(ident.span(), "expected `biased;`"));
        }
        input.parse::<syn::Token![;]>()?;
    }
    let mut branches = Vec::new();
    while !input.is_empty() {
        let (pat, future, condition) = if input.peek(syn::Token![else]) {
            input.parse::<syn::Token![else]>()?;
            (None, None, None)
        } else {
            let pat = syn::Pat::parse_multi_with_leading_vert(input)?;
            if input.peek(syn::Token![=>]) {
                (None, None, None)
            } else {
                input.parse::<syn::Token![=]>()?;
                let future: syn::Expr = input.parse()?;
                let condition = if input.peek(syn::Token![,]) && input.peek2(syn::Token![if]) {
                    input.parse::<syn::Token![,]>()?;
                    input.parse::<syn::Token![if]>()?;
                    Some(input.parse::<syn::Expr>()?)
                } else {
                    None
                };
                (Some(pat), Some(future), condition)
            }
        };
        input.parse::<syn::Token![=>]>()?;
        let handler = if input.peek(syn::token::Brace) {
            syn::Expr::Block(syn::ExprBlock {
                attrs: Vec::new(),
                label: None,
                block: input.parse()?,
            })
        } else {
            input.parse()?
        };
        if !input.is_empty() {
            if input.peek(syn::Token![,]) {
                input.parse::<syn::Token![,]>()?;
            } else if !matches!(handler, syn::Expr::Block(_)) {
                return Err(input.error("expected `,`"));
            }
        }
        branches.push(SelectBranch {
            pat,
            future,
            condition,
            handler,
        });
    }
    Ok(branches)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn branches(tokens: &str) -> usize {
        parse_select
            .parse_str(tokens)
            .map(|branches| branches.len())
            .unwrap_or(0)
    }

    fn runtime_like(code: &str, impl_type: Option<&str>) -> bool {
        let enclosing = Enclosing {
            test_or_main: false,
            impl_type: impl_type.map(ToString::to_string),
        };
        is_runtime_like(&syn::parse_str(code).unwrap(), &enclosing)
    }

    #[test]
    fn runtime_receivers_are_told_from_spans() {
        for code in ["rt1", "rt_past", "h", "local", "self.rt", "LocalSet::new()"] {
            assert!(runtime_like(code, None), "{code}");
        }
        assert!(runtime_like("self", Some("Runtime")));
        for code in [
            "span",
            "self.span",
            "request_span",
            "Span::current()",
            "local_span",
        ] {
            assert!(!runtime_like(code, None), "{code}");
        }
        assert!(!runtime_like("self", Some("MySpan")));
    }

    #[test]
    fn test_code_is_recognised_by_its_path() {
        for path in [
            "tests/a.rs",
            "src/test_helpers/mod.rs",
            "src/foo_test.rs",
            "src/testing.rs",
        ] {
            assert!(is_test_path(std::path::Path::new(path)), "{path}");
        }
        for path in ["src/lib.rs", "src/attestation.rs", "src/contest/mod.rs"] {
            assert!(!is_test_path(std::path::Path::new(path)), "{path}");
        }
    }

    #[test]
    fn select_bodies_parse() {
        assert_eq!(
            branches("biased; v = rx.recv() => handle(v), _ = sleep(d), if armed => { stop(); } else => break,"),
            3
        );
        assert_eq!(
            branches(
                "Some(v) = stream.next() => { a(v) } () = &mut timer => b() , complete => break"
            ),
            3
        );
        assert_eq!(branches("a + => b"), 0);
    }
}
