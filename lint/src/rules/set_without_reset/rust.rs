//! The Rust checker: guards dropped at once or forgotten, and `ctxvars` tokens that are
//! discarded or skip their `reset` on some path out of the block.

use std::ops::Range;

use syn::spanned::Spanned;
use syn::visit::{self, Visit};

use crate::diagnostic::Diagnostic;
use crate::registry::Rule;
use crate::rust::context_calls::{guard_call, GuardKind};
use crate::rust::macros::macro_body;
use crate::rust::{byte_range, RustContext};

/// Checks one file.
pub(crate) fn check(context: &mut RustContext<'_>) {
    let mut visitor = Visitor {
        context: &*context,
        found: Vec::new(),
        populating: 0,
    };
    visitor.visit_file(context.ast);
    for diagnostic in visitor.found {
        context.report(diagnostic);
    }
}

struct Visitor<'c, 'a> {
    context: &'c RustContext<'a>,
    found: Vec<Diagnostic>,
    /// Inside a closure that runs in a context of its own (`cx.run(|| ..)`,
    /// `ctxvars::propagate(|| ..)`): a set there fills that context, the usual way to
    /// prepare a snapshot, and leaks nothing into the caller, so its token may be dropped.
    populating: usize,
}

impl<'ast> Visit<'ast> for Visitor<'_, '_> {
    fn visit_block(&mut self, block: &'ast syn::Block) {
        self.check_block(&block.stmts);
        visit::visit_block(self, block);
    }

    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        self.check_forget(call);
        let populating = match &*call.func {
            syn::Expr::Path(function) => {
                let path = self.context.index.resolve(&function.path);
                path.ends_with("propagate")
                    || path == "ctxvars::thread::spawn"
                    || path.starts_with("ctxvars::tokio::spawn")
            }
            _ => false,
        };
        self.populating += usize::from(populating);
        visit::visit_expr_call(self, call);
        self.populating -= usize::from(populating);
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        let populating =
            call.method == "run" && matches!(call.args.first(), Some(syn::Expr::Closure(_)));
        self.populating += usize::from(populating);
        visit::visit_expr_method_call(self, call);
        self.populating -= usize::from(populating);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        // Code in `tokio::join!(..)`, `vec![..]` or a block macro is checked like any other.
        if let Some(stmts) = macro_body(mac) {
            self.check_block(&stmts);
            for stmt in stmts.iter() {
                self.visit_stmt(stmt);
            }
        }
    }
}

impl Visitor<'_, '_> {
    fn check_block(&mut self, stmts: &[syn::Stmt]) {
        for (at, stmt) in stmts.iter().enumerate() {
            match stmt {
                // `span.enter();` — the value of an expression statement is dropped at once.
                syn::Stmt::Expr(expr, Some(_)) => self.check_discarded(expr, &stmts[at + 1..]),
                syn::Stmt::Local(local) => {
                    let Some(init) = &local.init else { continue };
                    match &local.pat {
                        // `let _ = span.enter();` — `_` does not bind, so the guard drops here.
                        syn::Pat::Wild(_) => self.check_discarded(&init.expr, &stmts[at + 1..]),
                        syn::Pat::Ident(binding)
                            if self.populating == 0 && self.token_set(&init.expr).is_some() =>
                        {
                            self.check_token(&binding.ident, &init.expr, &stmts[at + 1..]);
                        }
                        syn::Pat::Ident(binding) => {
                            if let Some(kind) = guard_call(&init.expr, self.context.index) {
                                self.check_forgotten_binding(
                                    kind,
                                    &binding.ident,
                                    &init.expr,
                                    &stmts[at + 1..],
                                );
                            }
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    }

    /// A guard or token that nobody holds. A guard dropped at once only loses context for
    /// the code `after` it in the block: as the block's last statement it is a deliberate
    /// enter-and-exit (tests do this), while a discarded token leaks the value either way.
    fn check_discarded(&mut self, expr: &syn::Expr, after: &[syn::Stmt]) {
        if let Some(kind) = guard_call(expr, self.context.index) {
            if after.is_empty() {
                return;
            }
            let message = format!(
                "the {} from `{}` is dropped at once, so nothing stays entered",
                kind.describe(),
                call_text(self.context, expr)
            );
            let help = match kind {
                GuardKind::SpanEnter => "bind the guard (`let _entered = span.enter();`) or use `span.in_scope(|| ..)`",
                GuardKind::ContextAttach => "bind the guard (`let _attached = cx.attach();`) for as long as the context applies",
                GuardKind::DefaultDispatcher => "bind the guard for as long as the subscriber should be the default, or use `with_default`",
                GuardKind::VarGuard => "bind the guard, or use `var.scope(value, || ..)`",
            };
            self.found
                .push(Diagnostic::new(Rule::SetWithoutReset, range(expr), message).with_help(help));
        } else if let Some(var) = self.token_set(expr).filter(|_| self.populating == 0) {
            let message = format!("the token from `{var}.set(..)` is discarded, so the previous value is never restored");
            self.found.push(
                Diagnostic::new(Rule::SetWithoutReset, range(expr), message)
                    .with_help(format!("use `{var}.scope(value, || ..)`, or keep the token and pass it to `{var}.reset`")),
            );
        }
    }

    /// `std::mem::forget(guard)`: the guard's restore never runs.
    fn check_forget(&mut self, call: &syn::ExprCall) {
        let syn::Expr::Path(function) = &*call.func else {
            return;
        };
        let path = self.context.index.resolve(&function.path);
        if !is_forget(&path) {
            return;
        }
        let Some(argument) = call.args.first() else {
            return;
        };
        if let Some(kind) = guard_call(argument, self.context.index) {
            self.report_forgotten(kind, argument);
        }
    }

    fn report_forgotten(&mut self, kind: GuardKind, guard: &syn::Expr) {
        let message = format!(
            "the {} is forgotten, so its context is never exited",
            kind.describe()
        );
        self.found.push(
            Diagnostic::new(Rule::SetWithoutReset, range(guard), message)
                .with_help("keep the guard alive in a variable instead of forgetting it"),
        );
    }

    /// `let guard = span.enter(); .. std::mem::forget(guard);`
    fn check_forgotten_binding(
        &mut self,
        kind: GuardKind,
        guard: &syn::Ident,
        call: &syn::Expr,
        rest: &[syn::Stmt],
    ) {
        let forgotten = rest.iter().any(|stmt| {
            let syn::Stmt::Expr(syn::Expr::Call(forget), _) = stmt else {
                return false;
            };
            let syn::Expr::Path(function) = &*forget.func else {
                return false;
            };
            is_forget(&self.context.index.resolve(&function.path))
                && forget
                    .args
                    .first()
                    .is_some_and(|arg| is_path_to(arg, guard))
        });
        if forgotten {
            self.report_forgotten(kind, call);
        }
    }

    /// The variable of a `VAR.set(value)` call on a known `ContextVar`.
    fn token_set(&self, expr: &syn::Expr) -> Option<String> {
        let syn::Expr::MethodCall(call) = expr else {
            return None;
        };
        if call.method != "set" || call.args.len() != 1 {
            return None;
        }
        let syn::Expr::Path(receiver) = &*call.receiver else {
            return None;
        };
        let name = receiver.path.segments.last()?.ident.to_string();
        let known = self.context.index.context_vars.contains(&name)
            || self.context.project.context_vars.contains(&name);
        known.then_some(name)
    }

    /// `let token = VAR.set(..);` followed by `rest`: the token must reach `VAR.reset` with
    /// no early exit in between, unless it is handed over (returned, stored, passed on).
    fn check_token(&mut self, token: &syn::Ident, set: &syn::Expr, rest: &[syn::Stmt]) {
        let var = self.token_set(set).unwrap_or_default();
        let reset_at = rest.iter().position(|stmt| is_reset_of(stmt, token));
        match reset_at {
            Some(at) => {
                let mut exits = EarlyExits::default();
                for stmt in &rest[..at] {
                    exits.visit_stmt(stmt);
                }
                if let Some((exit_range, what)) = exits.found.first() {
                    let message = format!(
                        "`{var}` is not reset when the {what} leaves before `{var}.reset({token})`"
                    );
                    self.found.push(
                        Diagnostic::new(Rule::SetWithoutReset, range(set), message)
                            .with_help(format!("use `{var}.scope(value, || ..)` or `set_guard`, which restore on every exit"))
                            .with_label(exit_range.clone(), format!("leaves without resetting `{var}`")),
                    );
                }
            }
            None => {
                let mut uses = TokenUses { token, used: false };
                for stmt in rest {
                    uses.visit_stmt(stmt);
                }
                // Any use hands the token on (a reset in a branch, a return, a field): only a
                // token nobody touches is certainly never reset.
                if !uses.used {
                    let message = format!("the token from `{var}.set(..)` is never passed to `{var}.reset`, so the value leaks");
                    self.found.push(
                        Diagnostic::new(Rule::SetWithoutReset, range(set), message).with_help(
                            format!(
                            "use `{var}.scope(value, || ..)`, or pass `{token}` to `{var}.reset`"
                        ),
                        ),
                    );
                }
            }
        }
    }
}

fn is_forget(path: &str) -> bool {
    path == "std::mem::forget" || path == "core::mem::forget"
}

/// `VAR.reset(token)` (optionally `.unwrap()`ed / `?`ed / `let _ =`) as a statement.
fn is_reset_of(stmt: &syn::Stmt, token: &syn::Ident) -> bool {
    let expr = match stmt {
        syn::Stmt::Expr(expr, _) => expr,
        syn::Stmt::Local(local) => match &local.init {
            Some(init) => &*init.expr,
            None => return false,
        },
        _ => return false,
    };
    let mut expr = expr;
    loop {
        match expr {
            syn::Expr::MethodCall(call) if call.method == "reset" => {
                return call.args.first().is_some_and(|arg| is_path_to(arg, token));
            }
            syn::Expr::MethodCall(call) => expr = &call.receiver,
            syn::Expr::Try(try_expr) => expr = &try_expr.expr,
            syn::Expr::Call(call) => {
                // `drop(VAR.reset(token))`, `ContextVar::reset(&VAR, token)`
                let is_reset_fn = matches!(&*call.func, syn::Expr::Path(path)
                    if path.path.segments.last().is_some_and(|segment| segment.ident == "reset"));
                if is_reset_fn {
                    return call.args.iter().any(|arg| is_path_to(arg, token));
                }
                match call.args.first() {
                    Some(arg) => expr = arg,
                    None => return false,
                }
            }
            _ => return false,
        }
    }
}

fn is_path_to(expr: &syn::Expr, name: &syn::Ident) -> bool {
    matches!(expr, syn::Expr::Path(path) if path.path.is_ident(name))
}

/// `return`, `?` and `break`/`continue` that leave the enclosing block, not looking into
/// closures, async blocks or nested items (their exits leave something else).
#[derive(Default)]
struct EarlyExits {
    found: Vec<(Range<usize>, &'static str)>,
    loop_depth: usize,
}

impl<'ast> Visit<'ast> for EarlyExits {
    fn visit_expr_return(&mut self, expr: &'ast syn::ExprReturn) {
        self.found.push((byte_range(expr.span()), "`return`"));
        visit::visit_expr_return(self, expr);
    }

    fn visit_expr_try(&mut self, expr: &'ast syn::ExprTry) {
        self.found
            .push((byte_range(expr.question_token.span()), "`?`"));
        visit::visit_expr_try(self, expr);
    }

    fn visit_expr_break(&mut self, expr: &'ast syn::ExprBreak) {
        if self.loop_depth == 0 {
            self.found.push((byte_range(expr.span()), "`break`"));
        }
        visit::visit_expr_break(self, expr);
    }

    fn visit_expr_continue(&mut self, expr: &'ast syn::ExprContinue) {
        if self.loop_depth == 0 {
            self.found.push((byte_range(expr.span()), "`continue`"));
        }
    }

    fn visit_expr_loop(&mut self, expr: &'ast syn::ExprLoop) {
        self.loop_depth += 1;
        visit::visit_expr_loop(self, expr);
        self.loop_depth -= 1;
    }

    fn visit_expr_while(&mut self, expr: &'ast syn::ExprWhile) {
        self.loop_depth += 1;
        visit::visit_expr_while(self, expr);
        self.loop_depth -= 1;
    }

    fn visit_expr_for_loop(&mut self, expr: &'ast syn::ExprForLoop) {
        self.loop_depth += 1;
        visit::visit_expr_for_loop(self, expr);
        self.loop_depth -= 1;
    }

    fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}

    fn visit_expr_async(&mut self, _: &'ast syn::ExprAsync) {}

    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

/// Whether the token is mentioned at all (outside nested items).
struct TokenUses<'t> {
    token: &'t syn::Ident,
    used: bool,
}

impl<'ast> Visit<'ast> for TokenUses<'_> {
    fn visit_ident(&mut self, ident: &'ast proc_macro2::Ident) {
        if ident == self.token {
            self.used = true;
        }
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        // `return_token!(token)`, `dbg!(token)`: tokens inside macros count as uses.
        let mentioned = mac.tokens.clone().into_iter().any(|tree| match tree {
            proc_macro2::TokenTree::Ident(ident) => ident == *self.token,
            proc_macro2::TokenTree::Group(group) => {
                group.stream().to_string().contains(&self.token.to_string())
            }
            _ => false,
        });
        self.used |= mentioned;
    }

    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

fn range(expr: &syn::Expr) -> Range<usize> {
    byte_range(expr.span())
}

/// The call as written in the file, on one line, shortened for messages.
fn call_text(context: &RustContext<'_>, expr: &syn::Expr) -> String {
    let written = context.source.text().get(range(expr)).unwrap_or_default();
    let compact = written.split_whitespace().collect::<Vec<_>>().join(" ");
    match expr {
        syn::Expr::MethodCall(call) if compact.chars().count() > 60 => {
            format!("..{}()", call.method)
        }
        _ if compact.chars().count() > 60 => "the call".to_string(),
        _ => compact,
    }
}
