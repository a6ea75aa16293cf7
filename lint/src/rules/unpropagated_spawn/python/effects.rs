//! What callables do with the context of the thread they run in: which of its values they
//! read (a `ContextVar`'s `.get()`, opentelemetry's current span, context or baggage) and
//! which they set, directly or through the functions they call (of this module, or of
//! another module of the run that reads one).

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use super::argument;
use super::scopes::{Binding, ScopeId, Scopes, MODULE};
use crate::python::ast::{self, Expr};
use crate::python::{range, PyFileIndex, PyProjectIndex};

/// The key of opentelemetry's current context among the keys of reads and writes.
const OPENTELEMETRY: &str = "opentelemetry";

/// opentelemetry functions that read the current context unless given one, with the
/// position of their `context` parameter (`None`: they take none).
const OTEL_READERS: &[(&str, Option<usize>)] = &[
    ("opentelemetry.trace.get_current_span", Some(0)),
    ("opentelemetry.trace.propagation.get_current_span", Some(0)),
    ("opentelemetry.context.get_current", None),
    ("opentelemetry.context.get_value", Some(1)),
    ("opentelemetry.baggage.get_baggage", Some(1)),
    ("opentelemetry.baggage.get_all", Some(0)),
    ("opentelemetry.propagate.inject", Some(1)),
];

/// opentelemetry functions that make a context current in the calling thread.
const OTEL_WRITERS: &[&str] = &[
    "opentelemetry.context.attach",
    "opentelemetry.trace.use_span",
];

/// Decorators that leave a function running its own body when called (`contextmanager`
/// runs it up to the `yield`).
const TRANSPARENT_DECORATORS: &[&str] = &[
    "staticmethod",
    "classmethod",
    "contextlib.contextmanager",
    "functools.wraps",
    "functools.cache",
    "functools.lru_cache",
];

/// One read of the context, found directly or through calls.
#[derive(Debug, Clone)]
pub(super) struct Read {
    /// The `ContextVar`'s dotted name or [`OPENTELEMETRY`]; `None` for a function of another
    /// module, which reads something unknown here.
    key: Option<String>,
    /// How a message names what is read.
    pub(super) shown: String,
    /// Where, in this file: the read, or the call of the other module's function.
    pub(super) at: Range<usize>,
}

/// What running some code does with the context of its thread.
#[derive(Debug, Clone, Default)]
pub(super) struct Effects {
    /// Reads of the context it was started in, first read first, one per key.
    pub(super) reads: Vec<Read>,
    /// The keys it sets, which its caller then reads as set (a `with` block's setup, a
    /// worker's first line).
    writes: HashSet<String>,
}

impl Effects {
    fn read(read: Read) -> Self {
        Effects {
            reads: vec![read],
            writes: HashSet::new(),
        }
    }

    fn write(key: String) -> Self {
        Effects {
            reads: Vec::new(),
            writes: HashSet::from([key]),
        }
    }
}

/// The effects of the module's callables, memoised per scope.
pub(super) struct ContextEffects<'s, 'a> {
    scopes: &'s Scopes<'a>,
    index: &'s PyFileIndex,
    project: &'s PyProjectIndex,
    /// `None` while a scope's effects are being found (a recursive call adds nothing).
    memo: HashMap<ScopeId, Option<Effects>>,
}

impl<'s, 'a> ContextEffects<'s, 'a> {
    pub(super) fn new(
        scopes: &'s Scopes<'a>,
        index: &'s PyFileIndex,
        project: &'s PyProjectIndex,
    ) -> Self {
        ContextEffects {
            scopes,
            index,
            project,
            memo: HashMap::new(),
        }
    }

    /// What the code `callable` runs when called (as handed over from `scope`) does.
    /// `ctx.run`, `copy_context().run` and any other callable that is not a known function
    /// do nothing known.
    pub(super) fn of_callable(&mut self, callable: &'a Expr, scope: ScopeId) -> Effects {
        let callable = self.without_partial(callable, scope);
        match callable {
            Expr::Lambda(lambda) => match self.scopes.lambda(lambda) {
                Some(id) => self.of_scope(id),
                None => Effects::default(),
            },
            Expr::Name(name) => match self.scopes.lookup(name.id.as_str(), scope) {
                [] | [Binding::Imported] => self.of_global(callable, scope),
                bindings => self.of_function(bindings),
            },
            Expr::Attribute(attribute) => {
                if attribute.attr.id.as_str() == "get"
                    && self.is_context_var(&attribute.value, scope)
                {
                    return self.var_read(&attribute.value, range(callable), scope);
                }
                if let Expr::Name(object) = attribute.value.as_ref() {
                    if let Some(class) = self.scopes.class_of_receiver(object.id.as_str(), scope) {
                        let scopes = self.scopes;
                        return match scopes.get(class).bindings.get(attribute.attr.id.as_str()) {
                            Some(bindings) => self.of_function(bindings),
                            None => Effects::default(),
                        };
                    }
                }
                self.of_global(callable, scope)
            }
            _ => Effects::default(),
        }
    }

    /// What running a function, lambda or comprehension scope does. Its reads of a key it
    /// sets itself (or a function it calls sets) are of its own value, not the caller's.
    pub(super) fn of_scope(&mut self, id: ScopeId) -> Effects {
        match self.memo.get(&id) {
            Some(Some(effects)) => return effects.clone(),
            Some(None) => return Effects::default(),
            None => {}
        }
        self.memo.insert(id, None);
        let scopes = self.scopes;
        let mut effects = Effects::default();
        let mut pending = vec![id];
        while let Some(scope) = pending.pop() {
            pending.extend(&scopes.get(scope).comprehensions);
            for call in &scopes.get(scope).calls {
                let call = self.of_call(call, scope);
                effects.reads.extend(call.reads);
                effects.writes.extend(call.writes);
            }
        }
        let writes = &effects.writes;
        if !writes.is_empty() {
            // What another module's function reads is unknown, so a function that sets up a
            // context of its own is taken to set up what it needs.
            effects
                .reads
                .retain(|read| read.key.as_ref().is_some_and(|key| !writes.contains(key)));
        }
        effects.reads.sort_by_key(|read| read.at.start);
        let mut seen = HashSet::new();
        effects.reads.retain(|read| seen.insert(read.key.clone()));
        self.memo.insert(id, Some(effects.clone()));
        effects
    }

    fn of_call(&mut self, call: &'a ast::ExprCall, scope: ScopeId) -> Effects {
        let func = call.func.as_ref();
        if let Expr::Attribute(attribute) = func {
            match attribute.attr.id.as_str() {
                "get" if self.is_context_var(&attribute.value, scope) => {
                    return self.var_read(&attribute.value, range(call), scope);
                }
                "set" if self.is_context_var(&attribute.value, scope) => {
                    let var = self
                        .scopes
                        .resolve_global(self.index, &attribute.value, scope);
                    return var.map(Effects::write).unwrap_or_default();
                }
                "start_as_current_span" => return Effects::write(OPENTELEMETRY.to_string()),
                _ => {}
            }
        }
        if let Some(context_at) = self.otel_reader(func, scope) {
            let given = context_at.is_some_and(|at| argument(call, at, "context").is_some());
            return if given {
                Effects::default()
            } else {
                Effects::read(otel_read(range(call)))
            };
        }
        let name = self.scopes.resolve_global(self.index, func, scope);
        if name.is_some_and(|name| OTEL_WRITERS.contains(&name.as_str())) {
            return Effects::write(OPENTELEMETRY.to_string());
        }
        if let Some(work) = self.run_in_own_copy(call, scope) {
            return self.of_callable(work, scope);
        }
        self.of_callable(func, scope)
    }

    /// A function bound by `def` whose decorators leave it as written.
    fn of_function(&mut self, bindings: &[Binding<'a>]) -> Effects {
        let Some((id, def)) = self.scopes.function(bindings) else {
            return Effects::default();
        };
        let outer = self.scopes.get(id).parent.unwrap_or(MODULE);
        let transparent = def.decorator_list.iter().all(|decorator| {
            let called = match &decorator.expression {
                Expr::Call(call) => call.func.as_ref(),
                other => other,
            };
            self.scopes
                .resolve_global(self.index, called, outer)
                .is_some_and(|name| TRANSPARENT_DECORATORS.contains(&name.as_str()))
        });
        if transparent {
            self.of_scope(id)
        } else {
            Effects::default()
        }
    }

    /// A function named through the module's imports: opentelemetry's readers, and the
    /// functions of the run known to read the context.
    fn of_global(&self, callable: &Expr, scope: ScopeId) -> Effects {
        if self.otel_reader(callable, scope).is_some() {
            return Effects::read(otel_read(range(callable)));
        }
        match self.scopes.resolve_global(self.index, callable, scope) {
            Some(name) if self.project.context_reading_fns.contains(&name) => Effects::read(Read {
                key: None,
                shown: format!("the context through `{name}`"),
                at: range(callable),
            }),
            _ => Effects::default(),
        }
    }

    fn var_read(&self, var: &Expr, at: Range<usize>, scope: ScopeId) -> Effects {
        let Some(name) = self.scopes.resolve_global(self.index, var, scope) else {
            return Effects::default();
        };
        let shown = format!("`{}`", name.rsplit('.').next().unwrap_or(&name));
        Effects::read(Read {
            key: Some(name),
            shown,
            at,
        })
    }

    fn is_context_var(&self, expr: &Expr, scope: ScopeId) -> bool {
        self.scopes
            .resolve_global(self.index, expr, scope)
            .is_some_and(|name| self.project.context_vars.contains(&name))
    }

    /// For an opentelemetry reader, the position of its `context` parameter, if any.
    fn otel_reader(&self, func: &Expr, scope: ScopeId) -> Option<Option<usize>> {
        let name = self.scopes.resolve_global(self.index, func, scope)?;
        OTEL_READERS
            .iter()
            .find(|(reader, _)| *reader == name)
            .map(|&(_, context_at)| context_at)
    }

    /// `copy_context().run(work, ..)`, or `ctx.run(work, ..)` with `ctx = copy_context()`
    /// in the same scope: a copy made by the code that runs on the other thread holds that
    /// thread's context, so `work` reads as if called directly.
    fn run_in_own_copy(&self, call: &'a ast::ExprCall, scope: ScopeId) -> Option<&'a Expr> {
        let Expr::Attribute(attribute) = call.func.as_ref() else {
            return None;
        };
        if attribute.attr.id.as_str() != "run" {
            return None;
        }
        let copied_here = match attribute.value.as_ref() {
            copy @ Expr::Call(_) => self.is_copy_context(copy, scope),
            Expr::Name(name) => matches!(
                self.scopes.get(scope).bindings.get(name.id.as_str()).map(Vec::as_slice),
                Some([Binding::Value(value, _)]) if self.is_copy_context(value, scope)
            ),
            _ => false,
        };
        copied_here.then(|| call.arguments.args.first()).flatten()
    }

    fn is_copy_context(&self, expr: &Expr, scope: ScopeId) -> bool {
        let Expr::Call(call) = expr else { return false };
        self.scopes
            .resolve_global(self.index, &call.func, scope)
            .is_some_and(|name| name == "contextvars.copy_context")
    }

    /// `functools.partial(f, ..)` → `f`.
    fn without_partial(&self, mut callable: &'a Expr, scope: ScopeId) -> &'a Expr {
        while let Expr::Call(call) = callable {
            let is_partial = self
                .scopes
                .resolve_global(self.index, &call.func, scope)
                .is_some_and(|name| name == "functools.partial");
            match call.arguments.args.first() {
                Some(inner) if is_partial => callable = inner,
                _ => break,
            }
        }
        callable
    }
}

/// The names of module-level functions that read the context (the run-wide fact).
pub(super) fn reading_functions(effects: &mut ContextEffects<'_, '_>) -> Vec<String> {
    let scopes = effects.scopes;
    let module = scopes.get(MODULE);
    let mut names = Vec::new();
    for (name, bindings) in &module.bindings {
        if !effects.of_function(bindings).reads.is_empty() {
            names.push(effects.index.qualify(name));
        }
    }
    names
}

fn otel_read(at: Range<usize>) -> Read {
    Read {
        key: Some(OPENTELEMETRY.to_string()),
        shown: "the opentelemetry context".to_string(),
        at,
    }
}
