//! Recognising executors and worker pools: a name or `self` attribute bound to a
//! constructor, a `with .. as` target, an annotated parameter, or a subclass of a pool
//! defined in the module that leaves its spawning methods alone.

use super::scopes::{Binding, ScopeId, ScopeKind, Scopes, MODULE};
use crate::python::ast::{self, Expr};
use crate::python::PyFileIndex;

/// Where a pool runs the work it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pool {
    /// Worker threads that start with an empty context.
    Threads,
    /// Worker processes, which no context reaches.
    Processes,
    /// An `extra-executors` entry: the work runs in a copy of the submitter's context.
    CopiesContext,
}

/// Pool methods that run their first argument once.
pub(super) const SUBMIT_METHODS: &[&str] = &["submit", "apply", "apply_async"];

/// Pool methods that run their first argument on every item, concurrently.
pub(super) const MAP_METHODS: &[&str] = &[
    "map",
    "map_async",
    "imap",
    "imap_unordered",
    "starmap",
    "starmap_async",
];

/// Executors and pools whose workers are threads (`Executor`, the abstract class an
/// annotation names, is mostly a thread pool).
const THREAD_POOLS: &[&str] = &[
    "concurrent.futures.ThreadPoolExecutor",
    "concurrent.futures.thread.ThreadPoolExecutor",
    "concurrent.futures.Executor",
    "concurrent.futures._base.Executor",
    "multiprocessing.pool.ThreadPool",
    "multiprocessing.dummy.Pool",
];

const PROCESS_POOLS: &[&str] = &[
    "concurrent.futures.ProcessPoolExecutor",
    "concurrent.futures.process.ProcessPoolExecutor",
    "multiprocessing.Pool",
    "multiprocessing.pool.Pool",
];

/// Bindings through bindings (`a = b`, `b = a`) stop here.
const MAX_DEPTH: usize = 16;

pub(super) struct Pools<'s, 'a> {
    pub(super) scopes: &'s Scopes<'a>,
    pub(super) index: &'s PyFileIndex,
    /// `extra-executors`: dotted names of classes and factories of context-copying pools.
    pub(super) extra: &'s [String],
}

impl<'a> Pools<'_, 'a> {
    /// The pool `expr` (evaluated in `scope`) is, if known.
    pub(super) fn of(&self, expr: &'a Expr, scope: ScopeId) -> Option<Pool> {
        self.of_expr(expr, scope, 0)
    }

    fn of_expr(&self, expr: &'a Expr, scope: ScopeId, depth: usize) -> Option<Pool> {
        if depth > MAX_DEPTH {
            return None;
        }
        match expr {
            Expr::Call(call) => self.of_class(&call.func, scope, depth + 1),
            Expr::Name(name) => {
                self.of_bindings(self.scopes.lookup(name.id.as_str(), scope), depth + 1)
            }
            Expr::Attribute(attribute) => {
                let Expr::Name(object) = attribute.value.as_ref() else {
                    return None;
                };
                let class = self.scopes.class_of_receiver(object.id.as_str(), scope)?;
                let bindings = self
                    .scopes
                    .get(class)
                    .bindings
                    .get(attribute.attr.id.as_str())?;
                self.of_bindings(bindings, depth + 1)
            }
            // `executor or ThreadPoolExecutor()`: every alternative must be known.
            Expr::BoolOp(choice) => agree(
                choice
                    .values
                    .iter()
                    .map(|value| alternative(value, |value| self.of_expr(value, scope, depth + 1))),
            ),
            Expr::If(choice) => agree(
                [&choice.body, &choice.orelse]
                    .into_iter()
                    .map(|value| alternative(value, |value| self.of_expr(value, scope, depth + 1))),
            ),
            _ => None,
        }
    }

    /// All bindings of a name must make the same pool (`None` assignments aside).
    fn of_bindings(&self, bindings: &[Binding<'a>], depth: usize) -> Option<Pool> {
        agree(bindings.iter().map(|binding| match *binding {
            Binding::Value(value, scope) => {
                alternative(value, |value| self.of_expr(value, scope, depth))
            }
            Binding::Annotated(annotation) => alternative(annotation, |annotation| {
                self.of_annotation(annotation, depth)
            }),
            Binding::Function(_) | Binding::Class(_) | Binding::Imported | Binding::Opaque => {
                Alternative::Unknown
            }
        }))
    }

    /// `Executor`, `Optional[Executor]`, `Executor | None`, `"ThreadPoolExecutor"`.
    fn of_annotation(&self, annotation: &'a Expr, depth: usize) -> Option<Pool> {
        if depth > MAX_DEPTH {
            return None;
        }
        match annotation {
            Expr::StringLiteral(text) => {
                let name = self.index.resolve_text(text.value.to_str())?;
                self.of_class_name(&name, depth + 1)
            }
            Expr::Subscript(subscript) => {
                let generic = self
                    .scopes
                    .resolve_global(self.index, &subscript.value, MODULE)?;
                match generic.as_str() {
                    "typing.Optional" => self.of_annotation(&subscript.slice, depth + 1),
                    "typing.Union" => match subscript.slice.as_ref() {
                        Expr::Tuple(members) => agree(members.elts.iter().map(|member| {
                            alternative(member, |member| self.of_annotation(member, depth + 1))
                        })),
                        _ => None,
                    },
                    _ => None,
                }
            }
            Expr::BinOp(union) if union.op == ast::Operator::BitOr => {
                agree([&union.left, &union.right].into_iter().map(|member| {
                    alternative(member, |member| self.of_annotation(member, depth + 1))
                }))
            }
            _ => self.of_class(annotation, MODULE, depth + 1),
        }
    }

    fn of_class(&self, class: &Expr, scope: ScopeId, depth: usize) -> Option<Pool> {
        let name = self.scopes.resolve_global(self.index, class, scope)?;
        self.of_class_name(&name, depth)
    }

    /// A pool class (or factory) by dotted name; a class of this module counts as its pool
    /// base unless it redefines how work is submitted.
    fn of_class_name(&self, name: &str, depth: usize) -> Option<Pool> {
        if depth > MAX_DEPTH {
            return None;
        }
        if self.extra.iter().any(|extra| extra == name) {
            return Some(Pool::CopiesContext);
        }
        if THREAD_POOLS.contains(&name) {
            return Some(Pool::Threads);
        }
        if PROCESS_POOLS.contains(&name) {
            return Some(Pool::Processes);
        }
        let local = name
            .strip_prefix(self.index.module.as_str())
            .and_then(|rest| rest.strip_prefix('.'))?;
        let [Binding::Class(id)] = self.scopes.get(MODULE).bindings.get(local)?.as_slice() else {
            return None;
        };
        let class_scope = self.scopes.get(*id);
        let ScopeKind::Class(class) = class_scope.kind else {
            return None;
        };
        let redefines_spawning = SUBMIT_METHODS
            .iter()
            .chain(MAP_METHODS)
            .any(|method| class_scope.bindings.contains_key(method));
        if redefines_spawning {
            return None;
        }
        class
            .arguments
            .iter()
            .flat_map(|arguments| arguments.args.iter())
            .find_map(|base| self.of_class(base, MODULE, depth + 1))
    }
}

/// What one alternative of a choice, or one binding of a name, makes.
enum Alternative {
    /// A `None` literal: no pool, and no say in which pool the others make.
    Nothing,
    Pool(Pool),
    Unknown,
}

fn alternative<'e>(expr: &'e Expr, pool: impl FnOnce(&'e Expr) -> Option<Pool>) -> Alternative {
    if expr.is_none_literal_expr() {
        return Alternative::Nothing;
    }
    match pool(expr) {
        Some(pool) => Alternative::Pool(pool),
        None => Alternative::Unknown,
    }
}

/// The one pool all alternatives make, `None` literals aside.
fn agree(alternatives: impl IntoIterator<Item = Alternative>) -> Option<Pool> {
    let mut agreed = None;
    for alternative in alternatives {
        match alternative {
            Alternative::Nothing => {}
            Alternative::Pool(pool) if agreed.is_none_or(|agreed| agreed == pool) => {
                agreed = Some(pool)
            }
            Alternative::Pool(_) | Alternative::Unknown => return None,
        }
    }
    agreed
}
