//! Where control goes after a set: into a `try:` whose `finally:` restores the value, to a
//! restore with nothing in between that could raise, out of the function first (`return`,
//! `raise`, `yield`), or to a restore that an exception would skip.

use std::ops::Range;

use crate::python::ast::{self, ExceptHandler, Expr, Stmt};
use crate::python::range;
use crate::python::visitor::{self, Visitor};

/// Recognises the calls that undo the set being followed.
pub(super) type IsRestore<'r> = &'r dyn Fn(&ast::ExprCall) -> bool;

/// A statement's place: its block, its index there, and what the block is to the
/// statement that owns it.
#[derive(Clone, Copy)]
pub(super) struct Frame<'a> {
    pub(super) block: &'a [Stmt],
    pub(super) at: usize,
    pub(super) owner: Owner<'a>,
}

/// What a block is to its statement.
#[derive(Clone, Copy)]
pub(super) enum Owner<'a> {
    /// The body or `else:` of a `try`.
    Try(&'a ast::StmtTry),
    /// An `except` clause of a `try`.
    Handler(&'a ast::StmtTry, &'a ast::ExceptHandlerExceptHandler),
    /// A `finally:`.
    Finally,
    /// The function body, or a block of an `if`, loop, `with` or `match`.
    Plain,
}

/// The blocks nested in `stmt`, in source order (none for definitions: their bodies run
/// later, as functions of their own).
pub(super) fn blocks(stmt: &Stmt) -> Vec<(&[Stmt], Owner<'_>)> {
    fn plain(block: &[Stmt]) -> (&[Stmt], Owner<'_>) {
        (block, Owner::Plain)
    }
    match stmt {
        Stmt::If(branch) => std::iter::once(plain(&branch.body))
            .chain(
                branch
                    .elif_else_clauses
                    .iter()
                    .map(|clause| plain(&clause.body)),
            )
            .collect(),
        Stmt::For(run) => vec![plain(&run.body), plain(&run.orelse)],
        Stmt::While(run) => vec![plain(&run.body), plain(&run.orelse)],
        Stmt::With(with) => vec![plain(&with.body)],
        Stmt::Match(choice) => choice.cases.iter().map(|case| plain(&case.body)).collect(),
        Stmt::Try(block) => std::iter::once((&block.body[..], Owner::Try(block)))
            .chain(block.handlers.iter().map(|handler| {
                let ExceptHandler::ExceptHandler(handler) = handler;
                (&handler.body[..], Owner::Handler(block, handler))
            }))
            .chain([
                (&block.orelse[..], Owner::Try(block)),
                (&block.finalbody[..], Owner::Finally),
            ])
            .collect(),
        _ => Vec::new(),
    }
}

/// Why control left before the value was restored.
#[derive(Clone, Copy)]
pub(super) enum Exit {
    Return,
    Raise,
    Break,
    Continue,
    /// The caller may close the generator or throw into it here.
    Yield,
}

impl Exit {
    /// How the exit reads in a sentence.
    pub(super) fn describe(self) -> &'static str {
        match self {
            Exit::Return => "the `return`",
            Exit::Raise => "the `raise`",
            Exit::Break => "the `break`",
            Exit::Continue => "the `continue`",
            Exit::Yield => "an exception thrown in at the `yield`",
        }
    }
}

/// Where the paths after a set end up.
pub(super) enum Outcome {
    /// A `try:` whose `finally:` (or catch-all `except`) restores the value.
    Guarded,
    /// Restored before anything that could raise ran.
    Restored,
    /// Left the function (or the loop) before any restore.
    Exit(Range<usize>, Exit),
    /// Restored outside a `finally:`, after code an exception could leave from.
    RestoredLate(Range<usize>),
    /// Reached the end of the function without a restore.
    Open,
    /// Never gets past a `while True:` without `break`: nothing runs after it in this
    /// context (a server's accept loop, a worker's job loop).
    Endless,
}

/// Follows the paths after the set statement at the innermost of `frames` (outermost
/// first). In a pytest fixture (`fixture`) the code after `yield` is teardown that pytest
/// always runs, so a restore there is as good as one in a `finally:`.
pub(super) fn follow(frames: &[Frame<'_>], is_restore: IsRestore<'_>, fixture: bool) -> Outcome {
    let tracer = Tracer {
        is_restore,
        fixture,
    };
    let inside_guard = frames.iter().any(|frame| match frame.owner {
        Owner::Try(block) | Owner::Handler(block, _) => tracer.guards(block),
        Owner::Finally | Owner::Plain => false,
    });
    if inside_guard {
        return Outcome::Guarded;
    }
    let mut state = State::default();
    for frame in frames.iter().rev() {
        let rest = frame.block.get(frame.at + 1..).unwrap_or_default();
        if let Some(outcome) = tracer.block(rest, &mut state, 0) {
            return outcome;
        }
    }
    Outcome::Open
}

/// Whether any call in `block` (outside nested definitions) is a restore.
pub(super) fn contains_restore(block: &[Stmt], is_restore: IsRestore<'_>) -> bool {
    let mut calls = Calls::new(is_restore);
    calls.visit_body(block);
    calls.restore.is_some()
}

#[derive(Default, Clone, Copy)]
struct State {
    /// A statement ran between the set and here (it could have raised).
    passed: bool,
    /// A fixture's `yield` was passed: what follows is teardown.
    yielded: bool,
}

struct Tracer<'r> {
    is_restore: IsRestore<'r>,
    fixture: bool,
}

impl Tracer<'_> {
    /// A `try` whose `finally:` or catch-all `except` restores the value.
    fn guards(&self, block: &ast::StmtTry) -> bool {
        contains_restore(&block.finalbody, self.is_restore)
            || block.handlers.iter().any(|handler| {
                let ExceptHandler::ExceptHandler(handler) = handler;
                catches_everything(handler) && contains_restore(&handler.body, self.is_restore)
            })
    }

    /// `None` when control falls through the end of `stmts`.
    fn block(&self, stmts: &[Stmt], state: &mut State, loops: usize) -> Option<Outcome> {
        for stmt in stmts {
            if let Some(outcome) = self.stmt(stmt, state, loops) {
                return Some(outcome);
            }
            state.passed = true;
        }
        None
    }

    fn stmt(&self, stmt: &Stmt, state: &mut State, loops: usize) -> Option<Outcome> {
        let exit = |exit| Some(Outcome::Exit(range(stmt), exit));
        match stmt {
            Stmt::FunctionDef(_) | Stmt::ClassDef(_) => None,
            Stmt::Return(_) => exit(Exit::Return),
            Stmt::Raise(_) => exit(Exit::Raise),
            Stmt::Break(_) if loops == 0 => exit(Exit::Break),
            Stmt::Continue(_) if loops == 0 => exit(Exit::Continue),
            Stmt::Try(block) if self.guards(block) => Some(Outcome::Guarded),
            Stmt::If(branch) => {
                let exhaustive = branch
                    .elif_else_clauses
                    .last()
                    .is_some_and(|clause| clause.test.is_none());
                self.branches(stmt, exhaustive, state, loops)
            }
            Stmt::Match(choice) => {
                let exhaustive = choice
                    .cases
                    .last()
                    .is_some_and(|case| case.guard.is_none() && case.pattern.is_irrefutable());
                self.branches(stmt, exhaustive, state, loops)
            }
            Stmt::While(run) if runs_forever(run) => {
                let mut body = *state;
                Some(
                    self.block(&run.body, &mut body, loops + 1)
                        .unwrap_or(Outcome::Endless),
                )
            }
            Stmt::With(_) | Stmt::Try(_) => self.branches(stmt, true, state, loops),
            Stmt::For(_) | Stmt::While(_) => self.branches(stmt, false, state, loops),
            _ => {
                let mut calls = Calls::new(self.is_restore);
                calls.visit_stmt(stmt);
                if let Some(at) = calls.yielded {
                    if !self.fixture {
                        return Some(Outcome::Exit(at, Exit::Yield));
                    }
                    state.yielded = true;
                }
                calls.restore.map(|at| {
                    if state.passed && !state.yielded {
                        Outcome::RestoredLate(at)
                    } else {
                        Outcome::Restored
                    }
                })
            }
        }
    }

    /// The blocks of a compound statement, each entered in the state before it. The first
    /// exit or late restore on any branch is the outcome; otherwise a guard on any branch
    /// guards (an unlikely mix), and a statement whose every branch (`exhaustive`: one
    /// always runs) restores restores.
    fn branches(
        &self,
        stmt: &Stmt,
        exhaustive: bool,
        state: &mut State,
        loops: usize,
    ) -> Option<Outcome> {
        let entry = *state;
        let mut guarded = false;
        let mut all_restore = true;
        let is_loop = matches!(stmt, Stmt::For(_) | Stmt::While(_));
        for (index, (block, _)) in blocks(stmt).into_iter().enumerate() {
            if block.is_empty() {
                continue;
            }
            // A loop's body is inside it; its `else:` is not.
            let depth = loops + usize::from(is_loop && index == 0);
            let mut branch = entry;
            match self.block(block, &mut branch, depth) {
                Some(outcome @ (Outcome::Exit(..) | Outcome::RestoredLate(_))) => {
                    return Some(outcome)
                }
                Some(Outcome::Guarded) => guarded = true,
                Some(Outcome::Restored | Outcome::Endless) => {}
                Some(Outcome::Open) | None => all_restore = false,
            }
            state.yielded |= branch.yielded;
        }
        if guarded {
            Some(Outcome::Guarded)
        } else {
            (exhaustive && all_restore).then_some(Outcome::Restored)
        }
    }
}

/// `while True:` (or `while 1:`) with no `break` out of it.
fn runs_forever(run: &ast::StmtWhile) -> bool {
    let endless_test = match &*run.test {
        Expr::BooleanLiteral(literal) => literal.value,
        Expr::NumberLiteral(number) => {
            matches!(&number.value, ast::Number::Int(value) if *value == ast::Int::ONE)
        }
        _ => false,
    };
    endless_test && !breaks(&run.body)
}

/// Whether a `break` in `block` leaves the loop `block` is the body of.
fn breaks(block: &[Stmt]) -> bool {
    block.iter().any(|stmt| match stmt {
        Stmt::Break(_) => true,
        // An inner loop's `break`s are its own; those in its `else:` are not.
        Stmt::For(run) => breaks(&run.orelse),
        Stmt::While(run) => breaks(&run.orelse),
        _ => blocks(stmt).into_iter().any(|(inner, _)| breaks(inner)),
    })
}

/// `except:` or `except BaseException` (alone or in a tuple).
fn catches_everything(handler: &ast::ExceptHandlerExceptHandler) -> bool {
    let is_base =
        |expr: &Expr| matches!(expr, Expr::Name(name) if name.id.as_str() == "BaseException");
    match handler.type_.as_deref() {
        None => true,
        Some(Expr::Tuple(types)) => types.elts.iter().any(is_base),
        Some(other) => is_base(other),
    }
}

/// The first restore and the first `yield` in what it visits, not looking into nested
/// definitions or lambdas (they run at another time).
struct Calls<'r> {
    is_restore: IsRestore<'r>,
    restore: Option<Range<usize>>,
    yielded: Option<Range<usize>>,
}

impl<'r> Calls<'r> {
    fn new(is_restore: IsRestore<'r>) -> Self {
        Calls {
            is_restore,
            restore: None,
            yielded: None,
        }
    }
}

impl<'a> Visitor<'a> for Calls<'_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if !matches!(stmt, Stmt::FunctionDef(_) | Stmt::ClassDef(_)) {
            visitor::walk_stmt(self, stmt);
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Lambda(_) => return,
            Expr::Call(call) if self.restore.is_none() && (self.is_restore)(call) => {
                self.restore = Some(range(call));
            }
            Expr::Yield(_) | Expr::YieldFrom(_) if self.yielded.is_none() => {
                self.yielded = Some(range(expr));
            }
            _ => {}
        }
        visitor::walk_expr(self, expr);
    }
}
