//! The Python checker: one `Context` handed to several threads.
//!
//! A hand-off is a call that runs a callable on another thread (`pool.submit`, `pool.map`,
//! `loop.run_in_executor`, `asyncio.to_thread`, `threading.Thread(target=..)`) where the
//! callable enters a context held in a name: `ctx.run`, a lambda calling `ctx.run(..)`, or
//! a function of this module that calls `.run` on the parameter `ctx` is passed to (or on a
//! `ctx` it closes over), also through `functools.partial`. It is reported when the same
//! context can be in two threads at once: `pool.map`, a loop or comprehension that does not
//! take a new context per iteration, or a second hand-off while the first may still run.
//! A hand-off waited for at once (`await`, `.result()`, `.join()`) or given to a
//! one-worker executor runs alone.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use crate::diagnostic::Diagnostic;
use crate::python::ast::{self, Expr, Stmt};
use crate::python::visitor::{self, Visitor};
use crate::python::{range, PyFileIndex, PythonContext};
use crate::registry::Rule;

/// Checks one file.
pub(crate) fn check(context: &mut PythonContext<'_>) {
    let (ast, index, text) = (context.ast, context.index, context.source.text());
    let mut module = ModuleFacts {
        index,
        text,
        declared: HashSet::new(),
        single_worker: HashSet::new(),
    };
    module.visit_body(&ast.body);
    let checker = Checker {
        index,
        text,
        declared: module.declared,
        single_worker: module.single_worker,
    };
    let scope = Scope {
        parent: None,
        function: None,
        is_class: false,
        facts: Facts::collect(&ast.body, index),
    };
    let mut found = Vec::new();
    checker.check_scope(&scope, &ast.body, &mut found);
    for diagnostic in found {
        context.report(diagnostic);
    }
}

/// Methods that wait for a future or thread (or, `shutdown`, for an executor's jobs).
const WAIT_METHODS: [&str; 4] = ["result", "exception", "join", "shutdown"];

/// Functions that wait for the futures they are given (asyncio's are awaited).
const WAIT_FUNCTIONS: [&str; 2] = ["concurrent.futures.wait", "concurrent.futures.as_completed"];

struct Checker<'a> {
    index: &'a PyFileIndex,
    text: &'a str,
    /// Names declared `global` or `nonlocal` anywhere: code elsewhere may rebind them.
    declared: HashSet<&'a str>,
    /// The source text of names and attributes assigned a one-worker executor.
    single_worker: HashSet<&'a str>,
}

impl<'a> Checker<'a> {
    fn check_scope(&self, scope: &Scope<'a, '_>, body: &'a [Stmt], found: &mut Vec<Diagnostic>) {
        let mut walk = Walk {
            checker: self,
            scope,
            frames: Vec::new(),
            pending: Pending::new(),
            awaits: Vec::new(),
            receivers: HashMap::new(),
            handle: None,
            nested: Vec::new(),
            found: Vec::new(),
        };
        walk.block(body);
        found.append(&mut walk.found);
        for stmt in walk.nested {
            let (child, body) = match stmt {
                Stmt::FunctionDef(function) => {
                    (Scope::function(function, scope, self.index), &function.body)
                }
                Stmt::ClassDef(class) => (
                    Scope {
                        parent: Some(scope),
                        function: None,
                        is_class: true,
                        facts: Facts::collect(&class.body, self.index),
                    },
                    &class.body,
                ),
                _ => continue,
            };
            self.check_scope(&child, body, found);
        }
    }

    /// Whether `executor` runs one job at a time: `ThreadPoolExecutor(max_workers=1)` or a
    /// name or attribute assigned one in this file.
    fn is_single_worker(&self, executor: &Expr) -> bool {
        is_single_worker_call(self.index, executor)
            || self.single_worker.contains(&self.text[range(executor)])
    }
}

/// `ThreadPoolExecutor(1)`, `ProcessPoolExecutor(max_workers=1)`.
fn is_single_worker_call(index: &PyFileIndex, expr: &Expr) -> bool {
    let Expr::Call(call) = expr else { return false };
    let is_pool = index
        .resolve(&call.func)
        .is_some_and(|name| name.ends_with("PoolExecutor"));
    let workers = call.arguments.find_argument_value("max_workers", 0);
    is_pool
        && matches!(workers, Some(Expr::NumberLiteral(number))
            if matches!(&number.value, ast::Number::Int(int) if int.as_u8() == Some(1)))
}

/// `contextvars.copy_context()` or `contextvars.Context()`: a context of its own.
fn is_new_context(index: &PyFileIndex, expr: &Expr) -> bool {
    matches!(
        index.call_target(expr).as_deref(),
        Some("contextvars.copy_context" | "contextvars.Context")
    )
}

/// Every name an expression mentions.
fn names(expr: &Expr) -> Vec<&str> {
    struct Names<'a>(Vec<&'a str>);
    impl<'a> Visitor<'a> for Names<'a> {
        fn visit_expr(&mut self, expr: &'a Expr) {
            if let Expr::Name(name) = expr {
                self.0.push(name.id.as_str());
            }
            visitor::walk_expr(self, expr);
        }
    }
    let mut found = Names(Vec::new());
    found.visit_expr(expr);
    found.0
}

/// Facts about the whole module the scopes need.
struct ModuleFacts<'a> {
    index: &'a PyFileIndex,
    text: &'a str,
    declared: HashSet<&'a str>,
    single_worker: HashSet<&'a str>,
}

impl<'a> ModuleFacts<'a> {
    fn note_executor(&mut self, target: &'a Expr, value: &Expr) {
        if is_single_worker_call(self.index, value) {
            self.single_worker.insert(&self.text[range(target)]);
        }
    }
}

impl<'a> Visitor<'a> for ModuleFacts<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Global(global) => {
                let names = global.names.iter().map(|name| name.id.as_str());
                self.declared.extend(names);
            }
            Stmt::Nonlocal(nonlocal) => {
                let names = nonlocal.names.iter().map(|name| name.id.as_str());
                self.declared.extend(names);
            }
            Stmt::Assign(assign) => {
                for target in &assign.targets {
                    self.note_executor(target, &assign.value);
                }
            }
            Stmt::AnnAssign(assign) => {
                if let Some(value) = &assign.value {
                    self.note_executor(&assign.target, value);
                }
            }
            Stmt::With(with) => {
                for item in &with.items {
                    if let Some(target) = &item.optional_vars {
                        self.note_executor(target, &item.context_expr);
                    }
                }
            }
            _ => {}
        }
        visitor::walk_stmt(self, stmt);
    }
}

/// One binding of a name.
struct Binding {
    range: Range<usize>,
    /// Bound to a new context (`copy_context()`, a parameter annotated `Context`).
    context: bool,
}

/// What one scope's own code (not its nested functions, classes and lambdas) binds,
/// enters and waits for.
#[derive(Default)]
struct Facts<'a> {
    bindings: HashMap<&'a str, Vec<Binding>>,
    /// Functions defined directly in the scope, by name.
    functions: HashMap<&'a str, &'a ast::StmtFunctionDef>,
    /// `x` of every `x.run(..)`.
    entered: Vec<&'a str>,
    /// Names waited for (`fut.result()`, `t.join()`, `await fut`, `wait(fs)`, the end of
    /// `with pool:`), with the code that waits.
    waits: Vec<(&'a str, Range<usize>)>,
}

impl<'a> Facts<'a> {
    fn collect(body: &'a [Stmt], index: &'a PyFileIndex) -> Self {
        let mut collector = Collector {
            index,
            facts: Facts::default(),
        };
        collector.visit_body(body);
        collector.facts
    }
}

struct Collector<'a> {
    index: &'a PyFileIndex,
    facts: Facts<'a>,
}

impl<'a> Collector<'a> {
    fn bind(&mut self, name: &'a str, range: Range<usize>, context: bool) {
        self.facts
            .bindings
            .entry(name)
            .or_default()
            .push(Binding { range, context });
    }

    fn assign(&mut self, target: &'a Expr, value: &'a Expr) {
        match target {
            Expr::Name(name) if is_new_context(self.index, value) => {
                self.bind(name.id.as_str(), range(name), true);
            }
            _ => self.visit_expr(target),
        }
    }

    fn call(&mut self, call: &'a ast::ExprCall) {
        if let Expr::Attribute(method) = &*call.func {
            if let Expr::Name(receiver) = &*method.value {
                let receiver = receiver.id.as_str();
                match method.attr.as_str() {
                    "run" => self.facts.entered.push(receiver),
                    attr if WAIT_METHODS.contains(&attr) => {
                        self.facts.waits.push((receiver, range(call)));
                    }
                    _ => {}
                }
            }
        }
        let waits = self
            .index
            .resolve(&call.func)
            .is_some_and(|name| WAIT_FUNCTIONS.contains(&name.as_str()));
        if waits {
            for arg in &call.arguments.args {
                self.facts
                    .waits
                    .extend(names(arg).into_iter().map(|name| (name, range(call))));
            }
        }
    }
}

impl<'a> Visitor<'a> for Collector<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(function) => {
                let name = function.name.id.as_str();
                self.bind(name, range(&function.name), false);
                self.facts.functions.insert(name, function);
            }
            Stmt::ClassDef(class) => self.bind(class.name.id.as_str(), range(&class.name), false),
            Stmt::Assign(assign) => {
                for target in &assign.targets {
                    self.assign(target, &assign.value);
                }
                self.visit_expr(&assign.value);
            }
            Stmt::AnnAssign(assign) => {
                if let Some(value) = &assign.value {
                    self.assign(&assign.target, value);
                    self.visit_expr(value);
                }
            }
            Stmt::Import(import) => {
                for alias in &import.names {
                    // `import a.b` binds `a`.
                    let bound = match &alias.asname {
                        Some(local) => local.id.as_str(),
                        None => alias.name.id.split('.').next().unwrap_or_default(),
                    };
                    self.bind(bound, range(alias), false);
                }
            }
            Stmt::ImportFrom(import) => {
                for alias in &import.names {
                    let bound = alias.asname.as_ref().unwrap_or(&alias.name);
                    self.bind(bound.id.as_str(), range(alias), false);
                }
            }
            Stmt::With(with) => {
                for item in &with.items {
                    let pool = item.optional_vars.as_deref().unwrap_or(&item.context_expr);
                    if let Expr::Name(pool) = pool {
                        self.facts.waits.push((pool.id.as_str(), range(with)));
                    }
                }
                visitor::walk_stmt(self, stmt);
            }
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Lambda(_) => return,
            Expr::Name(name) if !name.ctx.is_load() => {
                self.bind(name.id.as_str(), range(name), false);
            }
            Expr::Named(named) => {
                self.assign(&named.target, &named.value);
                self.visit_expr(&named.value);
                return;
            }
            Expr::Await(awaited) => {
                let waits = names(&awaited.value).into_iter();
                self.facts
                    .waits
                    .extend(waits.map(|name| (name, range(awaited))));
            }
            Expr::Call(call) => self.call(call),
            _ => {}
        }
        visitor::walk_expr(self, expr);
    }

    /// A comprehension's targets are its own; its conditions belong to the scope.
    fn visit_comprehension(&mut self, comprehension: &'a ast::Comprehension) {
        self.visit_expr(&comprehension.iter);
        for condition in &comprehension.ifs {
            self.visit_expr(condition);
        }
    }

    fn visit_except_handler(&mut self, handler: &'a ast::ExceptHandler) {
        let ast::ExceptHandler::ExceptHandler(handler_node) = handler;
        if let Some(name) = &handler_node.name {
            self.bind(name.id.as_str(), range(name), false);
        }
        visitor::walk_except_handler(self, handler);
    }

    fn visit_pattern(&mut self, pattern: &'a ast::Pattern) {
        let captured = match pattern {
            ast::Pattern::MatchAs(capture) => capture.name.as_ref(),
            ast::Pattern::MatchStar(star) => star.name.as_ref(),
            ast::Pattern::MatchMapping(mapping) => mapping.rest.as_ref(),
            _ => None,
        };
        if let Some(name) = captured {
            self.bind(name.id.as_str(), range(name), false);
        }
        visitor::walk_pattern(self, pattern);
    }
}

/// A function, class or module body.
struct Scope<'a, 'p> {
    parent: Option<&'p Scope<'a, 'p>>,
    /// The function whose body this is.
    function: Option<&'a ast::StmtFunctionDef>,
    is_class: bool,
    facts: Facts<'a>,
}

impl<'a, 'p> Scope<'a, 'p> {
    fn function(
        function: &'a ast::StmtFunctionDef,
        parent: &'p Scope<'a, 'p>,
        index: &'a PyFileIndex,
    ) -> Self {
        let mut facts = Facts::collect(&function.body, index);
        for parameter in function.parameters.iter() {
            let parameter = parameter.as_parameter();
            let context = parameter.annotation().is_some_and(|annotation| {
                index.resolve(annotation).as_deref() == Some("contextvars.Context")
            });
            facts
                .bindings
                .entry(parameter.name.id.as_str())
                .or_default()
                .push(Binding {
                    range: range(parameter),
                    context,
                });
        }
        Scope {
            parent: Some(parent),
            function: Some(function),
            is_class: false,
            facts,
        }
    }

    /// The scope `name` refers to from here: this one, else the enclosing function and
    /// module scopes (a class body does not enclose the functions in it).
    fn binder(&self, name: &str) -> Option<&Self> {
        if self.facts.bindings.contains_key(name) {
            return Some(self);
        }
        let mut outer = self.parent;
        while let Some(scope) = outer {
            if !scope.is_class && scope.facts.bindings.contains_key(name) {
                return Some(scope);
            }
            outer = scope.parent;
        }
        None
    }

    /// The scope that binds `name` to a context, and only to contexts.
    fn context_binder(&self, name: &str) -> Option<&Self> {
        self.binder(name).filter(|scope| {
            scope
                .facts
                .bindings
                .get(name)
                .is_some_and(|bindings| bindings.iter().all(|binding| binding.context))
        })
    }

    /// Whether `name` is bound inside `within` in this scope.
    fn bound_within(&self, name: &str, within: &Range<usize>) -> bool {
        self.facts.bindings.get(name).is_some_and(|bindings| {
            bindings
                .iter()
                .any(|binding| within.contains(&binding.range.start))
        })
    }

    /// The code in this scope that waits for one of `names`.
    fn waits_for<'n>(&'n self, names: &'n [&str]) -> impl Iterator<Item = &'n Range<usize>> {
        self.facts
            .waits
            .iter()
            .filter(|(name, _)| names.contains(name))
            .map(|(_, wait)| wait)
    }
}

/// Whether code inside `frame` waits for `handoff` (so on every iteration).
fn waited_within(handoff: &Handoff<'_>, scope: &Scope<'_, '_>, frame: &Range<usize>) -> bool {
    let inside = |wait: &Range<usize>| frame.start <= wait.start && wait.end <= frame.end;
    handoff.waited_by.as_ref().is_some_and(inside)
        || scope.waits_for(&handoff.waitables).any(inside)
}

/// Whether a wait for `handoff` ends inside `window` (a `with pool:` block around it
/// ends after it).
fn waited_between(handoff: &Handoff<'_>, scope: &Scope<'_, '_>, window: &Range<usize>) -> bool {
    let ends = |wait: &Range<usize>| window.start <= wait.end && wait.end <= window.end;
    handoff.waited_by.as_ref().is_some_and(ends) || scope.waits_for(&handoff.waitables).any(ends)
}

/// A loop or comprehension around the code being walked.
struct Frame<'a> {
    range: Range<usize>,
    kind: &'static str,
    /// Names a comprehension binds for itself.
    shadowed: Vec<&'a str>,
    /// Blocks of the loop's body, around the current statement, whose rest leaves the
    /// loop (`break`), or every loop (`return`, `raise`).
    breaks: usize,
    returns: usize,
}

/// A call that runs a context on another thread.
#[derive(Clone)]
struct Handoff<'a> {
    call: Range<usize>,
    /// The name of the context.
    context: &'a str,
    /// How the callable enters it, for messages.
    how: String,
    /// The names waiting for it would use: the future or thread it is assigned to, the
    /// executor.
    waitables: Vec<&'a str>,
    /// The expression that waits for it at once (`await ..`, `.result()`).
    waited_by: Option<Range<usize>>,
}

/// A function of this module a hand-off calls.
struct Called<'a, 'r, 'p> {
    function: &'a ast::StmtFunctionDef,
    /// How the call names it (`worker`, `self._execute`).
    shown: &'r str,
    /// The scope it is defined in, where the names it closes over live.
    defined_in: &'r Scope<'a, 'p>,
    /// Leading parameters bound before the call (`self`).
    bound: usize,
}

/// Per context name, the latest hand-off that may still be running.
type Pending<'a> = HashMap<&'a str, Handoff<'a>>;

/// What a thread-starting call runs: a callable and the arguments it gets.
struct Dispatch<'a> {
    callable: &'a Expr,
    arguments: Arguments<'a>,
    executor: Option<&'a Expr>,
    /// `pool.map`: one run per item.
    per_item: bool,
}

/// The arguments a callable is called with, where known.
#[derive(Default)]
struct Arguments<'a> {
    /// Up to the first `*args` (the ones after it have unknown positions).
    positional: Vec<&'a Expr>,
    keywords: Vec<(&'a str, &'a Expr)>,
}

impl<'a> Arguments<'a> {
    fn new(positional: &'a [Expr], keywords: &'a [ast::Keyword]) -> Self {
        Arguments {
            positional: positional
                .iter()
                .take_while(|arg| !matches!(arg, Expr::Starred(_)))
                .collect(),
            keywords: keywords
                .iter()
                .filter_map(|keyword| Some((keyword.arg.as_ref()?.id.as_str(), &keyword.value)))
                .collect(),
        }
    }

    /// The argument for the parameter `name` at `position`.
    fn find(&self, name: &str, position: Option<usize>) -> Option<&'a Expr> {
        position
            .and_then(|at| self.positional.get(at).copied())
            .or_else(|| {
                let keyword = self.keywords.iter().find(|(keyword, _)| *keyword == name);
                keyword.map(|(_, value)| *value)
            })
    }
}

/// Walks one scope's code in order.
struct Walk<'c, 'a, 's> {
    checker: &'c Checker<'a>,
    scope: &'s Scope<'a, 's>,
    /// The loops and comprehensions around the current code, innermost last.
    frames: Vec<Frame<'a>>,
    pending: Pending<'a>,
    /// The `await` expressions around the current code, innermost last.
    awaits: Vec<Range<usize>>,
    /// Calls that are the receiver of a wait (`.result()`, `.join()`), and that wait.
    receivers: HashMap<Range<usize>, Range<usize>>,
    /// The name the current statement assigns to.
    handle: Option<&'a str>,
    /// Functions and classes defined here, checked after this scope.
    nested: Vec<&'a Stmt>,
    found: Vec<Diagnostic>,
}

impl<'a> Walk<'_, 'a, '_> {
    /// Walks a block; whether control can leave it at its end.
    fn block(&mut self, body: &'a [Stmt]) -> bool {
        let last_break = body.iter().rposition(|stmt| matches!(stmt, Stmt::Break(_)));
        let last_return = body
            .iter()
            .rposition(|stmt| matches!(stmt, Stmt::Return(_) | Stmt::Raise(_)));
        for (at, stmt) in body.iter().enumerate() {
            // This statement, or one after it, leaves the loop.
            let breaks = usize::from(last_break.is_some_and(|last| last >= at));
            let returns = usize::from(last_return.is_some_and(|last| last >= at));
            self.count_exits(breaks, returns, true);
            self.visit_stmt(stmt);
            self.count_exits(breaks, returns, false);
        }
        !body.iter().any(|stmt| {
            matches!(
                stmt,
                Stmt::Return(_) | Stmt::Raise(_) | Stmt::Break(_) | Stmt::Continue(_)
            )
        })
    }

    fn count_exits(&mut self, breaks: usize, returns: usize, entering: bool) {
        if let Some(frame) = self.frames.last_mut() {
            if entering {
                frame.breaks += breaks;
                frame.returns += returns;
            } else {
                frame.breaks -= breaks;
                frame.returns -= returns;
            }
        }
    }

    /// Walks `body` from the hand-offs of `from`; what may run when it falls through.
    fn branch(&mut self, from: &Pending<'a>, body: &'a [Stmt]) -> Pending<'a> {
        self.pending = from.clone();
        if self.block(body) {
            std::mem::take(&mut self.pending)
        } else {
            Pending::new()
        }
    }

    /// Walks a loop, which may run zero times.
    fn in_loop(&mut self, stmt: &'a Stmt, walk: impl FnOnce(&mut Self) -> bool) {
        let before = self.pending.clone();
        self.frames.push(Frame {
            range: range(stmt),
            kind: "loop",
            shadowed: Vec::new(),
            breaks: 0,
            returns: 0,
        });
        let falls = walk(self);
        self.frames.pop();
        if !falls {
            self.pending.clear();
        }
        for (context, handoff) in before {
            self.pending.entry(context).or_insert(handoff);
        }
    }

    fn comprehension(
        &mut self,
        expr: &'a Expr,
        generators: &'a [ast::Comprehension],
        elements: &[&'a Expr],
    ) {
        let Some((first, rest)) = generators.split_first() else {
            return;
        };
        // The first iterable is evaluated once, outside the loop.
        self.visit_expr(&first.iter);
        self.frames.push(Frame {
            range: range(expr),
            kind: "comprehension",
            shadowed: generators
                .iter()
                .flat_map(|generator| names(&generator.target))
                .collect(),
            breaks: 0,
            returns: 0,
        });
        for condition in &first.ifs {
            self.visit_expr(condition);
        }
        for generator in rest {
            self.visit_expr(&generator.iter);
            for condition in &generator.ifs {
                self.visit_expr(condition);
            }
        }
        for element in elements {
            self.visit_expr(element);
        }
        self.frames.pop();
    }

    /// Whether `name` here is a context: bound only to contexts, and not rebound by a
    /// comprehension or through `global`/`nonlocal`.
    fn is_context(&self, name: &str) -> bool {
        !self
            .frames
            .iter()
            .any(|frame| frame.shadowed.contains(&name))
            && !self.checker.declared.contains(name)
            && self.scope.context_binder(name).is_some()
    }

    /// What `call` runs on another thread, if it is a thread-starting call.
    fn dispatch(&self, call: &'a ast::ExprCall) -> Option<Dispatch<'a>> {
        let args = &call.arguments.args;
        let dispatch = |callable, rest: Option<&'a [Expr]>, executor| {
            Some(Dispatch {
                callable,
                arguments: Arguments::new(rest?, &call.arguments.keywords),
                executor,
                per_item: false,
            })
        };
        if let Expr::Attribute(method) = &*call.func {
            match method.attr.as_str() {
                "submit" => return dispatch(args.first()?, args.get(1..), Some(&method.value)),
                "run_in_executor" => return dispatch(args.get(1)?, args.get(2..), args.first()),
                "map" => {
                    return Some(Dispatch {
                        callable: args.first()?,
                        arguments: Arguments::default(),
                        executor: Some(&method.value),
                        per_item: true,
                    })
                }
                _ => {}
            }
        }
        match self.checker.index.resolve(&call.func).as_deref() {
            Some("asyncio.to_thread") => dispatch(args.first()?, args.get(1..), None),
            Some("threading.Thread") => {
                let argument = |name| call.arguments.find_keyword(name).map(|kw| &kw.value);
                let mut arguments = match argument("args") {
                    Some(Expr::Tuple(tuple)) => Arguments::new(&tuple.elts, &[]),
                    Some(Expr::List(list)) => Arguments::new(&list.elts, &[]),
                    _ => Arguments::default(),
                };
                if let Some(Expr::Dict(dict)) = argument("kwargs") {
                    arguments.keywords = dict
                        .items
                        .iter()
                        .filter_map(|item| match &item.key {
                            Some(Expr::StringLiteral(key)) => {
                                Some((key.value.to_str(), &item.value))
                            }
                            _ => None,
                        })
                        .collect();
                }
                Some(Dispatch {
                    callable: argument("target")?,
                    arguments,
                    executor: None,
                    per_item: false,
                })
            }
            _ => None,
        }
    }

    /// The context `callable`, called with `arguments`, enters, and how.
    fn enters(&self, callable: &'a Expr, arguments: Arguments<'a>) -> Option<(&'a str, String)> {
        match callable {
            Expr::Call(partial)
                if self.checker.index.resolve(&partial.func).as_deref()
                    == Some("functools.partial") =>
            {
                let (inner, bound) = partial.arguments.args.split_first()?;
                let mut all = Arguments::new(bound, &partial.arguments.keywords);
                all.positional.extend(arguments.positional);
                all.keywords.extend(arguments.keywords);
                self.enters(inner, all)
            }
            Expr::Attribute(method) if method.attr.as_str() == "run" => {
                let Expr::Name(context) = &*method.value else {
                    return None;
                };
                let context = context.id.as_str();
                self.is_context(context)
                    .then(|| (context, format!("`{context}.run`")))
            }
            Expr::Lambda(lambda) => {
                let mut body = Collector {
                    index: self.checker.index,
                    facts: Facts::default(),
                };
                body.visit_expr(&lambda.body);
                let context = body.facts.entered.into_iter().find(|&name| {
                    !lambda
                        .parameters
                        .as_ref()
                        .is_some_and(|parameters| parameters.includes(name))
                        && self.is_context(name)
                })?;
                Some((context, format!("a lambda calling `{context}.run`")))
            }
            Expr::Name(name) => {
                let defined_in = self.scope.binder(name.id.as_str())?;
                let function = defined_in.facts.functions.get(name.id.as_str())?;
                let called = Called {
                    function,
                    shown: name.id.as_str(),
                    defined_in,
                    bound: 0,
                };
                self.function_enters(&called, &arguments)
            }
            // `self.method`, in a method of the class that defines it.
            Expr::Attribute(method) => {
                let Expr::Name(receiver) = &*method.value else {
                    return None;
                };
                let current = self.scope.function?;
                let class = self.scope.parent.filter(|parent| parent.is_class)?;
                let parameters = &current.parameters;
                let first = parameters
                    .posonlyargs
                    .iter()
                    .chain(&parameters.args)
                    .next()?;
                if first.name().id != receiver.id {
                    return None;
                }
                let function = class.facts.functions.get(method.attr.as_str())?;
                let is_static = function.decorator_list.iter().any(|decorator| {
                    matches!(&decorator.expression, Expr::Name(name) if name.id.as_str() == "staticmethod")
                });
                let called = Called {
                    function,
                    shown: &self.checker.text[range(callable)],
                    defined_in: class,
                    bound: usize::from(!is_static),
                };
                self.function_enters(&called, &arguments)
            }
            _ => None,
        }
    }

    /// The context a function of this module enters when called with `arguments`: one
    /// passed for a parameter it calls `.run` on, or one it closes over.
    fn function_enters(
        &self,
        called: &Called<'a, '_, '_>,
        arguments: &Arguments<'a>,
    ) -> Option<(&'a str, String)> {
        let function = called.function;
        let shown = called.shown;
        let body = Facts::collect(&function.body, self.checker.index);
        let parameters = &function.parameters;
        body.entered.iter().find_map(|&entered| {
            // Rebound in the body (`ctx = ctx.copy()`): not what the caller passed.
            if body.bindings.contains_key(entered) {
                return None;
            }
            if !parameters.includes(entered) {
                // A closure: the same variable as here.
                let outer = called.defined_in.context_binder(entered)?;
                let here = self.scope.context_binder(entered)?;
                return (std::ptr::eq(outer, here) && self.is_context(entered))
                    .then(|| (entered, format!("`{shown}`, which calls `{entered}.run`")));
            }
            let position = parameters
                .posonlyargs
                .iter()
                .chain(&parameters.args)
                .position(|parameter| parameter.name().id.as_str() == entered)
                .and_then(|at| at.checked_sub(called.bound));
            let Some(Expr::Name(context)) = arguments.find(entered, position) else {
                return None;
            };
            let context = context.id.as_str();
            self.is_context(context).then(|| {
                (
                    context,
                    format!("`{shown}`, which calls `{entered}.run` on it"),
                )
            })
        })
    }

    fn hand_off(&mut self, call: &'a ast::ExprCall) {
        let Some(dispatch) = self.dispatch(call) else {
            return;
        };
        let Some((context, how)) = self.enters(dispatch.callable, dispatch.arguments) else {
            return;
        };
        if dispatch
            .executor
            .is_some_and(|executor| self.checker.is_single_worker(executor))
        {
            return;
        }
        let call_range = range(call);
        let waited_by = self.receivers.get(&call_range).or(self.awaits.last());
        let executor = match dispatch.executor {
            Some(Expr::Name(executor)) => Some(executor.id.as_str()),
            _ => None,
        };
        let handoff = Handoff {
            call: call_range,
            context,
            how,
            waitables: self.handle.into_iter().chain(executor).collect(),
            waited_by: waited_by.cloned(),
        };
        let (message, earlier) = if dispatch.per_item {
            let map = &self.checker.text[range(&*call.func)];
            let message = format!(
                "for every item, `{map}` runs {} on one of the pool's threads, all in the one `Context` `{context}`",
                handoff.how
            );
            (message, None)
        } else if let Some(kind) = self.repeats(&handoff) {
            let message = format!(
                "every iteration of this {kind} hands the one `Context` `{context}` to another thread ({})",
                handoff.how
            );
            (message, None)
        } else {
            let earlier = self.pending.get(context).and_then(|first| {
                let between = first.call.end..handoff.call.start;
                let overlaps = !self.scope.bound_within(context, &between)
                    && !waited_between(first, self.scope, &between);
                overlaps.then(|| first.call.clone())
            });
            self.pending.insert(context, handoff.clone());
            let Some(earlier) = earlier else { return };
            let message = format!(
                "the `Context` `{context}` is handed to another thread ({}) while an earlier hand-off may still run in it",
                handoff.how
            );
            (message, Some(earlier))
        };
        self.report(&handoff, message, earlier);
    }

    /// The kind of loop or comprehension that runs `handoff` again with the same context
    /// while the earlier runs may not have finished.
    fn repeats(&self, handoff: &Handoff<'a>) -> Option<&'static str> {
        for frame in self.frames.iter().rev() {
            if frame.returns > 0 || self.scope.bound_within(handoff.context, &frame.range) {
                return None;
            }
            if frame.breaks == 0 {
                return (!waited_within(handoff, self.scope, &frame.range)).then_some(frame.kind);
            }
        }
        None
    }

    fn report(&mut self, handoff: &Handoff<'a>, message: String, earlier: Option<Range<usize>>) {
        let context = handoff.context;
        let mut diagnostic = Diagnostic::new(
            Rule::SharedContextRun,
            handoff.call.clone(),
            format!("{message}: when two runs overlap, the second raises `RuntimeError: cannot enter context`"),
        )
        .with_help(format!(
            "give every hand-off its own context: `contextvars.copy_context()` (or `{context}.copy()`) per submission"
        ));
        let binding = self
            .scope
            .context_binder(context)
            .and_then(|scope| scope.facts.bindings.get(context))
            .and_then(|bindings| {
                bindings
                    .iter()
                    .rev()
                    .find(|binding| binding.range.start < handoff.call.start)
                    .or(bindings.first())
            });
        if let Some(binding) = binding {
            diagnostic = diagnostic.with_label(binding.range.clone(), "the one `Context`");
        }
        if let Some(earlier) = earlier {
            diagnostic = diagnostic.with_label(earlier, "first handed over here");
        }
        self.found.push(diagnostic);
    }
}

impl<'a> Visitor<'a> for Walk<'_, 'a, '_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(_) | Stmt::ClassDef(_) => self.nested.push(stmt),
            Stmt::If(branch) => {
                let before = self.pending.clone();
                let mut after = Pending::new();
                let mut exhaustive = false;
                let clauses = branch
                    .elif_else_clauses
                    .iter()
                    .map(|clause| (clause.test.as_ref(), &clause.body));
                for (test, body) in
                    std::iter::once((Some(&*branch.test), &branch.body)).chain(clauses)
                {
                    self.pending = before.clone();
                    match test {
                        Some(test) => self.visit_expr(test),
                        None => exhaustive = true,
                    }
                    let from = self.pending.clone();
                    after.extend(self.branch(&from, body));
                }
                if !exhaustive {
                    after.extend(before);
                }
                self.pending = after;
            }
            Stmt::For(each) => {
                self.visit_expr(&each.iter);
                self.in_loop(stmt, |walk| walk.block(&each.body));
                self.block(&each.orelse);
            }
            Stmt::While(each) => {
                self.in_loop(stmt, |walk| {
                    walk.visit_expr(&each.test);
                    walk.block(&each.body)
                });
                self.block(&each.orelse);
            }
            Stmt::With(with) => {
                for item in &with.items {
                    self.visit_expr(&item.context_expr);
                }
                self.block(&with.body);
            }
            Stmt::Try(block) => {
                let before = self.pending.clone();
                let body_falls = self.block(&block.body);
                let mut after = if self.block(&block.orelse) && body_falls {
                    std::mem::take(&mut self.pending)
                } else {
                    Pending::new()
                };
                for handler in &block.handlers {
                    let ast::ExceptHandler::ExceptHandler(handler) = handler;
                    after.extend(self.branch(&before, &handler.body));
                }
                self.pending = after;
                self.block(&block.finalbody);
            }
            Stmt::Match(choice) => {
                self.visit_expr(&choice.subject);
                let before = self.pending.clone();
                let mut after = before.clone();
                for case in &choice.cases {
                    self.pending = before.clone();
                    if let Some(guard) = &case.guard {
                        self.visit_expr(guard);
                    }
                    let from = self.pending.clone();
                    after.extend(self.branch(&from, &case.body));
                }
                self.pending = after;
            }
            _ => {
                let target = match stmt {
                    Stmt::Assign(assign) => match assign.targets.as_slice() {
                        [target] => Some(target),
                        _ => None,
                    },
                    Stmt::AnnAssign(assign) => Some(&*assign.target),
                    _ => None,
                };
                self.handle = match target {
                    Some(Expr::Name(name)) => Some(name.id.as_str()),
                    _ => None,
                };
                visitor::walk_stmt(self, stmt);
                self.handle = None;
            }
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            // A lambda's body runs whenever it is called, not here.
            Expr::Lambda(_) => return,
            Expr::ListComp(comprehension) => {
                return self.comprehension(expr, &comprehension.generators, &[&comprehension.elt])
            }
            Expr::SetComp(comprehension) => {
                return self.comprehension(expr, &comprehension.generators, &[&comprehension.elt])
            }
            Expr::Generator(generator) => {
                return self.comprehension(expr, &generator.generators, &[&generator.elt])
            }
            Expr::DictComp(comprehension) => {
                let elements: Vec<&Expr> = comprehension
                    .key
                    .as_deref()
                    .into_iter()
                    .chain([&*comprehension.value])
                    .collect();
                return self.comprehension(expr, &comprehension.generators, &elements);
            }
            Expr::Await(awaited) => {
                self.awaits.push(range(awaited));
                visitor::walk_expr(self, expr);
                self.awaits.pop();
                return;
            }
            Expr::Call(call) => {
                if let Expr::Attribute(method) = &*call.func {
                    if let Expr::Call(inner) = &*method.value {
                        if WAIT_METHODS.contains(&method.attr.as_str()) {
                            self.receivers.insert(range(inner), range(call));
                        }
                    }
                }
                self.hand_off(call);
            }
            _ => {}
        }
        visitor::walk_expr(self, expr);
    }
}
