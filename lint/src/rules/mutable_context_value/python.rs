//! The Python checker: `ContextVar` defaults that are mutable objects, and context values
//! mutated in place after `get()`.
//!
//! A value counts as the context's when it comes straight from `var.get()` or from a local
//! name bound to that result (`items = var.get()`), until the name is bound again. Names
//! and `set`s are followed in source order within one function: branches are not told apart.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use crate::diagnostic::Diagnostic;
use crate::python::ast::{self, Expr, ExprContext, Stmt};
use crate::python::visitor::{self, Visitor};
use crate::python::{range, PyFileIndex, PyProjectIndex, PythonContext};
use crate::registry::Rule;

const HELP: &str = "store immutable values, or `set` a new copy";

/// Mutable container types: called (`list()`), subclassed, or named as a `ContextVar`'s
/// type (`ContextVar[list[str]]`).
const CONTAINER_TYPES: &[&str] = &[
    "bytearray",
    "dict",
    "list",
    "set",
    "collections.ChainMap",
    "collections.Counter",
    "collections.OrderedDict",
    "collections.defaultdict",
    "collections.deque",
    "collections.abc.MutableMapping",
    "collections.abc.MutableSequence",
    "collections.abc.MutableSet",
    "typing.ChainMap",
    "typing.Counter",
    "typing.DefaultDict",
    "typing.Deque",
    "typing.Dict",
    "typing.List",
    "typing.MutableMapping",
    "typing.MutableSequence",
    "typing.MutableSet",
    "typing.OrderedDict",
    "typing.Set",
    "weakref.WeakKeyDictionary",
    "weakref.WeakSet",
    "weakref.WeakValueDictionary",
];

/// Methods only containers have: a call mutates the value whatever its type.
const CONTAINER_ONLY_METHODS: &[&str] = &[
    "append",
    "appendleft",
    "extend",
    "extendleft",
    "popitem",
    "popleft",
    "setdefault",
];

/// Container methods that other objects share (`session.add(row)`, `bar.update(1)`): a
/// mutation only when the variable is known to hold a container.
const CONTAINER_METHODS: &[&str] = &[
    "add",
    "clear",
    "difference_update",
    "discard",
    "insert",
    "intersection_update",
    "pop",
    "remove",
    "reverse",
    "rotate",
    "sort",
    "symmetric_difference_update",
    "update",
];

/// Decorators that make a class a record with fields, mutable unless frozen.
const RECORD_DECORATORS: &[&str] = &[
    "attr.attrs",
    "attr.define",
    "attr.frozen",
    "attr.mutable",
    "attr.s",
    "attrs.define",
    "attrs.frozen",
    "attrs.mutable",
    "dataclasses.dataclass",
    "pydantic.dataclasses.dataclass",
];

/// Methods that build an instance: their writes to `self` are its initial state.
const CONSTRUCTORS: &[&str] = &[
    "__init__",
    "__new__",
    "__post_init__",
    "__attrs_post_init__",
];

/// Checks one file.
pub(crate) fn check(context: &mut PythonContext<'_>) {
    let module = Module {
        index: context.index,
        classes: top_level_classes(&context.ast.body),
    };
    let declared = module.declarations(&context.ast.body);
    let mut checker = Checker {
        module,
        project: context.project,
        text: context.source.text(),
        declared,
        scope: Scope::default(),
        found: Vec::new(),
        mutations: Vec::new(),
    };
    checker.visit_body(&context.ast.body);
    for diagnostic in checker.finish() {
        context.report(diagnostic);
    }
}

fn top_level_classes(body: &[Stmt]) -> HashMap<&str, &ast::StmtClassDef> {
    body.iter()
        .filter_map(|stmt| match stmt {
            Stmt::ClassDef(class) => Some((class.name.id.as_str(), class)),
            _ => None,
        })
        .collect()
}

/// What the module declares, and how its expressions read.
struct Module<'a> {
    index: &'a PyFileIndex,
    classes: HashMap<&'a str, &'a ast::StmtClassDef>,
}

/// `ContextVar`s declared in this file, by the key [`Checker::var_key`] finds them under:
/// module-level names (`app.ctx.tags`, also `ContextVar[T](..)` calls, which the index does
/// not list) and class attributes (`app.ctx.Stack._items`, set in the class body or on
/// `self`).
#[derive(Default)]
struct Declarations {
    vars: HashSet<String>,
    /// Those known to hold containers (by their type, their default or a `set`).
    containers: HashSet<String>,
}

impl<'a> Module<'a> {
    /// `expr` as a call of `ContextVar(..)` or `ContextVar[T](..)`.
    fn context_var_call<'e>(&self, expr: &'e Expr) -> Option<&'e ast::ExprCall> {
        match expr {
            Expr::Call(call) if self.creates_context_var(call) => Some(call),
            _ => None,
        }
    }

    fn creates_context_var(&self, call: &ast::ExprCall) -> bool {
        let class = match &*call.func {
            Expr::Subscript(generic) => &*generic.value,
            func => func,
        };
        self.is_context_var_class(class)
    }

    fn is_context_var_class(&self, expr: &Expr) -> bool {
        self.index.resolve(expr).as_deref() == Some("contextvars.ContextVar")
    }

    /// `T` in `ContextVar[T]`.
    fn type_argument<'e>(&self, expr: &'e Expr) -> Option<&'e Expr> {
        match expr {
            Expr::Subscript(generic) if self.is_context_var_class(&generic.value) => {
                Some(&generic.slice)
            }
            _ => None,
        }
    }

    /// Whether the type `expr` (or a member of its union) is a mutable container.
    fn is_container_type(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Subscript(generic) => match self.index.resolve(&generic.value).as_deref() {
                Some("typing.Optional" | "typing.Union") => match &*generic.slice {
                    Expr::Tuple(members) => members.iter().any(|m| self.is_container_type(m)),
                    member => self.is_container_type(member),
                },
                _ => self.is_container_type(&generic.value),
            },
            Expr::BinOp(union) if union.op == ast::Operator::BitOr => {
                self.is_container_type(&union.left) || self.is_container_type(&union.right)
            }
            _ => self.names_container_type(expr),
        }
    }

    fn names_container_type(&self, expr: &Expr) -> bool {
        self.index
            .resolve(expr)
            .is_some_and(|name| CONTAINER_TYPES.contains(&name.as_str()))
    }

    /// What kind of new mutable container `expr` builds, if it builds one.
    fn container_kind(&self, expr: &Expr) -> Option<String> {
        match expr {
            Expr::List(_) | Expr::ListComp(_) => Some("list".into()),
            Expr::Dict(_) | Expr::DictComp(_) => Some("dict".into()),
            Expr::Set(_) | Expr::SetComp(_) => Some("set".into()),
            // `[None] * 3`, `[a] + rest`, `{..} | other` (not `"%s" % [..]`, a string).
            Expr::BinOp(operation) => {
                use ast::Operator::{Add, BitAnd, BitOr, BitXor, Mult, Sub};
                if !matches!(operation.op, Add | BitAnd | BitOr | BitXor | Mult | Sub) {
                    return None;
                }
                self.container_kind(&operation.left)
                    .or_else(|| self.container_kind(&operation.right))
            }
            Expr::Call(call) => {
                let called = self.index.resolve(&call.func)?;
                if called == "dict.fromkeys" {
                    return Some("dict".into());
                }
                CONTAINER_TYPES
                    .contains(&called.as_str())
                    .then(|| format!("`{}`", short_name(&called)))
            }
            _ => None,
        }
    }

    /// What mutable object `expr` (a `ContextVar` default) creates, if it creates one.
    fn mutable_default(&self, expr: &Expr) -> Option<String> {
        if let Some(kind) = self.container_kind(expr) {
            return Some(kind);
        }
        let Expr::Call(call) = expr else { return None };
        if self.index.resolve(&call.func).as_deref() == Some("types.SimpleNamespace") {
            return Some("`SimpleNamespace`".into());
        }
        let class = self.local_class(&call.func)?;
        self.is_mutable_class(class, 0)
            .then(|| format!("`{}` instance", class.name.id))
    }

    /// The class `expr` names, if this module defines it at top level.
    fn local_class(&self, expr: &Expr) -> Option<&'a ast::StmtClassDef> {
        let Expr::Name(name) = expr else { return None };
        if self.index.imports.contains_key(name.id.as_str()) {
            return None;
        }
        self.classes.get(name.id.as_str()).copied()
    }

    /// Whether instances of `class` hold state that is written after construction: a
    /// mutable container base, a record with fields that is not frozen, a method other than
    /// a constructor writing to `self`, or a container stored on `self`. A sentinel, a
    /// frozen record or a class deriving from an unknown base with no such writes is not
    /// mutable.
    fn is_mutable_class(&self, class: &ast::StmtClassDef, depth: usize) -> bool {
        // Deep enough for any real hierarchy; a class redefined as its own base stops here.
        if depth > 8 {
            return false;
        }
        let bases = class.arguments.iter().flat_map(|arguments| &arguments.args);
        for base in bases {
            let base = match base {
                Expr::Subscript(generic) => &*generic.value,
                base => base,
            };
            if self.names_container_type(base)
                || self
                    .local_class(base)
                    .is_some_and(|base| self.is_mutable_class(base, depth + 1))
            {
                return true;
            }
        }
        let record = class
            .decorator_list
            .iter()
            .any(|decorator| self.is_mutable_record(&decorator.expression));
        if record && has_fields(class, self.index) {
            return true;
        }
        methods(class).any(|method| self.writes_instance_state(method))
    }

    /// Whether the decorator `expr` makes a record class that is not frozen.
    fn is_mutable_record(&self, expr: &Expr) -> bool {
        let (name, arguments) = match expr {
            Expr::Call(call) => (self.index.resolve(&call.func), Some(&call.arguments)),
            name => (self.index.resolve(name), None),
        };
        let Some(name) = name.filter(|name| RECORD_DECORATORS.contains(&name.as_str())) else {
            return false;
        };
        let frozen = arguments
            .and_then(|arguments| arguments.find_keyword("frozen"))
            .is_some_and(
                |frozen| matches!(&frozen.value, Expr::BooleanLiteral(literal) if literal.value),
            );
        !frozen && !name.ends_with(".frozen")
    }

    /// Whether `method` writes instance state that outlives construction.
    fn writes_instance_state(&self, method: &ast::StmtFunctionDef) -> bool {
        if method_kind(method, self.index) != MethodKind::Instance {
            return false;
        }
        let Some(receiver) = first_parameter(method) else {
            return false;
        };
        let constructor = CONSTRUCTORS.contains(&method.name.id.as_str());
        assignments(&method.body).iter().any(|assignment| {
            written_root(assignment.target) == Some(receiver)
                && (!constructor
                    || matches!(assignment.target, Expr::Attribute(_))
                        && assignment
                            .value
                            .is_some_and(|value| self.container_kind(value).is_some()))
        })
    }

    /// The `ContextVar`s this file declares (see [`Declarations`]).
    fn declarations(&self, body: &'a [Stmt]) -> Declarations {
        let mut declared = Declarations::default();
        self.declare(body, None, &mut declared);
        declared
    }

    fn declare(&self, body: &'a [Stmt], class: Option<&str>, declared: &mut Declarations) {
        let key_of = |name: &str| match class {
            Some(class) => self.class_key(class, name),
            None => self.index.qualify(name),
        };
        for stmt in body {
            match stmt {
                Stmt::Assign(assign) => {
                    for target in &assign.targets {
                        if let Expr::Name(name) = target {
                            self.declare_var(key_of(&name.id), Some(&assign.value), None, declared);
                        }
                    }
                }
                Stmt::AnnAssign(assign) => {
                    if let Expr::Name(name) = &*assign.target {
                        let value = assign.value.as_deref();
                        self.declare_var(
                            key_of(&name.id),
                            value,
                            Some(&assign.annotation),
                            declared,
                        );
                    }
                }
                Stmt::ClassDef(nested) => {
                    self.declare(&nested.body, Some(&nested.name.id), declared);
                    for method in methods(nested) {
                        self.declare_attributes(&nested.name.id, method, declared);
                    }
                }
                Stmt::If(branch) => {
                    self.declare(&branch.body, class, declared);
                    for clause in &branch.elif_else_clauses {
                        self.declare(&clause.body, class, declared);
                    }
                }
                Stmt::Try(block) => {
                    self.declare(&block.body, class, declared);
                    for ast::ExceptHandler::ExceptHandler(handler) in &block.handlers {
                        self.declare(&handler.body, class, declared);
                    }
                    self.declare(&block.orelse, class, declared);
                }
                _ => {}
            }
        }
    }

    /// `self.name = ContextVar(..)` in a method of `class`.
    fn declare_attributes(
        &self,
        class: &str,
        method: &'a ast::StmtFunctionDef,
        declared: &mut Declarations,
    ) {
        let Some(receiver) = first_parameter(method) else {
            return;
        };
        for assignment in assignments(&method.body) {
            if let Expr::Attribute(attribute) = assignment.target {
                if matches!(&*attribute.value, Expr::Name(name) if name.id == receiver) {
                    let key = self.class_key(class, &attribute.attr.id);
                    self.declare_var(key, assignment.value, assignment.annotation, declared);
                }
            }
        }
    }

    /// Records `key` if it is bound to a `ContextVar` or annotated as one.
    fn declare_var(
        &self,
        key: String,
        value: Option<&Expr>,
        annotation: Option<&Expr>,
        declared: &mut Declarations,
    ) {
        let call = value.and_then(|value| self.context_var_call(value));
        let annotated = annotation.is_some_and(|annotation| {
            self.is_context_var_class(annotation) || self.type_argument(annotation).is_some()
        });
        if call.is_none() && !annotated {
            return;
        }
        let type_argument = annotation
            .and_then(|annotation| self.type_argument(annotation))
            .or_else(|| call.and_then(|call| self.type_argument(&call.func)));
        let container_default = call
            .and_then(|call| call.arguments.find_keyword("default"))
            .is_some_and(|default| self.container_kind(&default.value).is_some());
        if container_default || type_argument.is_some_and(|t| self.is_container_type(t)) {
            declared.containers.insert(key.clone());
        }
        declared.vars.insert(key);
    }

    fn class_key(&self, class: &str, attribute: &str) -> String {
        format!("{}.{attribute}", self.index.qualify(class))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum MethodKind {
    Instance,
    Class,
    Static,
}

fn method_kind(method: &ast::StmtFunctionDef, index: &PyFileIndex) -> MethodKind {
    let decorated = |name: &str| {
        method
            .decorator_list
            .iter()
            .any(|decorator| index.resolve(&decorator.expression).as_deref() == Some(name))
    };
    if decorated("staticmethod") {
        MethodKind::Static
    } else if decorated("classmethod") {
        MethodKind::Class
    } else {
        MethodKind::Instance
    }
}

fn methods(class: &ast::StmtClassDef) -> impl Iterator<Item = &ast::StmtFunctionDef> {
    class.body.iter().filter_map(|stmt| match stmt {
        Stmt::FunctionDef(method) => Some(method),
        _ => None,
    })
}

fn first_parameter(function: &ast::StmtFunctionDef) -> Option<&str> {
    let parameters = &function.parameters;
    parameters
        .posonlyargs
        .first()
        .or(parameters.args.first())
        .map(|parameter| parameter.parameter.name.id.as_str())
}

/// Whether a record class declares a field (an annotation that is not a `ClassVar`).
fn has_fields(class: &ast::StmtClassDef, index: &PyFileIndex) -> bool {
    class.body.iter().any(|stmt| match stmt {
        Stmt::AnnAssign(field) => {
            let annotation = match &*field.annotation {
                Expr::Subscript(generic) => &*generic.value,
                annotation => annotation,
            };
            index.resolve(annotation).as_deref() != Some("typing.ClassVar")
        }
        _ => false,
    })
}

/// The name an attribute or item write starts from: `self` in `self.a[k] = v`.
fn written_root(target: &Expr) -> Option<&str> {
    match target {
        Expr::Attribute(_) | Expr::Subscript(_) => base_name(target),
        _ => None,
    }
}

/// The name an attribute and item chain starts from: `a` in `a.b[c].d`, `a` in `a`.
fn base_name(mut expr: &Expr) -> Option<&str> {
    loop {
        match expr {
            Expr::Attribute(attribute) => expr = &attribute.value,
            Expr::Subscript(item) => expr = &item.value,
            Expr::Name(name) => return Some(name.id.as_str()),
            _ => return None,
        }
    }
}

/// The names a function binds locally: its parameters and the names it assigns (without
/// `global`, a name assigned anywhere in the body is local everywhere in it).
fn local_names(parameters: Option<&ast::Parameters>, body: &[Stmt]) -> HashSet<String> {
    let parameters = parameters
        .into_iter()
        .flat_map(|parameters| parameters.iter());
    let assigned = assignments(body)
        .into_iter()
        .filter_map(|assignment| match assignment.target {
            Expr::Name(name) => Some(name.id.as_str()),
            _ => None,
        });
    parameters
        .map(|parameter| parameter.name().id.as_str())
        .chain(assigned)
        .map(str::to_string)
        .collect()
}

fn short_name(dotted: &str) -> &str {
    dotted.rsplit('.').next().unwrap_or(dotted)
}

/// One target written by an assignment, `del`, `for` or `with` statement.
struct Assignment<'a> {
    target: &'a Expr,
    value: Option<&'a Expr>,
    annotation: Option<&'a Expr>,
}

/// The targets the statements of `body` write, nested functions and classes excluded.
fn assignments(body: &[Stmt]) -> Vec<Assignment<'_>> {
    let mut collector = Assignments(Vec::new());
    collector.visit_body(body);
    collector.0
}

struct Assignments<'a>(Vec<Assignment<'a>>);

impl<'a> Assignments<'a> {
    fn push(&mut self, target: &'a Expr, value: Option<&'a Expr>, annotation: Option<&'a Expr>) {
        match target {
            // `self.a, self.b = ..`: each element is written, with no value of its own.
            Expr::Tuple(elements) => elements.iter().for_each(|e| self.push(e, None, None)),
            Expr::List(elements) => elements.iter().for_each(|e| self.push(e, None, None)),
            Expr::Starred(starred) => self.push(&starred.value, None, None),
            target => self.0.push(Assignment {
                target,
                value,
                annotation,
            }),
        }
    }
}

impl<'a> Visitor<'a> for Assignments<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(_) | Stmt::ClassDef(_) => return,
            Stmt::Assign(assign) => {
                for target in &assign.targets {
                    self.push(target, Some(&assign.value), None);
                }
            }
            Stmt::AnnAssign(assign) => {
                self.push(
                    &assign.target,
                    assign.value.as_deref(),
                    Some(&assign.annotation),
                );
            }
            Stmt::AugAssign(assign) => self.push(&assign.target, None, None),
            Stmt::Delete(delete) => delete.targets.iter().for_each(|t| self.push(t, None, None)),
            Stmt::For(each) => self.push(&each.target, None, None),
            Stmt::With(with) => {
                for target in with
                    .items
                    .iter()
                    .filter_map(|item| item.optional_vars.as_deref())
                {
                    self.push(target, None, None);
                }
            }
            _ => {}
        }
        visitor::walk_stmt(self, stmt);
    }

    // Statements are all that is collected.
    fn visit_expr(&mut self, _: &'a Expr) {}
}

/// A context value in hand: a `var.get()` result, or an object inside one.
#[derive(Clone)]
struct Value {
    /// The variable's key (see [`Declarations`]).
    key: String,
    /// The variable as written (`request_tags`, `self._stack`).
    var: String,
    /// The `get()` call.
    get: Range<usize>,
    /// The function had `set` the variable before this `get()`: the value is this
    /// context's own.
    own: bool,
    /// `get(default)` with a container default: the value is a container.
    container: bool,
    /// An object inside the value (`var.get()[key]`), not the value itself.
    element: bool,
}

/// What the checker knows inside one function (or class body, or the module).
#[derive(Default)]
struct Scope {
    /// The class whose method this is (or whose body), and the method's `self`/`cls`.
    class: Option<String>,
    receiver: Option<String>,
    class_body: bool,
    /// Names local to the function (and the functions around it): a parameter or local
    /// variable named like a module-level `ContextVar` is not that variable.
    locals: HashSet<String>,
    /// Local names bound to a context value.
    aliases: HashMap<String, Value>,
    /// Variables this function has `set` so far (reset ones are removed).
    set_here: HashSet<String>,
}

/// An in-place mutation; one made with a method that is not container-only is reported only
/// if the variable turns out to hold a container.
struct Mutation {
    key: String,
    needs_container: bool,
    diagnostic: Diagnostic,
}

struct Checker<'a> {
    module: Module<'a>,
    project: &'a PyProjectIndex,
    text: &'a str,
    declared: Declarations,
    scope: Scope,
    found: Vec<Diagnostic>,
    mutations: Vec<Mutation>,
}

impl<'a> Visitor<'a> for Checker<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(function) => {
                let receiver = if self.scope.class_body {
                    (method_kind(function, self.module.index) != MethodKind::Static)
                        .then(|| first_parameter(function))
                        .flatten()
                        .map(str::to_string)
                } else {
                    self.inherited_receiver(Some(&function.parameters))
                };
                let scope = Scope {
                    class: self.scope.class.clone(),
                    receiver,
                    locals: self.nested_locals(Some(&function.parameters), &function.body),
                    ..Scope::default()
                };
                self.in_scope(scope, |checker| visitor::walk_stmt(checker, stmt));
            }
            Stmt::ClassDef(class) => {
                // The class body's own names are not visible in its methods; the names of
                // a function around the class are.
                let scope = Scope {
                    class: Some(class.name.id.to_string()),
                    class_body: true,
                    locals: self.scope.locals.clone(),
                    ..Scope::default()
                };
                self.in_scope(scope, |checker| visitor::walk_stmt(checker, stmt));
            }
            Stmt::Assign(assign) => {
                visitor::walk_stmt(self, stmt);
                for target in &assign.targets {
                    self.bind(target, &assign.value);
                }
            }
            Stmt::AnnAssign(assign) => {
                visitor::walk_stmt(self, stmt);
                if let Some(value) = &assign.value {
                    self.bind(&assign.target, value);
                }
            }
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Lambda(lambda) => {
                let parameters = lambda.parameters.as_deref();
                let scope = Scope {
                    class: self.scope.class.clone(),
                    receiver: self.inherited_receiver(parameters),
                    locals: self.nested_locals(parameters, &[]),
                    ..Scope::default()
                };
                self.in_scope(scope, |checker| visitor::walk_expr(checker, expr));
                return;
            }
            Expr::Call(call) => {
                self.check_default(call);
                self.check_method_call(call);
            }
            Expr::Subscript(item) if is_write(item.ctx) => {
                if let Some(value) = self.value_of(&item.value) {
                    self.mutation(value, range(item), false);
                }
            }
            Expr::Name(name) if is_write(name.ctx) => {
                self.scope.aliases.remove(name.id.as_str());
            }
            _ => {}
        }
        visitor::walk_expr(self, expr);
        match expr {
            Expr::Call(call) => self.track_set(call),
            Expr::Named(named) => self.bind(&named.target, &named.value),
            _ => {}
        }
    }
}

fn is_write(context: ExprContext) -> bool {
    matches!(context, ExprContext::Store | ExprContext::Del)
}

impl<'a> Checker<'a> {
    fn in_scope(&mut self, scope: Scope, walk: impl FnOnce(&mut Self)) {
        let outer = std::mem::replace(&mut self.scope, scope);
        walk(self);
        self.scope = outer;
    }

    /// A nested function keeps its method's `self` unless a parameter shadows it.
    fn inherited_receiver(&self, parameters: Option<&ast::Parameters>) -> Option<String> {
        self.scope
            .receiver
            .clone()
            .filter(|receiver| !parameters.is_some_and(|p| p.includes(receiver)))
    }

    /// The names local to a function nested here, or to the functions around it.
    fn nested_locals(
        &self,
        parameters: Option<&ast::Parameters>,
        body: &[Stmt],
    ) -> HashSet<String> {
        let mut locals = local_names(parameters, body);
        locals.extend(self.scope.locals.iter().cloned());
        locals
    }

    /// The key of the `ContextVar` `expr` names: a module-level one of the run, one
    /// declared in this file, or an attribute of the enclosing class on `self`/`cls`.
    fn var_key(&self, expr: &Expr) -> Option<String> {
        if let (Expr::Attribute(attribute), Some(class), Some(receiver)) =
            (expr, &self.scope.class, &self.scope.receiver)
        {
            if matches!(&*attribute.value, Expr::Name(name) if name.id == receiver.as_str()) {
                let key = self.module.class_key(class, &attribute.attr.id);
                return self.declared.vars.contains(&key).then_some(key);
            }
        }
        if base_name(expr).is_some_and(|name| self.scope.locals.contains(name)) {
            return None;
        }
        let key = self.module.index.resolve(expr)?;
        (self.project.context_vars.contains(&key) || self.declared.vars.contains(&key))
            .then_some(key)
    }

    /// `expr` as a `var.get()` / `var.get(default)` call.
    fn get_call(&self, expr: &Expr) -> Option<Value> {
        let Expr::Call(call) = expr else { return None };
        let Expr::Attribute(method) = &*call.func else {
            return None;
        };
        let arguments = &call.arguments;
        if method.attr.id.as_str() != "get"
            || arguments.args.len() > 1
            || !arguments.keywords.is_empty()
        {
            return None;
        }
        let key = self.var_key(&method.value)?;
        Some(Value {
            own: self.scope.set_here.contains(&key),
            container: arguments
                .args
                .first()
                .is_some_and(|default| self.module.container_kind(default).is_some()),
            var: self
                .text
                .get(range(&*method.value))
                .unwrap_or_default()
                .to_string(),
            get: range(call),
            key,
            element: false,
        })
    }

    /// The context value `expr` is, or is inside of.
    fn value_of(&self, expr: &Expr) -> Option<Value> {
        match expr {
            // `value[:]` is a copy.
            Expr::Subscript(item) if matches!(&*item.slice, Expr::Slice(_)) => None,
            Expr::Subscript(item) => self.value_of(&item.value).map(|value| Value {
                element: true,
                ..value
            }),
            Expr::Name(name) => self.scope.aliases.get(name.id.as_str()).cloned(),
            _ => self.get_call(expr),
        }
    }

    fn bind(&mut self, target: &Expr, value: &Expr) {
        if let Expr::Name(name) = target {
            if let Some(value) = self.value_of(value) {
                self.scope.aliases.insert(name.id.to_string(), value);
            }
        }
    }

    fn check_default(&mut self, call: &ast::ExprCall) {
        if !self.module.creates_context_var(call) {
            return;
        }
        let Some(default) = call.arguments.find_keyword("default") else {
            return;
        };
        if let Some(what) = self.module.mutable_default(&default.value) {
            self.found.push(
                Diagnostic::new(
                    Rule::MutableContextValue,
                    range(&default.value),
                    format!(
                        "this `ContextVar` default is a mutable {what}: one object shared by \
                         every context that has not set the variable"
                    ),
                )
                .with_help(HELP),
            );
        }
    }

    /// `value.append(x)`, or `value.update(..)` on a variable that holds containers.
    fn check_method_call(&mut self, call: &ast::ExprCall) {
        let Expr::Attribute(method) = &*call.func else {
            return;
        };
        let Some(value) = self.value_of(&method.value) else {
            return;
        };
        let name = method.attr.id.as_str();
        if CONTAINER_ONLY_METHODS.contains(&name) {
            self.mutation(value, range(call), false);
        } else if CONTAINER_METHODS.contains(&name) && !value.element {
            self.mutation(value, range(call), true);
        }
    }

    fn mutation(&mut self, value: Value, at: Range<usize>, ambiguous: bool) {
        if value.own {
            return;
        }
        let message = if value.element {
            format!(
                "an object inside the value of `{}` is mutated in place: every context that \
                 holds the value sees the change",
                value.var
            )
        } else {
            format!(
                "the value of `{}` is mutated in place: every context that holds it sees the \
                 change",
                value.var
            )
        };
        let mut diagnostic =
            Diagnostic::new(Rule::MutableContextValue, at.clone(), message).with_help(HELP);
        if value.get.start < at.start || value.get.end > at.end {
            diagnostic = diagnostic.with_label(value.get.clone(), "the value comes from here");
        }
        self.mutations.push(Mutation {
            key: value.key,
            needs_container: ambiguous && !value.container,
            diagnostic,
        });
    }

    /// `var.set(..)` makes later `get()`s in this function its own value (unless it stores
    /// the value it got back); `var.reset(..)` undoes that.
    fn track_set(&mut self, call: &ast::ExprCall) {
        let Expr::Attribute(method) = &*call.func else {
            return;
        };
        let name = method.attr.id.as_str();
        if name != "set" && name != "reset" {
            return;
        }
        let Some(key) = self.var_key(&method.value) else {
            return;
        };
        if name == "reset" {
            self.scope.set_here.remove(&key);
            return;
        }
        let [value] = &*call.arguments.args else {
            return;
        };
        if self.module.container_kind(value).is_some() {
            self.declared.containers.insert(key.clone());
        }
        if self.value_of(value).is_none_or(|got| got.key != key) {
            self.scope.set_here.insert(key);
        }
    }

    fn finish(self) -> Vec<Diagnostic> {
        let containers = &self.declared.containers;
        let mut found = self.found;
        found.extend(
            self.mutations
                .into_iter()
                .filter(|mutation| !mutation.needs_container || containers.contains(&mutation.key))
                .map(|mutation| mutation.diagnostic),
        );
        found
    }
}
