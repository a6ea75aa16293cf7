//! The Python checker: a `ContextVar.set` (or opentelemetry `context.attach`) whose token
//! is dropped, or whose restore an early exit or an exception can skip.

mod flow;
mod token;

use std::collections::{HashMap, HashSet};

use flow::{Frame, Outcome, Owner};

use crate::diagnostic::Diagnostic;
use crate::python::ast::{self, helpers, Expr, Stmt};
use crate::python::visitor::{self, Visitor};
use crate::python::{range, PyFileIndex, PythonContext};
use crate::registry::Rule;

const ATTACH: &str = "opentelemetry.context.attach";
const DETACH: &str = "opentelemetry.context.detach";

/// Calls that run the functions passed to them in a copy of the current context (or a
/// fresh one): `Context.run`, `asyncio.run`/`trio.run`, tasks, loop callbacks, and the
/// thread hand-offs that copy the context (`asyncio.to_thread`, `to_thread.run_sync`).
const RUNS_IN_COPY: &[&str] = &[
    "run",
    "run_until_complete",
    "run_coroutine_threadsafe",
    "to_thread",
    "run_sync",
    "to_thread_run_sync",
    "from_thread_run_sync",
    "from_thread_run",
    "create_task",
    "ensure_future",
    "gather",
    "start_soon",
    "start_server",
    "start_unix_server",
    "call_soon",
    "call_soon_threadsafe",
    "call_later",
    "call_at",
    "add_done_callback",
];

/// asyncio protocol methods: the event loop calls them from its own callbacks, each
/// connection's in a context of its own.
const LOOP_CALLBACKS: &[&str] = &[
    "connection_made",
    "connection_lost",
    "data_received",
    "eof_received",
    "datagram_received",
    "error_received",
    "buffer_updated",
];

/// Methods that end what a paired method began (`__enter__`/`__exit__`, `start`/`stop`,
/// `setUp`/`tearDown`): a set there restores the value, and a reset there answers the
/// set of its partner.
const ENDING_METHODS: &[&str] = &[
    "__exit__",
    "__aexit__",
    "stop",
    "close",
    "aclose",
    "detach",
    "deactivate",
    "restore",
    "reset",
    "pop",
    "teardown",
    "tearDown",
    "asyncTearDown",
    "tearDownClass",
    "teardown_method",
    "teardown_class",
];

/// Containers that a call with no positional arguments creates empty.
const EMPTY_CONTAINERS: &[&str] = &[
    "dict",
    "list",
    "set",
    "tuple",
    "frozenset",
    "deque",
    "OrderedDict",
    "Counter",
];

/// Checks one file.
pub(crate) fn check(context: &mut PythonContext<'_>) {
    let found = {
        let mut checker = Checker {
            context: &*context,
            facts: ModuleFacts::collect(context),
            undone_in: HashMap::new(),
            found: Vec::new(),
            unrestored: Vec::new(),
        };
        checker.visit_stmts(&context.ast.body, &HashSet::new(), None);
        checker.finish()
    };
    for diagnostic in found {
        context.report(diagnostic);
    }
}

/// What the module says about names, gathered before any function is checked.
#[derive(Default)]
struct ModuleFacts {
    /// Attributes bound to `ContextVar(..)` in a class body or on `self`/`cls`.
    var_attributes: HashSet<String>,
    /// The module's classes (`Class.var` reads a class attribute).
    classes: HashSet<String>,
    /// Functions passed to something that runs them in a copy of the context, or to a
    /// thread as its `target`: a set there fills that context, not the caller's.
    run_in_copy: HashSet<String>,
    /// Functions the module's top-level code calls (`main()` under
    /// `if __name__ == "__main__":`): they run as the program's start-up.
    called_at_module_level: HashSet<String>,
}

impl ModuleFacts {
    fn collect(context: &PythonContext<'_>) -> Self {
        let mut collector = FactsCollector {
            index: context.index,
            facts: ModuleFacts::default(),
            depth: 0,
        };
        collector.visit_body(&context.ast.body);
        collector.facts
    }
}

struct FactsCollector<'c> {
    index: &'c PyFileIndex,
    facts: ModuleFacts,
    /// Depth inside function definitions and lambdas.
    depth: usize,
}

impl<'a> Visitor<'a> for FactsCollector<'_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::ClassDef(class) => {
                self.facts.classes.insert(class.name.id.to_string());
                for item in &class.body {
                    if let Some((Expr::Name(name), value)) = binding(item) {
                        if self.index.is_context_var_call(value) {
                            self.facts.var_attributes.insert(name.id.to_string());
                        }
                    }
                }
            }
            Stmt::FunctionDef(_) => {
                self.depth += 1;
                visitor::walk_stmt(self, stmt);
                self.depth -= 1;
                return;
            }
            _ => {
                if let Some((Expr::Attribute(attribute), value)) = binding(stmt) {
                    if is_self(&attribute.value) && self.index.is_context_var_call(value) {
                        self.facts
                            .var_attributes
                            .insert(attribute.attr.id.to_string());
                    }
                }
            }
        }
        visitor::walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Lambda(_) => {
                self.depth += 1;
                visitor::walk_expr(self, expr);
                self.depth -= 1;
                return;
            }
            Expr::Call(call) => self.note_call(call),
            _ => {}
        }
        visitor::walk_expr(self, expr);
    }
}

impl FactsCollector<'_> {
    fn note_call(&mut self, call: &ast::ExprCall) {
        let arguments = &call.arguments;
        if self.depth == 0 {
            if let Expr::Name(name) = &*call.func {
                self.facts
                    .called_at_module_level
                    .insert(name.id.to_string());
            }
        }
        // `executor.submit(ctx.run, work)`: `work` runs inside `ctx`.
        let passes_run = arguments.args.iter().any(|argument| {
            matches!(argument, Expr::Attribute(attribute) if attribute.attr.id.as_str() == "run")
        });
        if passes_run || callee_name(call).is_some_and(|name| RUNS_IN_COPY.contains(&name)) {
            self.facts
                .run_in_copy
                .extend(arguments.args.iter().filter_map(function_named));
        }
        let targets = arguments
            .keywords
            .iter()
            .filter(|keyword| {
                keyword
                    .arg
                    .as_ref()
                    .is_some_and(|arg| arg.id.as_str() == "target")
            })
            .filter_map(|keyword| function_named(&keyword.value));
        self.facts.run_in_copy.extend(targets);
    }
}

/// What a call sets.
enum Setting {
    /// `var.set(value)` on a known `ContextVar`: `key` is the receiver's dotted name,
    /// `shown` the receiver as written.
    Var { key: String, shown: String },
    /// opentelemetry's `attach(ctx)`, `shown` as written.
    Attach { shown: String },
}

impl Setting {
    /// What restores and undos are matched by.
    fn key(&self) -> &str {
        match self {
            Setting::Var { key, .. } => key,
            Setting::Attach { .. } => ATTACH,
        }
    }

    fn call(&self) -> String {
        match self {
            Setting::Var { shown, .. } => format!("`{shown}.set(..)`"),
            Setting::Attach { shown } => format!("`{shown}(..)`"),
        }
    }

    fn undo(&self) -> String {
        match self {
            Setting::Var { shown, .. } => format!("`{shown}.reset`"),
            Setting::Attach { .. } => "`detach`".to_string(),
        }
    }

    fn previous(&self) -> &'static str {
        match self {
            Setting::Var { .. } => "the previous value",
            Setting::Attach { .. } => "the previous context",
        }
    }

    /// What is left in place when the restore is skipped.
    fn leftover(&self) -> String {
        match self {
            Setting::Var { shown, .. } => format!("`{shown}` set"),
            Setting::Attach { .. } => "the context attached".to_string(),
        }
    }

    fn help(&self) -> String {
        match self {
            Setting::Var { shown, .. } => format!(
                "keep the token and reset it in a `finally:` that starts right after the set: `token = {shown}.set(..)`, then `try: ... finally: {shown}.reset(token)`"
            ),
            Setting::Attach { shown } => format!(
                "keep the token and detach it in a `finally:` that starts right after attaching: `token = {shown}(ctx)`, then `try: ... finally: detach(token)`"
            ),
        }
    }
}

/// A function and the class it is a method of, by start offsets.
#[derive(Clone, Copy)]
struct Site {
    function: usize,
    class: Option<usize>,
}

/// The function being checked.
struct Function<'a> {
    def: &'a ast::StmtFunctionDef,
    site: Site,
    /// `ContextVar`s it creates (names and `self.attr`s): a set on one initialises it.
    created: HashSet<String>,
    /// `ContextVar`s it gets from outside: annotated parameters, enclosing functions' locals.
    received: HashSet<String>,
    /// A pytest fixture: pytest runs the code after its `yield` even when the test fails.
    fixture: bool,
}

struct Checker<'c, 'a> {
    context: &'c PythonContext<'a>,
    facts: ModuleFacts,
    /// Where values are undone apart from their sets, by key: a clear (`var.set(None)`)
    /// has no class and answers any other function, an ending method answers the other
    /// methods of its class.
    undone_in: HashMap<String, Vec<Site>>,
    found: Vec<Diagnostic>,
    /// Sets never restored in their own function, which an undo in a partner excuses.
    unrestored: Vec<(String, Site, Diagnostic)>,
}

impl<'a> Checker<'_, 'a> {
    /// Checks every function under `stmts`; `enclosing` holds the `ContextVar`s the
    /// enclosing functions create, which closures see, and `class` the class whose body
    /// `stmts` are in.
    fn visit_stmts(
        &mut self,
        stmts: &'a [Stmt],
        enclosing: &HashSet<String>,
        class: Option<usize>,
    ) {
        for stmt in stmts {
            match stmt {
                Stmt::FunctionDef(def) => {
                    let function = self.function(def, enclosing, class);
                    self.check_function(&function);
                    let mut inner = enclosing.clone();
                    inner.extend(function.created);
                    self.visit_stmts(&def.body, &inner, None);
                }
                Stmt::ClassDef(def) => {
                    self.visit_stmts(&def.body, enclosing, Some(def.range.start().to_usize()));
                }
                _ => {
                    for (block, _) in flow::blocks(stmt) {
                        self.visit_stmts(block, enclosing, class);
                    }
                }
            }
        }
    }

    fn function(
        &self,
        def: &'a ast::StmtFunctionDef,
        enclosing: &HashSet<String>,
        class: Option<usize>,
    ) -> Function<'a> {
        let mut locals = LocalVars {
            index: self.context.index,
            created: HashSet::new(),
        };
        locals.visit_body(&def.body);
        let mut received = enclosing.clone();
        received.extend(
            def.parameters
                .iter()
                .filter(|parameter| {
                    parameter.annotation().is_some_and(|annotation| {
                        self.context
                            .index
                            .resolve(helpers::map_subscript(annotation))
                            .as_deref()
                            == Some("contextvars.ContextVar")
                    })
                })
                .map(|parameter| parameter.name().id.to_string()),
        );
        let fixture = def.decorator_list.iter().any(|decorator| {
            self.context
                .index
                .resolve(helpers::map_callable(&decorator.expression))
                .is_some_and(|name| name.starts_with("pytest") && name.ends_with("fixture"))
        });
        Function {
            def,
            site: Site {
                function: def.range.start().to_usize(),
                class,
            },
            created: locals.created,
            received,
            fixture,
        }
    }

    fn check_function(&mut self, function: &Function<'a>) {
        self.record_undos(function);
        let mut frames = Vec::new();
        self.walk(&function.def.body, Owner::Plain, &mut frames, function);
    }

    fn walk(
        &mut self,
        block: &'a [Stmt],
        owner: Owner<'a>,
        frames: &mut Vec<Frame<'a>>,
        function: &Function<'a>,
    ) {
        for (at, stmt) in block.iter().enumerate() {
            frames.push(Frame { block, at, owner });
            self.check_stmt(stmt, frames, function);
            for (inner, owner) in flow::blocks(stmt) {
                self.walk(inner, owner, frames, function);
            }
            frames.pop();
        }
    }

    /// Notes where `function` undoes a set made elsewhere: a clear (`var.set(None)`)
    /// answers the module's other functions; a set, reset or detach in an ending method
    /// answers the other methods of its class.
    fn record_undos(&mut self, function: &Function<'_>) {
        let mut calls = OwnCalls::default();
        calls.visit_body(&function.def.body);
        let ending = ENDING_METHODS.contains(&function.def.name.id.as_str());
        for call in calls.0 {
            let key = match &*call.func {
                Expr::Attribute(attribute) => {
                    let undoes = match attribute.attr.id.as_str() {
                        "set" => ending || call.arguments.args.first().is_some_and(clears),
                        "reset" => ending,
                        _ => false,
                    };
                    undoes
                        .then(|| self.context.index.resolve(&attribute.value))
                        .flatten()
                }
                _ => None,
            };
            let key = key.or_else(|| {
                (ending && self.context.index.resolve(&call.func).as_deref() == Some(DETACH))
                    .then(|| ATTACH.to_string())
            });
            if let Some(key) = key {
                let site = Site {
                    class: function.site.class.filter(|_| ending),
                    ..function.site
                };
                self.undone_in.entry(key).or_default().push(site);
            }
        }
    }

    /// Checks `stmt` if it is a set whose token is discarded or bound to a name.
    fn check_stmt(&mut self, stmt: &'a Stmt, frames: &[Frame<'a>], function: &Function<'a>) {
        let (value, token) = match (stmt, binding(stmt)) {
            (Stmt::Expr(expr), _) => (&*expr.value, None),
            (_, Some((Expr::Name(name), value))) => (value, Some(name.id.as_str())),
            _ => return,
        };
        let Expr::Call(call) = value else { return };
        let Some(setting) = self.setting(call, function) else {
            return;
        };
        if self.excused(call, &setting, token, frames, function) {
            return;
        }
        let is_restore = |candidate: &ast::ExprCall| {
            range(candidate) != range(call) && self.restores(candidate, &setting, token)
        };
        let has_restore = flow::contains_restore(&function.def.body, &is_restore);
        let help = setting.help();
        let found = match flow::follow(frames, &is_restore, function.fixture) {
            Outcome::Guarded | Outcome::Restored | Outcome::Endless => return,
            Outcome::Exit(at, exit) if has_restore => {
                let message = format!(
                    "{} skips the restore after {}, leaving {}",
                    exit.describe(),
                    setting.call(),
                    setting.leftover()
                );
                Diagnostic::new(Rule::SetWithoutReset, range(call), message)
                    .with_label(at, "leaves without restoring")
            }
            Outcome::RestoredLate(at) => {
                let message = format!(
                    "the restore after {} is outside a `finally:`, so an exception raised before it leaves {}",
                    setting.call(),
                    setting.leftover()
                );
                Diagnostic::new(Rule::SetWithoutReset, range(call), message)
                    .with_label(at, "skipped when an exception is raised before it")
            }
            Outcome::Exit(..) | Outcome::Open => {
                let message = match token {
                    None => format!(
                        "the token from {} is discarded, so {} is never restored",
                        setting.call(),
                        setting.previous()
                    ),
                    Some(_) if has_restore => format!(
                        "not every path after {} restores {}",
                        setting.call(),
                        setting.previous()
                    ),
                    Some(token) => format!(
                        "the token `{token}` from {} is never passed to {}, so {} is never restored",
                        setting.call(),
                        setting.undo(),
                        setting.previous()
                    ),
                };
                let found =
                    Diagnostic::new(Rule::SetWithoutReset, range(call), message).with_help(help);
                self.unrestored
                    .push((setting.key().to_string(), function.site, found));
                return;
            }
        };
        self.found.push(found.with_help(help));
    }

    /// What `call` sets, if it is a set of a `ContextVar` the function did not create
    /// itself, or opentelemetry's `attach`.
    fn setting(&self, call: &ast::ExprCall, function: &Function<'_>) -> Option<Setting> {
        let arguments = &call.arguments;
        if arguments.args.len() != 1 || !arguments.keywords.is_empty() {
            return None;
        }
        if let Expr::Attribute(attribute) = &*call.func {
            let receiver = &*attribute.value;
            if attribute.attr.id.as_str() == "set" && self.is_received_var(receiver, function) {
                return Some(Setting::Var {
                    key: self.context.index.resolve(receiver).unwrap_or_default(),
                    shown: self.text(receiver),
                });
            }
        }
        (self.context.index.resolve(&call.func).as_deref() == Some(ATTACH)).then(|| {
            Setting::Attach {
                shown: self.text(&call.func),
            }
        })
    }

    /// Whether `receiver` is a `ContextVar` that existed before the function ran: one
    /// the function creates has no earlier value to restore.
    fn is_received_var(&self, receiver: &Expr, function: &Function<'_>) -> bool {
        let written = self.text(receiver);
        if function.created.contains(&written) {
            return false;
        }
        if function.received.contains(&written)
            || self
                .context
                .index
                .is_context_var(receiver, self.context.project)
        {
            return true;
        }
        match receiver {
            Expr::Attribute(attribute) => {
                self.facts
                    .var_attributes
                    .contains(attribute.attr.id.as_str())
                    && (is_self(&attribute.value)
                        || matches!(&*attribute.value, Expr::Name(class)
                            if self.facts.classes.contains(class.id.as_str())))
            }
            _ => false,
        }
    }

    /// Sets that are not leaks: in a function that runs in a context of its own or as
    /// start-up code, in an ending method or a `finally:` (restores), in
    /// `except LookupError:` or under a test of the current value (filling a value the
    /// context lacks, a per-context cache), clearing, updating the current value (which
    /// includes putting a saved `get()` back), and tokens handed on to be reset elsewhere.
    fn excused(
        &self,
        call: &ast::ExprCall,
        setting: &Setting,
        token: Option<&str>,
        frames: &[Frame<'_>],
        function: &Function<'_>,
    ) -> bool {
        let name = function.def.name.id.as_str();
        // Test runners run each async test as a task of its own.
        let async_test = function.def.is_async && name.starts_with("test");
        if async_test
            || self.facts.run_in_copy.contains(name)
            || self.facts.called_at_module_level.contains(name)
            || ENDING_METHODS.contains(&name)
            || (function.site.class.is_some() && LOOP_CALLBACKS.contains(&name))
        {
            return true;
        }
        let in_restoring_block = frames.iter().any(|frame| match frame.owner {
            Owner::Finally => true,
            Owner::Handler(_, handler) => {
                handler.type_.as_deref().is_some_and(catches_lookup_error)
            }
            Owner::Try(_) | Owner::Plain => false,
        });
        if in_restoring_block {
            return true;
        }
        if let Some(token) = token {
            return token::handed_over(&function.def.body, token);
        }
        let Some(value) = call.arguments.args.first() else {
            return false;
        };
        if clears(value) {
            return true;
        }
        let Setting::Var { key, .. } = setting else {
            return false;
        };
        let current = CurrentValue::new(self.context.index, key, &function.def.body);
        // The statements enclosing the set: a frame's statement owns the next frame.
        let mut enclosing = frames
            .iter()
            .take(frames.len().saturating_sub(1))
            .filter_map(|frame| frame.block.get(frame.at));
        current.reads(value)
            || enclosing.any(|stmt| match stmt {
                Stmt::If(branch) => {
                    current.reads(&branch.test)
                        || branch
                            .elif_else_clauses
                            .iter()
                            .filter_map(|clause| clause.test.as_ref())
                            .any(|test| current.reads(test))
                }
                Stmt::While(run) => current.reads(&run.test),
                _ => false,
            })
    }

    /// Whether `candidate` undoes `setting` (whose token, if kept, is `token`).
    fn restores(&self, candidate: &ast::ExprCall, setting: &Setting, token: Option<&str>) -> bool {
        let passes_token = || {
            token.is_some_and(|token| {
                matches!(candidate.arguments.args.first(),
                    Some(Expr::Name(name)) if name.id.as_str() == token)
            })
        };
        match setting {
            Setting::Var { key, .. } => match &*candidate.func {
                Expr::Attribute(attribute) => match attribute.attr.id.as_str() {
                    "reset" => {
                        passes_token()
                            || self.context.index.resolve(&attribute.value).as_deref() == Some(key)
                    }
                    "set" => self.context.index.resolve(&attribute.value).as_deref() == Some(key),
                    _ => false,
                },
                _ => false,
            },
            Setting::Attach { .. } => {
                self.context.index.resolve(&candidate.func).as_deref() == Some(DETACH)
                    || (passes_token() && callee_name(candidate) == Some("detach"))
            }
        }
    }

    /// The findings, without the unrestored sets a partner function undoes.
    fn finish(mut self) -> Vec<Diagnostic> {
        for (key, set_in, found) in std::mem::take(&mut self.unrestored) {
            let paired = self.undone_in.get(&key).is_some_and(|undos| {
                undos.iter().any(|undo| {
                    undo.function != set_in.function
                        && (undo.class.is_none() || undo.class == set_in.class)
                })
            });
            if !paired {
                self.found.push(found);
            }
        }
        self.found
    }

    fn text(&self, expr: &Expr) -> String {
        self.context
            .source
            .text()
            .get(range(expr))
            .unwrap_or_default()
            .to_string()
    }
}

/// `ContextVar`s a function body creates (`var = ContextVar(..)`,
/// `self.var = ContextVar(..)`), as written, not looking into nested definitions.
struct LocalVars<'c> {
    index: &'c PyFileIndex,
    created: HashSet<String>,
}

impl<'a> Visitor<'a> for LocalVars<'_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if matches!(stmt, Stmt::FunctionDef(_) | Stmt::ClassDef(_)) {
            return;
        }
        if let Some((target, value)) = binding(stmt) {
            if self.index.is_context_var_call(value) {
                match target {
                    Expr::Name(name) => {
                        self.created.insert(name.id.to_string());
                    }
                    Expr::Attribute(attribute) => {
                        if let Expr::Name(base) = &*attribute.value {
                            self.created
                                .insert(format!("{}.{}", base.id, attribute.attr.id));
                        }
                    }
                    _ => {}
                }
            }
        }
        visitor::walk_stmt(self, stmt);
    }
}

/// The calls of a function body, not of nested definitions.
#[derive(Default)]
struct OwnCalls<'a>(Vec<&'a ast::ExprCall>);

impl<'a> Visitor<'a> for OwnCalls<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if !matches!(stmt, Stmt::FunctionDef(_) | Stmt::ClassDef(_)) {
            visitor::walk_stmt(self, stmt);
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if let Expr::Call(call) = expr {
            self.0.push(call);
        }
        visitor::walk_expr(self, expr);
    }
}

/// What a function knows of a variable's current value: the names it binds from
/// expressions that read it (`jobs = pending.get()`, then `jobs = list(jobs)`).
struct CurrentValue<'k> {
    index: &'k PyFileIndex,
    key: &'k str,
    names: HashSet<String>,
}

impl<'k> CurrentValue<'k> {
    fn new(index: &'k PyFileIndex, key: &'k str, body: &[Stmt]) -> Self {
        let mut current = CurrentValue {
            index,
            key,
            names: HashSet::new(),
        };
        let mut bindings = Bindings::default();
        bindings.visit_body(body);
        // Names bound from names bound from the variable, to a fixed point.
        loop {
            let found: Vec<String> = bindings
                .0
                .iter()
                .filter(|(name, value)| !current.names.contains(*name) && current.reads(value))
                .map(|(name, _)| name.to_string())
                .collect();
            if found.is_empty() {
                return current;
            }
            current.names.extend(found);
        }
    }

    /// Whether `expr` uses the current value: `var.get()` or a name bound from it.
    fn reads(&self, expr: &Expr) -> bool {
        helpers::any_over_expr(expr, &|inner: &Expr| match inner {
            Expr::Name(name) => self.names.contains(name.id.as_str()),
            Expr::Call(read) => matches!(&*read.func, Expr::Attribute(get)
                if get.attr.id.as_str() == "get"
                    && self.index.resolve(&get.value).as_deref() == Some(self.key)),
            _ => false,
        })
    }
}

/// The `name = value` bindings of a function body.
#[derive(Default)]
struct Bindings<'a>(Vec<(&'a str, &'a Expr)>);

impl<'a> Visitor<'a> for Bindings<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if let Some((Expr::Name(name), value)) = binding(stmt) {
            self.0.push((name.id.as_str(), value));
        }
        visitor::walk_stmt(self, stmt);
    }
}

/// `target = value` or `target: T = value` with one target.
fn binding(stmt: &Stmt) -> Option<(&Expr, &Expr)> {
    match stmt {
        Stmt::Assign(assign) => match &assign.targets[..] {
            [target] => Some((target, &*assign.value)),
            _ => None,
        },
        Stmt::AnnAssign(assign) => Some((&*assign.target, assign.value.as_deref()?)),
        _ => None,
    }
}

/// `self` or `cls`.
fn is_self(expr: &Expr) -> bool {
    matches!(expr, Expr::Name(name) if matches!(name.id.as_str(), "self" | "cls"))
}

/// A value that clears rather than sets: `None`, `...`, an empty literal or container
/// (`set()`, `deque(maxlen=5)`).
fn clears(value: &Expr) -> bool {
    match value {
        Expr::NoneLiteral(_) | Expr::EllipsisLiteral(_) => true,
        Expr::Dict(dict) => dict.items.is_empty(),
        Expr::List(list) => list.elts.is_empty(),
        Expr::Tuple(tuple) => tuple.elts.is_empty(),
        Expr::Call(call) => {
            call.arguments.args.is_empty()
                && callee_name(call).is_some_and(|name| EMPTY_CONTAINERS.contains(&name))
        }
        _ => false,
    }
}

/// `except LookupError:` (alone or in a tuple).
fn catches_lookup_error(types: &Expr) -> bool {
    let is_lookup =
        |expr: &Expr| matches!(expr, Expr::Name(name) if name.id.as_str() == "LookupError");
    match types {
        Expr::Tuple(tuple) => tuple.elts.iter().any(is_lookup),
        other => is_lookup(other),
    }
}

/// The last name of what `call` calls: `run` for `ctx.run(..)`, `attach` for `attach(..)`.
fn callee_name(call: &ast::ExprCall) -> Option<&str> {
    match &*call.func {
        Expr::Attribute(attribute) => Some(attribute.attr.id.as_str()),
        Expr::Name(name) => Some(name.id.as_str()),
        _ => None,
    }
}

/// The function an argument names: `work`, `self.work`, `main()` (a coroutine object),
/// `functools.partial(work, ..)`.
fn function_named(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Name(name) => Some(name.id.to_string()),
        Expr::Attribute(attribute) => Some(attribute.attr.id.to_string()),
        Expr::Call(call) if callee_name(call) == Some("partial") => {
            call.arguments.args.first().and_then(function_named)
        }
        Expr::Call(call) => function_named(&call.func),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::linter;
    use crate::registry::Rule;
    use crate::settings::Settings;

    /// Lints `files` (path, text) as one run in a fresh directory named after `test`;
    /// the `file:row` of each CTX001.
    fn findings(test: &str, files: &[(&str, &str)]) -> Vec<String> {
        let root =
            std::env::temp_dir().join(format!("ctxlint-ctx001-{test}-{}", std::process::id()));
        for (path, text) in files {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("a directory");
            std::fs::write(path, text).expect("written");
        }
        let report =
            linter::check(std::slice::from_ref(&root), &Settings::default()).expect("lint runs");
        std::fs::remove_dir_all(&root).expect("removed");
        report
            .findings
            .iter()
            .filter(|finding| finding.rule == Rule::SetWithoutReset)
            .map(|finding| {
                let path = finding
                    .source
                    .path()
                    .strip_prefix(&root)
                    .expect("under root");
                format!("{}:{}", path.display(), finding.start.row)
            })
            .collect()
    }

    const CTX: &str =
        "import contextvars\n\nrequest_id = contextvars.ContextVar('request_id', default=None)\n";

    #[test]
    fn a_context_var_imported_from_another_module_of_the_run_is_checked() {
        let views = "from app.ctx import request_id\nfrom app import ctx\n\n\
def leak(request):\n    request_id.set(request.id)\n\n\
def leak_through_module(request):\n    ctx.request_id.set(request.id)\n\n\
def scoped(request):\n    token = request_id.set(request.id)\n    try:\n        return request.run()\n    finally:\n        request_id.reset(token)\n";
        let found = findings(
            "imported",
            &[
                ("app/__init__.py", ""),
                ("app/ctx.py", CTX),
                ("app/views.py", views),
            ],
        );
        assert_eq!(found, ["app/views.py:5", "app/views.py:8"]);
    }

    #[test]
    fn only_context_vars_of_the_run_count() {
        // Through `import app.ctx` and an alias: still the run's `ContextVar`. A
        // same-named attribute of another object and a `set` of a plain object are not.
        let jobs = "import app.ctx\nfrom app.ctx import request_id as rid\nfrom app import cache\n\n\
def job(value):\n    app.ctx.request_id.set(value)\n\ndef other_job(value):\n    rid.set(value)\n    cache.request_id.set(value)\n    cache.store.set(value)\n";
        let cache = "class Store:\n    def set(self, value):\n        self.value = value\n\nstore = Store()\nrequest_id = Store()\n";
        let found = findings(
            "only-vars",
            &[
                ("app/__init__.py", ""),
                ("app/ctx.py", CTX),
                ("app/cache.py", cache),
                ("app/jobs.py", jobs),
            ],
        );
        assert_eq!(found, ["app/jobs.py:6", "app/jobs.py:9"]);
    }
}
