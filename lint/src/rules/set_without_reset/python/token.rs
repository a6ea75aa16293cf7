//! Whether a function hands a token on (returns it, stores it, passes it to a call, a
//! closure or a `global`) rather than only resetting and testing it itself.

use crate::python::ast::{self, Expr, Stmt};
use crate::python::visitor::{self, Visitor};

/// Whether `body` uses the local `token` other than as the argument of a `reset`/`detach`
/// call or in a test (`if token:`, `token is not None`).
pub(super) fn handed_over(body: &[Stmt], token: &str) -> bool {
    let mut uses = Uses {
        token,
        nested: 0,
        handed_over: false,
    };
    uses.visit_body(body);
    uses.handed_over
}

struct Uses<'t> {
    token: &'t str,
    /// Depth inside definitions and lambdas: any mention there is a closure carrying it.
    nested: usize,
    handed_over: bool,
}

impl Uses<'_> {
    fn is_token(&self, expr: &Expr) -> bool {
        matches!(expr, Expr::Name(name) if name.id.as_str() == self.token)
    }

    /// A test of the token's value is no hand-over.
    fn visit_test(&mut self, expr: &Expr) {
        if self.nested > 0 || !self.is_token(expr) {
            self.visit_expr(expr);
        }
    }
}

impl<'a> Visitor<'a> for Uses<'_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(_) | Stmt::ClassDef(_) => {
                self.nested += 1;
                visitor::walk_stmt(self, stmt);
                self.nested -= 1;
            }
            Stmt::Global(ast::StmtGlobal { names, .. })
            | Stmt::Nonlocal(ast::StmtNonlocal { names, .. }) => {
                self.handed_over |= names.iter().any(|name| name.id.as_str() == self.token);
            }
            Stmt::If(branch) => {
                self.visit_test(&branch.test);
                self.visit_body(&branch.body);
                for clause in &branch.elif_else_clauses {
                    if let Some(test) = &clause.test {
                        self.visit_test(test);
                    }
                    self.visit_body(&clause.body);
                }
            }
            Stmt::While(run) => {
                self.visit_test(&run.test);
                self.visit_body(&run.body);
                self.visit_body(&run.orelse);
            }
            Stmt::Assert(assert) => {
                self.visit_test(&assert.test);
                if let Some(message) = &assert.msg {
                    self.visit_expr(message);
                }
            }
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Name(name) if name.id.as_str() == self.token && name.ctx.is_load() => {
                self.handed_over = true;
            }
            Expr::Lambda(_) => {
                self.nested += 1;
                visitor::walk_expr(self, expr);
                self.nested -= 1;
            }
            Expr::Call(call) if self.nested == 0 && is_undo(call) => {
                self.visit_expr(&call.func);
                for argument in &call.arguments.args {
                    if !self.is_token(argument) {
                        self.visit_expr(argument);
                    }
                }
                for keyword in &call.arguments.keywords {
                    self.visit_expr(&keyword.value);
                }
            }
            Expr::Compare(compare) => {
                self.visit_test(&compare.left);
                for operand in &compare.comparators {
                    self.visit_test(operand);
                }
            }
            Expr::BoolOp(both) => {
                for value in &both.values {
                    self.visit_test(value);
                }
            }
            Expr::UnaryOp(unary) if unary.op.is_not() => self.visit_test(&unary.operand),
            Expr::If(choice) => {
                self.visit_test(&choice.test);
                self.visit_expr(&choice.body);
                self.visit_expr(&choice.orelse);
            }
            _ => visitor::walk_expr(self, expr),
        }
    }
}

/// `x.reset(..)`, `detach(..)`, `context.detach(..)`.
fn is_undo(call: &ast::ExprCall) -> bool {
    let name = match &*call.func {
        Expr::Attribute(attribute) => attribute.attr.id.as_str(),
        Expr::Name(name) => name.id.as_str(),
        _ => return false,
    };
    matches!(name, "reset" | "detach")
}
