//! Facts about a Python file (and, merged, about the whole run) that rules share: which
//! names are imports of what, which module-level names are `ContextVar`s and
//! `threading.local` instances. Built once per file by one pass over the module's top level.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::ast::{self, Expr, Stmt};
use crate::rules;

/// What one module declares and imports.
#[derive(Debug, Default, Clone)]
pub(crate) struct PyFileIndex {
    /// The dotted module name (`app/ctx.py` in package `app` → `app.ctx`).
    pub(crate) module: String,
    /// Import bindings: the local name → the dotted name it stands for
    /// (`from contextvars import ContextVar as CV` → `CV` ↦ `contextvars.ContextVar`).
    pub(crate) imports: HashMap<String, String>,
    /// Names assigned at module level (they resolve to `module.name`).
    pub(crate) module_names: HashSet<String>,
    /// Module-level `ContextVar`s, by local name.
    pub(crate) context_vars: HashSet<String>,
    /// Classes defined here that subclass `threading.local`, by local name.
    pub(crate) local_classes: HashSet<String>,
    /// Module-level `threading.local()` (or subclass) instances, by local name.
    pub(crate) thread_locals: HashSet<String>,
    /// `threading.local` attributes written in async code, as `module.instance.attr`
    /// (CTX002's run-wide fact).
    pub(crate) async_written_locals: HashSet<String>,
    /// Functions whose bodies read the current context, as `module.function` (CTX003's
    /// run-wide fact).
    pub(crate) context_reading_fns: HashSet<String>,
}

/// Facts merged over every Python file of the run, by dotted name.
#[derive(Debug, Default, Clone)]
pub(crate) struct PyProjectIndex {
    pub(crate) context_vars: HashSet<String>,
    pub(crate) local_classes: HashSet<String>,
    pub(crate) thread_locals: HashSet<String>,
    pub(crate) async_written_locals: HashSet<String>,
    pub(crate) context_reading_fns: HashSet<String>,
}

impl PyProjectIndex {
    /// Adds one file's facts.
    pub(crate) fn merge(&mut self, file: &PyFileIndex) {
        let qualified = |names: &HashSet<String>| {
            names
                .iter()
                .map(|name| file.qualify(name))
                .collect::<Vec<_>>()
        };
        self.context_vars.extend(qualified(&file.context_vars));
        self.local_classes.extend(qualified(&file.local_classes));
        self.thread_locals.extend(qualified(&file.thread_locals));
        self.async_written_locals
            .extend(file.async_written_locals.iter().cloned());
        self.context_reading_fns
            .extend(file.context_reading_fns.iter().cloned());
    }
}

impl PyFileIndex {
    /// Indexes the module `module` (its dotted name).
    pub(crate) fn build(ast: &ast::ModModule, module: String) -> Self {
        let mut index = PyFileIndex {
            module,
            ..PyFileIndex::default()
        };
        for stmt in &ast.body {
            index.index_top_level(stmt);
        }
        rules::thread_local_in_async::python::collect_facts(ast, &mut index);
        rules::unpropagated_spawn::python::collect_facts(ast, &mut index);
        index
    }

    /// `module.name` for a name of this module.
    pub(crate) fn qualify(&self, name: &str) -> String {
        if self.module.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.module)
        }
    }

    /// The dotted name an expression stands for, through imports: `CV` →
    /// `contextvars.ContextVar`, `contextvars.ContextVar` → the same, a module-level
    /// `request_id` → `app.ctx.request_id`, any other plain name → itself. `None` for
    /// anything but a name or an attribute chain on one.
    pub(crate) fn resolve(&self, expr: &Expr) -> Option<String> {
        match expr {
            Expr::Name(name) => {
                let id = name.id.as_str();
                Some(match self.imports.get(id) {
                    Some(full) => full.clone(),
                    None if self.module_names.contains(id) => self.qualify(id),
                    None => id.to_string(),
                })
            }
            Expr::Attribute(attribute) => {
                let base = self.resolve(&attribute.value)?;
                Some(format!("{base}.{}", attribute.attr.id))
            }
            _ => None,
        }
    }

    /// Whether `expr` names a module-level `ContextVar` of this run (here or imported).
    pub(crate) fn is_context_var(&self, expr: &Expr, project: &PyProjectIndex) -> bool {
        self.resolve(expr)
            .is_some_and(|name| project.context_vars.contains(&name))
    }

    /// Whether `expr` names a `threading.local` instance of this run.
    pub(crate) fn is_thread_local(&self, expr: &Expr, project: &PyProjectIndex) -> bool {
        self.resolve(expr)
            .is_some_and(|name| project.thread_locals.contains(&name))
    }

    /// Whether `expr` is a call of `contextvars.ContextVar(..)`.
    pub(crate) fn is_context_var_call(&self, expr: &Expr) -> bool {
        self.call_target(expr).as_deref() == Some("contextvars.ContextVar")
    }

    /// The dotted name of the function `expr` calls, if it is a call of a name.
    pub(crate) fn call_target(&self, expr: &Expr) -> Option<String> {
        match expr {
            Expr::Call(call) => self.resolve(&call.func),
            _ => None,
        }
    }

    fn index_top_level(&mut self, stmt: &Stmt) {
        match stmt {
            Stmt::Import(import) => {
                for alias in &import.names {
                    let full = alias.name.id.to_string();
                    match &alias.asname {
                        Some(local) => self.imports.insert(local.id.to_string(), full),
                        // `import a.b` binds `a`.
                        None => {
                            let top = full.split('.').next().unwrap_or_default().to_string();
                            self.imports.insert(top.clone(), top)
                        }
                    };
                }
            }
            Stmt::ImportFrom(import) => {
                let base = self.import_base(import);
                for alias in &import.names {
                    if alias.name.id.as_str() == "*" {
                        continue;
                    }
                    let local = alias.asname.as_ref().unwrap_or(&alias.name);
                    let full = if base.is_empty() {
                        alias.name.id.to_string()
                    } else {
                        format!("{base}.{}", alias.name.id)
                    };
                    self.imports.insert(local.id.to_string(), full);
                }
            }
            Stmt::ClassDef(class) => {
                let name = class.name.id.to_string();
                let subclasses_local = class.arguments.as_ref().is_some_and(|arguments| {
                    arguments.args.iter().any(|base| self.is_local_class(base))
                });
                if subclasses_local {
                    self.local_classes.insert(name.clone());
                }
                self.module_names.insert(name);
            }
            Stmt::FunctionDef(function) => {
                self.module_names.insert(function.name.id.to_string());
            }
            Stmt::Assign(assign) => {
                for target in &assign.targets {
                    self.index_binding(target, Some(&assign.value));
                }
            }
            Stmt::AnnAssign(assign) => self.index_binding(&assign.target, assign.value.as_deref()),
            // Definitions under `if TYPE_CHECKING:`/`try: import ..` still bind module names.
            Stmt::If(branch) => {
                for stmt in branch.body.iter().chain(
                    branch
                        .elif_else_clauses
                        .iter()
                        .flat_map(|clause| &clause.body),
                ) {
                    self.index_top_level(stmt);
                }
            }
            // `try: from asgiref.local import Local as local` / `except ImportError: from
            // threading import local`: the fallback is indexed first so the body's binding,
            // the one that runs wherever the import works, wins.
            Stmt::Try(block) => {
                let handlers = block.handlers.iter().flat_map(|handler| match handler {
                    ast::ExceptHandler::ExceptHandler(handler) => &handler.body,
                });
                for stmt in handlers.chain(&block.body).chain(&block.orelse) {
                    self.index_top_level(stmt);
                }
            }
            _ => {}
        }
    }

    fn index_binding(&mut self, target: &Expr, value: Option<&Expr>) {
        let Expr::Name(name) = target else { return };
        let id = name.id.to_string();
        if let Some(value) = value {
            if self.is_context_var_call(value) {
                self.context_vars.insert(id.clone());
            } else if self.is_thread_local_call(value) {
                self.thread_locals.insert(id.clone());
            }
        }
        self.module_names.insert(id);
    }

    fn is_local_class(&self, expr: &Expr) -> bool {
        self.resolve(expr)
            .is_some_and(|name| self.names_local_class(&name))
    }

    /// `threading.local`, `_thread._local`, or a subclass of one defined in this module.
    fn names_local_class(&self, name: &str) -> bool {
        matches!(name, "threading.local" | "_thread._local")
            || name
                .strip_prefix(&format!("{}.", self.module))
                .is_some_and(|local| self.local_classes.contains(local))
            || (self.module.is_empty() && self.local_classes.contains(name))
    }

    /// The package a `from .. import` starts from: relative levels climb from this
    /// module's package.
    fn import_base(&self, import: &ast::StmtImportFrom) -> String {
        let module = import.module.as_ref().map(|module| module.id.to_string());
        if import.level == 0 {
            return module.unwrap_or_default();
        }
        let mut parts: Vec<&str> = self.module.split('.').collect();
        for _ in 0..import.level {
            parts.pop();
        }
        let mut base = parts.join(".");
        if let Some(module) = module {
            if !base.is_empty() {
                base.push('.');
            }
            base.push_str(&module);
        }
        base
    }

    /// Whether `expr` is a call that makes a `threading.local` (or an instance of a subclass
    /// defined in this module), wherever it stands (a class attribute, `self.x = ..`).
    pub(crate) fn is_thread_local_call(&self, expr: &Expr) -> bool {
        self.call_target(expr)
            .is_some_and(|called| self.names_local_class(&called))
    }

    /// The dotted name a name written as text stands for (a quoted annotation such as
    /// `"futures.Executor"`), as [`Self::resolve`] resolves it written as code.
    pub(crate) fn resolve_text(&self, text: &str) -> Option<String> {
        let is_identifier = |part: &str| {
            part.chars()
                .next()
                .is_some_and(|first| !first.is_ascii_digit())
                && part.chars().all(|c| c == '_' || c.is_alphanumeric())
        };
        if !text.split('.').all(is_identifier) {
            return None;
        }
        let (first, rest) = match text.split_once('.') {
            Some((first, rest)) => (first, Some(rest)),
            None => (text, None),
        };
        let name = Expr::Name(ast::ExprName {
            node_index: Default::default(),
            range: Default::default(),
            id: first.into(),
            ctx: ast::ExprContext::Load,
        });
        let base = self.resolve(&name)?;
        Some(match rest {
            Some(rest) => format!("{base}.{rest}"),
            None => base,
        })
    }
}

/// The dotted module name of `path`: its stem, under every enclosing directory that is a
/// package (has an `__init__.py`); `__init__.py` itself names its package.
pub(crate) fn module_name(path: &Path) -> String {
    let mut parts = Vec::new();
    let stem = path
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or_default();
    if stem != "__init__" {
        parts.push(stem.to_string());
    }
    let mut dir = path.parent();
    while let Some(current) = dir {
        let Some(name) = current.file_name().and_then(|name| name.to_str()) else {
            break;
        };
        if !current.join("__init__.py").is_file() {
            break;
        }
        parts.push(name.to_string());
        dir = current.parent();
    }
    parts.reverse();
    parts.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(code: &str, module: &str) -> PyFileIndex {
        let parsed = crate::python::parse(&crate::source::SourceFile::new(
            "x.py".into(),
            code.to_string(),
        ));
        PyFileIndex::build(&parsed.module, module.to_string())
    }

    fn resolve(index: &PyFileIndex, code: &str) -> Option<String> {
        let parsed = crate::python::parse(&crate::source::SourceFile::new(
            "y.py".into(),
            code.to_string(),
        ));
        let Some(Stmt::Expr(stmt)) = parsed.module.body.first() else {
            panic!("an expression statement")
        };
        index.resolve(&stmt.value)
    }

    #[test]
    fn imports_resolve_names() {
        let index = index(
            "import contextvars\nimport concurrent.futures\nimport threading as th\nfrom contextvars import ContextVar as CV\nfrom . import ctx\nfrom ..util import helper\n",
            "app.web.views",
        );
        assert_eq!(
            resolve(&index, "CV").as_deref(),
            Some("contextvars.ContextVar")
        );
        assert_eq!(
            resolve(&index, "concurrent.futures.ThreadPoolExecutor").as_deref(),
            Some("concurrent.futures.ThreadPoolExecutor")
        );
        assert_eq!(
            resolve(&index, "th.local").as_deref(),
            Some("threading.local")
        );
        assert_eq!(
            resolve(&index, "ctx.request_id").as_deref(),
            Some("app.web.ctx.request_id")
        );
        assert_eq!(
            resolve(&index, "helper").as_deref(),
            Some("app.util.helper")
        );
        assert_eq!(resolve(&index, "print").as_deref(), Some("print"));
        assert_eq!(resolve(&index, "f()"), None);
    }

    #[test]
    fn a_try_import_binds_what_the_body_imports() {
        let index = index(
            "try:\n    from asgiref.local import Local as local\nexcept ImportError:\n    from threading import local\n_request = local()\n",
            "app.ctx",
        );
        assert_eq!(
            resolve(&index, "local").as_deref(),
            Some("asgiref.local.Local")
        );
        assert!(index.thread_locals.is_empty());
    }

    #[test]
    fn declarations_are_indexed() {
        let index = index(
            "from contextvars import ContextVar\nimport threading\nrequest_id: ContextVar[str] = ContextVar('request_id')\nclass State(threading.local):\n    pass\nstate = State()\nraw = threading.local()\nif True:\n    other = ContextVar('other', default=None)\nplain = 1\n",
            "app.ctx",
        );
        let sorted = |names: &HashSet<String>| {
            let mut names: Vec<String> = names.iter().cloned().collect();
            names.sort();
            names
        };
        assert_eq!(sorted(&index.context_vars), ["other", "request_id"]);
        assert_eq!(sorted(&index.local_classes), ["State"]);
        assert_eq!(sorted(&index.thread_locals), ["raw", "state"]);
        let mut project = PyProjectIndex::default();
        project.merge(&index);
        assert!(project.context_vars.contains("app.ctx.request_id"));
        assert!(project.thread_locals.contains("app.ctx.state"));
        assert_eq!(
            resolve(&index, "request_id").as_deref(),
            Some("app.ctx.request_id")
        );
    }
}
