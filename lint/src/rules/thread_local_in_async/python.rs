//! The Python checker.
//!
//! A *thread-local* is an object made by `threading.local()` (or a subclass defined in the same
//! module): a module-level name (known run-wide, through imports), a class attribute
//! (`tl = threading.local()` in a class body, reached as `Class.tl`, `self.tl` or `cls.tl`) or
//! an instance attribute (`self.tl = threading.local()` in a method, reached as `self.tl` in the
//! class's own methods). Its attributes are keyed by the thread-local's dotted name plus the
//! attribute: `module.name.attr`, `module.Class.name.attr` (the keys of the run-wide fact
//! `async_written_locals`).
//!
//! Every `async def` body is walked in evaluation order (`flow.rs`). A *task write* still in
//! place when the coroutine suspends (an `await`, `async for`, `async with`, or the `yield` of
//! an async generator) is reported — every task of the event loop runs on this thread — and
//! makes the attribute *async-written*, which turns a read in async code into a finding.
//! `asgiref.local.Local` and `contextvars` are what the help recommends, and never match.
//! Coroutines handed to `asyncio.run` (the parent of every task) and test files are not task
//! code.

mod flow;

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::Path;

use crate::diagnostic::Diagnostic;
use crate::python::ast::{self, Expr, Stmt};
use crate::python::visitor::{self, Visitor};
use crate::python::{range, PyFileIndex, PyProjectIndex, PythonContext};
use crate::registry::Rule;
use crate::test_paths::is_test_path;

/// Adds the attributes this module's async code writes to its index.
pub(crate) fn collect_facts(ast: &ast::ModModule, index: &mut PyFileIndex) {
    if is_test_path(Path::new(&index.module.replace('.', "/"))) {
        return;
    }
    let written: Vec<String> = {
        let locals = Locals::new(ast, index, None);
        analyze(ast, &locals)
            .writes
            .into_iter()
            .map(|write| write.access.key)
            .collect()
    };
    index.async_written_locals.extend(written);
}

/// Checks one file.
pub(crate) fn check(context: &mut PythonContext<'_>) {
    // A test coroutine is the first task of its own event loop, like `asyncio.run`'s.
    if is_test_path(context.source.path()) {
        return;
    }
    let locals = Locals::new(context.ast, context.index, Some(context.project));
    let outcome = analyze(context.ast, &locals);
    let text = context.source.text();

    let mut first_write: HashMap<&str, Range<usize>> = HashMap::new();
    for write in &outcome.writes {
        first_write
            .entry(&write.access.key)
            .or_insert_with(|| write.range.clone());
        let message = format!(
            "`{}` is a `threading.local` attribute written in async code and still set when \
             the task suspends: other tasks running on this thread meanwhile see this task's \
             value",
            write.access.display(text)
        );
        context.report(
            Diagnostic::new(Rule::ThreadLocalInAsync, write.range.clone(), message)
                .with_help(
                    "keep per-task state in a `contextvars.ContextVar` (set it, and reset it with \
                     the token), or in an `asgiref.local.Local`, which is task-local in async code",
                )
                .with_label(
                    write.suspends_at.clone(),
                    "other tasks run on this thread while this task waits here",
                ),
        );
    }

    for read in &outcome.reads {
        if !context
            .project
            .async_written_locals
            .contains(&read.access.key)
        {
            continue;
        }
        let message = format!(
            "`{}` is a `threading.local` attribute read in async code, but async code also \
             writes it: this task may see the value another task left on this thread",
            read.access.display(text)
        );
        let mut diagnostic = Diagnostic::new(Rule::ThreadLocalInAsync, read.range.clone(), message)
            .with_help(
                "read per-task state from a `contextvars.ContextVar` (or an `asgiref.local.Local`), \
                 so each task sees its own value",
            );
        if let Some(written) = first_write.get(read.access.key.as_str()) {
            diagnostic = diagnostic.with_label(written.clone(), "written in async code here");
        }
        context.report(diagnostic);
    }
}

/// An attribute of a thread-local, as an expression reaches it.
#[derive(Debug, Clone)]
struct Access {
    /// `module.name.attr`: the same in every module of the run.
    key: String,
    /// The thread-local expression (`self._local`, `state`).
    base: Range<usize>,
    attr: String,
}

impl Access {
    /// How the source spells it: `state.user`, also for `getattr(state, "user")`.
    fn display(&self, text: &str) -> String {
        let base = text.get(self.base.clone()).unwrap_or_default();
        format!("{base}.{}", self.attr)
    }
}

/// What one module's async code does with thread-local attributes.
#[derive(Default)]
struct Outcome {
    writes: Vec<Write>,
    /// Reads that may see another task's value, if any async code writes the attribute.
    reads: Vec<Read>,
}

/// A task write still in place when its coroutine suspends.
struct Write {
    access: Access,
    range: Range<usize>,
    suspends_at: Range<usize>,
}

struct Read {
    access: Access,
    range: Range<usize>,
}

fn analyze(ast: &ast::ModModule, locals: &Locals<'_>) -> Outcome {
    let mut entry_points = EntryPoints {
        index: locals.index,
        names: HashSet::new(),
    };
    entry_points.visit_body(&ast.body);
    let mut outcome = Outcome::default();
    for function in &locals.definitions.functions {
        let entry_point =
            function.receiver.is_none() && entry_points.names.contains(function.def.name.as_str());
        if function.def.is_async && !entry_point {
            let resolver = Resolver::new(locals, function);
            flow::walk(&resolver, &function.def.body, &mut outcome);
        }
    }
    outcome
}

/// The coroutine functions a module hands straight to an event loop (`asyncio.run(main())`,
/// `loop.run_until_complete(main())`, `anyio.run(main)`): they run before, or as the parent of,
/// every other task, so what they store is the program's, not one task's.
struct EntryPoints<'a> {
    index: &'a PyFileIndex,
    names: HashSet<String>,
}

impl<'a> Visitor<'a> for EntryPoints<'_> {
    fn visit_expr(&mut self, expr: &'a Expr) {
        if let Expr::Call(call) = expr {
            let runs_a_loop = match self.index.resolve(&call.func).as_deref() {
                Some("asyncio.run" | "anyio.run" | "trio.run" | "uvloop.run") => true,
                _ => {
                    matches!(&*call.func, Expr::Attribute(method) if method.attr.as_str() == "run_until_complete")
                }
            };
            let function = match call.arguments.args.first() {
                Some(Expr::Call(coroutine)) => Some(&*coroutine.func),
                function => function,
            };
            if let (true, Some(Expr::Name(name))) = (runs_a_loop, function) {
                self.names.insert(name.id.to_string());
            }
        }
        visitor::walk_expr(self, expr);
    }
}

/// Which expressions name a thread-local in one module.
struct Locals<'a> {
    index: &'a PyFileIndex,
    /// Run-wide module-level thread-locals (in `check`); `None` while collecting facts, when
    /// other modules are not indexed yet: then any name imported from elsewhere may be one
    /// (`check` only asks about keys of real ones).
    project: Option<&'a PyProjectIndex>,
    /// Thread-locals held by this module's classes: `module.Class` → attribute names.
    class_attrs: HashMap<String, HashSet<String>>,
    definitions: Definitions<'a>,
}

impl<'a> Locals<'a> {
    fn new(
        ast: &'a ast::ModModule,
        index: &'a PyFileIndex,
        project: Option<&'a PyProjectIndex>,
    ) -> Self {
        let mut definitions = Definitions {
            module: &index.module,
            frames: Vec::new(),
            functions: Vec::new(),
            classes: Vec::new(),
        };
        definitions.visit_body(&ast.body);

        let mut class_attrs: HashMap<String, HashSet<String>> = HashMap::new();
        for (path, class) in &definitions.classes {
            for stmt in &class.body {
                let (target, value) = match stmt {
                    Stmt::Assign(assign) if assign.targets.len() == 1 => {
                        (&assign.targets[0], Some(&*assign.value))
                    }
                    Stmt::AnnAssign(assign) => (&*assign.target, assign.value.as_deref()),
                    _ => continue,
                };
                if let (Expr::Name(name), Some(value)) = (target, value) {
                    if index.is_thread_local_call(value) {
                        class_attrs
                            .entry(path.clone())
                            .or_default()
                            .insert(name.id.to_string());
                    }
                }
            }
        }
        for function in &definitions.functions {
            if let Some(receiver) = &function.receiver {
                let mut found = InstanceLocals {
                    index,
                    receiver: &receiver.name,
                    attrs: Vec::new(),
                };
                found.visit_body(&function.def.body);
                class_attrs
                    .entry(receiver.class.clone())
                    .or_default()
                    .extend(found.attrs);
            }
        }
        Locals {
            index,
            project,
            class_attrs,
            definitions,
        }
    }

    /// Whether the dotted `name` is `module.Class.attr` of a thread-local a class holds.
    fn is_class_attr(&self, name: &str) -> bool {
        name.rsplit_once('.').is_some_and(|(class, attr)| {
            self.class_attrs
                .get(class)
                .is_some_and(|attrs| attrs.contains(attr))
        })
    }

    /// Whether `expr`, which stands for the dotted `name` and starts at the name `root`, is a
    /// thread-local.
    fn is_thread_local(&self, expr: &Expr, name: &str, root: &str) -> bool {
        self.is_class_attr(name)
            || match self.project {
                Some(project) => self.index.is_thread_local(expr, project),
                None => {
                    self.index.imports.contains_key(root)
                        || self
                            .index
                            .thread_locals
                            .iter()
                            .any(|local| self.index.qualify(local) == name)
                }
            }
    }
}

/// Every function and class of a module, with what `self` means in each function.
struct Definitions<'a> {
    module: &'a str,
    frames: Vec<Frame>,
    functions: Vec<Function<'a>>,
    /// Classes by dotted path (`module.Outer.Inner`).
    classes: Vec<(String, &'a ast::StmtClassDef)>,
}

enum Frame {
    Class(String),
    Function(Option<Receiver>),
}

struct Function<'a> {
    def: &'a ast::StmtFunctionDef,
    receiver: Option<Receiver>,
}

/// The parameter naming the instance (or class) in a method and the functions nested in it.
#[derive(Clone)]
struct Receiver {
    name: String,
    /// The class's dotted path.
    class: String,
}

impl<'a> Visitor<'a> for Definitions<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::ClassDef(class) => {
                let prefix = match self.frames.last() {
                    Some(Frame::Class(path)) => path.as_str(),
                    _ => self.module,
                };
                let path = if prefix.is_empty() {
                    class.name.id.to_string()
                } else {
                    format!("{prefix}.{}", class.name.id)
                };
                self.classes.push((path.clone(), class));
                self.frames.push(Frame::Class(path));
                self.visit_body(&class.body);
                self.frames.pop();
            }
            Stmt::FunctionDef(def) => {
                let receiver = self.receiver_of(def);
                self.functions.push(Function {
                    def,
                    receiver: receiver.clone(),
                });
                self.frames.push(Frame::Function(receiver));
                self.visit_body(&def.body);
                self.frames.pop();
            }
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    // Definitions are statements: no expression holds one.
    fn visit_expr(&mut self, _: &'a Expr) {}
}

impl Definitions<'_> {
    fn receiver_of(&self, def: &ast::StmtFunctionDef) -> Option<Receiver> {
        let parameters = &def.parameters;
        match self.frames.last()? {
            Frame::Class(class) => {
                let static_method = def.decorator_list.iter().any(|decorator| {
                    matches!(&decorator.expression, Expr::Name(name) if name.id.as_str() == "staticmethod")
                });
                let first = parameters
                    .posonlyargs
                    .iter()
                    .chain(&parameters.args)
                    .next()?;
                (!static_method).then(|| Receiver {
                    name: first.parameter.name.id.to_string(),
                    class: class.clone(),
                })
            }
            // A closure inside a method sees its `self`, unless a parameter shadows it.
            Frame::Function(receiver) => receiver
                .clone()
                .filter(|receiver| !parameter_names(parameters).any(|name| name == receiver.name)),
        }
    }
}

fn parameter_names(parameters: &ast::Parameters) -> impl Iterator<Item = &str> {
    parameters
        .posonlyargs
        .iter()
        .chain(&parameters.args)
        .chain(&parameters.kwonlyargs)
        .map(|parameter| &parameter.parameter)
        .chain(parameters.vararg.as_deref())
        .chain(parameters.kwarg.as_deref())
        .map(|parameter| parameter.name.id.as_str())
}

/// `self.NAME = threading.local()` anywhere in a method.
struct InstanceLocals<'a> {
    index: &'a PyFileIndex,
    receiver: &'a str,
    attrs: Vec<String>,
}

impl<'a> Visitor<'a> for InstanceLocals<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if let Stmt::Assign(assign) = stmt {
            if self.index.is_thread_local_call(&assign.value) {
                for target in &assign.targets {
                    if let Expr::Attribute(attribute) = target {
                        if matches!(&*attribute.value, Expr::Name(name) if name.id.as_str() == self.receiver)
                        {
                            self.attrs.push(attribute.attr.id.to_string());
                        }
                    }
                }
            }
        }
        visitor::walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, _: &'a Expr) {}
}

/// Which thread-local attribute an expression reaches, inside one function.
struct Resolver<'a> {
    locals: &'a Locals<'a>,
    receiver: Option<&'a Receiver>,
    /// Names the function binds itself (parameters, assignments): they hide module names.
    bound: HashSet<String>,
}

/// The builtins that reach an attribute by its name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Builtin {
    Getattr,
    Hasattr,
    Setattr,
    Delattr,
}

impl<'a> Resolver<'a> {
    fn new(locals: &'a Locals<'a>, function: &'a Function<'a>) -> Self {
        let mut bindings = Bindings::default();
        bindings.visit_body(&function.def.body);
        let mut bound: HashSet<String> = parameter_names(&function.def.parameters)
            .map(str::to_string)
            .collect();
        bound.extend(bindings.stored);
        for name in &bindings.globals {
            bound.remove(name);
        }
        Resolver {
            locals,
            receiver: function.receiver.as_ref(),
            bound,
        }
    }

    /// The dotted name of the thread-local `expr` stands for.
    fn thread_local(&self, expr: &Expr) -> Option<String> {
        if let (Expr::Attribute(attribute), Some(receiver)) = (expr, self.receiver) {
            if matches!(&*attribute.value, Expr::Name(name) if name.id.as_str() == receiver.name) {
                let name = format!("{}.{}", receiver.class, attribute.attr.id);
                return self.locals.is_class_attr(&name).then_some(name);
            }
        }
        let root = root_name(expr)?;
        if self.bound.contains(root) {
            return None;
        }
        let name = self.locals.index.resolve(expr)?;
        self.locals
            .is_thread_local(expr, &name, root)
            .then_some(name)
    }

    /// `local.attr`.
    fn attribute(&self, attribute: &ast::ExprAttribute) -> Option<Access> {
        let base = self.thread_local(&attribute.value)?;
        let attr = attribute.attr.id.to_string();
        Some(Access {
            key: format!("{base}.{attr}"),
            base: range(&*attribute.value),
            attr,
        })
    }

    /// `getattr(local, "attr", ..)` and the like, with the attribute's name spelled out.
    fn builtin_call(&self, call: &ast::ExprCall) -> Option<(Builtin, Access)> {
        let builtin = match self.locals.index.resolve(&call.func)?.as_str() {
            "getattr" => Builtin::Getattr,
            "hasattr" => Builtin::Hasattr,
            "setattr" => Builtin::Setattr,
            "delattr" => Builtin::Delattr,
            _ => return None,
        };
        let [object, Expr::StringLiteral(name), ..] = &*call.arguments.args else {
            return None;
        };
        let base = self.thread_local(object)?;
        let attr = name.value.to_str().to_string();
        Some((
            builtin,
            Access {
                key: format!("{base}.{attr}"),
                base: range(object),
                attr,
            },
        ))
    }

    /// The attribute `expr` reads: `local.attr`, `getattr(local, "attr")`,
    /// `hasattr(local, "attr")`.
    fn read(&self, expr: &Expr) -> Option<Access> {
        match expr {
            Expr::Attribute(attribute) if attribute.ctx.is_load() => self.attribute(attribute),
            Expr::Call(call) => match self.builtin_call(call)? {
                (Builtin::Getattr | Builtin::Hasattr, access) => Some(access),
                _ => None,
            },
            _ => None,
        }
    }
}

/// The name an attribute chain starts from.
fn root_name(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Name(name) => Some(name.id.as_str()),
        Expr::Attribute(attribute) => root_name(&attribute.value),
        _ => None,
    }
}

/// The names a function body assigns (not those of nested functions), and its `global`s.
#[derive(Default)]
struct Bindings {
    stored: HashSet<String>,
    globals: HashSet<String>,
}

impl<'a> Visitor<'a> for Bindings {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(def) => {
                self.stored.insert(def.name.id.to_string());
            }
            Stmt::ClassDef(class) => {
                self.stored.insert(class.name.id.to_string());
            }
            Stmt::Global(global) => {
                self.globals
                    .extend(global.names.iter().map(|name| name.id.to_string()));
            }
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Lambda(_) => {}
            Expr::Name(name) if name.ctx.is_store() => {
                self.stored.insert(name.id.to_string());
            }
            _ => visitor::walk_expr(self, expr),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceFile;

    /// Lints `files` (module name, code) as one run; the findings of the last file.
    fn check_modules(files: &[(&str, &str)]) -> Vec<Diagnostic> {
        let parsed: Vec<_> = files
            .iter()
            .map(|(module, code)| {
                let path = format!("{}.py", module.replace('.', "/"));
                let source = SourceFile::new(path.into(), code.to_string());
                let module_ast = crate::python::parse(&source).module;
                let index = PyFileIndex::build(&module_ast, module.to_string());
                (source, module_ast, index)
            })
            .collect();
        let mut project = PyProjectIndex::default();
        for (_, _, index) in &parsed {
            project.merge(index);
        }
        let (source, module_ast, index) = parsed.last().expect("a file");
        let settings = crate::settings::Settings::default();
        let mut context = PythonContext::new(
            source,
            module_ast,
            index,
            &project,
            &settings,
            crate::registry::RuleSet::all(),
        );
        check(&mut context);
        context.into_diagnostics()
    }

    const STATE: &str = "import threading\nstate = threading.local()\n";

    /// Lints `code` (after a module-level `tl = threading.local()`) as module `app.code` and
    /// asserts that exactly the lines marked `#!` have findings.
    fn assert_marked(code: &str) {
        let code = format!("import threading\ntl = threading.local()\n{code}");
        let findings = check_modules(&[("app.code", &code)]);
        let line = |offset: usize| code[..offset].matches('\n').count() + 1;
        let mut found: Vec<usize> = findings.iter().map(|f| line(f.range.start)).collect();
        found.sort_unstable();
        found.dedup();
        let marked: Vec<usize> = code
            .lines()
            .enumerate()
            .filter(|(_, text)| text.contains("#!"))
            .map(|(at, _)| at + 1)
            .collect();
        assert_eq!(found, marked, "{code}\n{findings:#?}");
    }

    #[test]
    fn a_write_reaches_a_suspension_through_branches_and_jumps() {
        assert_marked(
            "async def branch(flag):\n    if flag:\n        tl.x = 1  #!\n    await flag()\n",
        );
        assert_marked(
            "async def broken(items):\n    while True:\n        tl.x = items  #!\n        break\n    await items()\n",
        );
        assert_marked(
            "async def skipped(items):\n    for item in items:\n        tl.x = item  #!\n        if item:\n            continue\n        del tl.x\n    await items()\n",
        );
        assert_marked(
            "async def handled(call):\n    try:\n        tl.x = call  #!\n        raise ValueError\n    except ValueError:\n        await call()\n",
        );
        assert_marked(
            "async def matched(command):\n    match command:\n        case 'a':\n            tl.x = command  #!\n        case _:\n            pass\n    await command()\n",
        );
        assert_marked(
            "async def unpacked(pair):\n    tl.a, tl.b = pair[0], None  #!\n    await pair()\n",
        );
        assert_marked(
            "async def waits_inside(lock, value):\n    tl.x = value  #!\n    async with lock:\n        pass\n",
        );
        assert_marked("async def awaited_value(fetch):\n    tl.x = await fetch()\n    del tl.x\n");
    }

    #[test]
    fn a_write_undone_before_any_suspension_is_not_a_finding() {
        assert_marked(
            "def render():\n    return tl.x\n\nasync def returns(value):\n    tl.x = value\n    return render()\n",
        );
        assert_marked(
            "async def cleared(value, call):\n    tl.x = value\n    out = call()\n    tl.x = None\n    await call()\n    return out\n",
        );
        assert_marked(
            "async def restored(value, call):\n    old = tl.x\n    tl.x = value\n    try:\n        out = call()\n    finally:\n        tl.x = old\n    await call()\n    return out\n",
        );
        assert_marked(
            "async def in_else(value, call):\n    if value:\n        await call()\n    else:\n        tl.x = value\n",
        );
    }

    #[test]
    fn a_name_reassigned_after_its_save_is_no_restore() {
        assert_marked(
            "async def swap(request, call):\n    current = getattr(tl, 'request', None)  #!\n    current = request\n    tl.request = current  #!\n    await call()\n",
        );
    }

    #[test]
    fn a_cache_the_coroutine_also_clears_is_task_state() {
        assert_marked(
            "async def outermost(scope, app):\n    if getattr(tl, 'scope', None) is None:  #!\n        tl.scope = scope  #!\n        try:\n            await app()\n        finally:\n            tl.scope = None\n",
        );
    }

    #[test]
    fn a_flag_tested_before_an_early_exit_is_per_thread_unless_cleared() {
        assert_marked(
            "async def setup(connect):\n    if getattr(tl, 'ready', False):\n        return\n    tl.ready = True\n    await connect()\n",
        );
        assert_marked(
            "async def emit(send, record):\n    if getattr(tl, 'emitting', False):  #!\n        return\n    tl.emitting = True  #!\n    try:\n        await send(record)\n    finally:\n        tl.emitting = False\n",
        );
        assert_marked(
            "async def not_a_guard(send, record):\n    if getattr(tl, 'emitting', False):  #!\n        record = None\n    tl.emitting = True  #!\n    await send(record)\n",
        );
    }

    #[test]
    fn self_reaches_the_classes_own_thread_locals() {
        assert_marked(
            "class Client:\n    def __init__(self):\n        self._tl = threading.local()\n\n    async def call(self, request):\n        self._tl.request = request  #!\n        await request()\n\n    def wrap(self):\n        async def inner(request):\n            self._tl.other = request  #!\n            await request()\n        return inner\n\n    @staticmethod\n    async def free(self, request):\n        self._tl.request = request\n        await request()\n\nclass Other:\n    async def call(self, request):\n        self._tl.request = request\n        await request()\n",
        );
    }

    #[test]
    fn entry_points_and_test_files_are_not_task_code() {
        assert_marked(
            "import asyncio\n\nasync def main(argv):\n    tl.config = argv\n    await asyncio.sleep(0)\n\nasync def helper(argv):\n    tl.config = argv  #!\n    await asyncio.sleep(0)\n\nasyncio.run(main([]))\n",
        );
        let code = "import threading\ntl = threading.local()\n\nasync def test_handler(client):\n    tl.user = 'u'\n    await client.get('/')\n";
        assert!(check_modules(&[("tests.test_handler", code)]).is_empty());
    }

    #[test]
    fn a_read_in_another_module_is_found_through_the_run_wide_fact() {
        let writer = "from app.state import state\n\nasync def middleware(request, call_next):\n    state.user = request.user\n    return await call_next(request)\n";
        let reader = "from app import state as st\n\nasync def view(request):\n    return st.state.user\n\ndef sync_view(request):\n    return st.state.user\n";
        let findings = check_modules(&[
            ("app.state", STATE),
            ("app.mw", writer),
            ("app.views", reader),
        ]);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(
            findings[0].message.contains("`st.state.user`"),
            "{}",
            findings[0].message
        );
        assert!(findings[0].labels.is_empty());
    }

    #[test]
    fn an_attribute_only_sync_code_writes_is_not_a_finding_when_read_in_async_code() {
        let writer = "from app.state import state\n\ndef middleware(request):\n    state.user = request.user\n\nasync def other():\n    state.token = 1\n    await other()\n";
        let reader =
            "from app.state import state\n\nasync def view(request):\n    return state.user\n";
        let findings = check_modules(&[
            ("app.state", STATE),
            ("app.mw", writer),
            ("app.views", reader),
        ]);
        assert!(findings.is_empty(), "{findings:?}");
    }

    #[test]
    fn an_imported_name_that_is_not_a_thread_local_is_not_a_finding() {
        let config = "settings = object()\n";
        let code = "from app.config import settings\n\nasync def handler():\n    settings.debug = True\n    await handler()\n    return settings.debug\n";
        let findings = check_modules(&[("app.config", config), ("app.handlers", code)]);
        assert!(findings.is_empty(), "{findings:?}");
    }

    #[test]
    fn the_write_is_labelled_at_the_suspension_and_reads_at_the_write() {
        let code = "import threading\nstate = threading.local()\n\nasync def handle(request):\n    state.request = request\n    await request.body()\n    return state.request\n";
        let findings = check_modules(&[("app.handle", code)]);
        assert_eq!(findings.len(), 2, "{findings:?}");
        let text = |range: &Range<usize>| &code[range.clone()];
        assert_eq!(text(&findings[0].range), "state.request");
        assert_eq!(text(&findings[0].labels[0].range), "await request.body()");
        assert!(findings[1].message.contains("read in async code"));
        assert_eq!(
            findings[1].range.start,
            code.rfind("state.request").unwrap()
        );
        assert_eq!(text(&findings[1].labels[0].range), "state.request");
    }
}
