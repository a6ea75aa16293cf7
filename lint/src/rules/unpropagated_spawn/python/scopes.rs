//! Who binds what where. Every function, lambda, comprehension and class of a module is a
//! scope holding the names it binds and the calls made directly in it, so a callable handed
//! to a thread resolves to its definition, or to nothing when a parameter, a loop variable
//! or a second assignment shadows it.

use std::collections::{HashMap, HashSet};

use crate::python::ast::{self, Expr, Stmt};
use crate::python::visitor::{self, Visitor};
use crate::python::PyFileIndex;

pub(super) type ScopeId = usize;

/// The module's scope.
pub(super) const MODULE: ScopeId = 0;

pub(super) enum ScopeKind<'a> {
    Module,
    Class(&'a ast::StmtClassDef),
    Function(&'a ast::StmtFunctionDef),
    Lambda,
    /// Runs inline, as part of its enclosing scope.
    Comprehension,
}

/// One binding of a name.
#[derive(Clone, Copy)]
pub(super) enum Binding<'a> {
    /// `def name(..)`: the function's scope.
    Function(ScopeId),
    /// `class name(..)`: the class's scope.
    Class(ScopeId),
    /// `name = value`, `with value as name`, `self.name = value`: the value, and the scope
    /// it is evaluated in.
    Value(&'a Expr, ScopeId),
    /// A parameter, or an annotated assignment of something other than a call: the
    /// annotation.
    Annotated(&'a Expr),
    /// `import` / `from .. import`: the module index resolves it.
    Imported,
    /// Anything else: an unannotated parameter, a loop variable, `nonlocal name`.
    Opaque,
}

pub(super) struct Scope<'a> {
    pub(super) kind: ScopeKind<'a>,
    pub(super) parent: Option<ScopeId>,
    /// Every binding of each name here; a class's also holds the `self.name = ..`
    /// assignments of its methods.
    pub(super) bindings: HashMap<&'a str, Vec<Binding<'a>>>,
    /// Calls made directly here (those in a nested function, lambda or comprehension
    /// belong to that scope).
    pub(super) calls: Vec<&'a ast::ExprCall>,
    /// Comprehensions directly inside, which run as part of this scope.
    pub(super) comprehensions: Vec<ScopeId>,
    /// For a method: its class's scope and the name of its `self` parameter.
    pub(super) receiver: Option<(ScopeId, &'a str)>,
}

pub(super) struct Scopes<'a> {
    scopes: Vec<Scope<'a>>,
    /// Lambdas by the start of their range.
    lambdas: HashMap<usize, ScopeId>,
}

impl<'a> Scopes<'a> {
    pub(super) fn build(module: &'a ast::ModModule) -> Self {
        let mut builder = Builder {
            scopes: Scopes {
                scopes: Vec::new(),
                lambdas: HashMap::new(),
            },
            current: MODULE,
            globals: HashSet::new(),
        };
        builder.push(ScopeKind::Module);
        builder.visit_body(&module.body);
        builder.scopes
    }

    pub(super) fn get(&self, id: ScopeId) -> &Scope<'a> {
        &self.scopes[id]
    }

    pub(super) fn ids(&self) -> std::ops::Range<ScopeId> {
        0..self.scopes.len()
    }

    pub(super) fn lambda(&self, lambda: &ast::ExprLambda) -> Option<ScopeId> {
        self.lambdas
            .get(&crate::python::range(lambda).start)
            .copied()
    }

    /// The scope whose binding of `name` is visible from `from`, Python's way: a class
    /// body's names are not visible in the functions nested in it.
    pub(super) fn binder(&self, name: &str, from: ScopeId) -> Option<ScopeId> {
        let mut at = Some(from);
        while let Some(id) = at {
            let scope = &self.scopes[id];
            let visible = id == from || !matches!(scope.kind, ScopeKind::Class(_));
            if visible && scope.bindings.contains_key(name) {
                return Some(id);
            }
            at = scope.parent;
        }
        None
    }

    /// Every binding of `name` visible from `from` (empty when nothing binds it).
    pub(super) fn lookup(&self, name: &str, from: ScopeId) -> &[Binding<'a>] {
        self.binder(name, from)
            .and_then(|id| self.scopes[id].bindings.get(name))
            .map_or(&[], Vec::as_slice)
    }

    /// The class whose instance `name` is, when `name` is the `self` of an enclosing method.
    pub(super) fn class_of_receiver(&self, name: &str, from: ScopeId) -> Option<ScopeId> {
        let binder = self.binder(name, from)?;
        match self.scopes[binder].receiver {
            Some((class, receiver)) if receiver == name => Some(class),
            _ => None,
        }
    }

    /// The function a callable name or `self.name` stands for: exactly one binding, a
    /// synchronous `def` (calling an `async def` runs none of its body).
    pub(super) fn function(
        &self,
        bindings: &[Binding<'a>],
    ) -> Option<(ScopeId, &'a ast::StmtFunctionDef)> {
        let [Binding::Function(id)] = bindings else {
            return None;
        };
        match self.scopes[*id].kind {
            ScopeKind::Function(def) if !def.is_async => Some((*id, def)),
            _ => None,
        }
    }

    /// The dotted name `expr` stands for through the module's imports and names, unless a
    /// local binding (a parameter `context`, a variable `trace`) shadows its first name.
    pub(super) fn resolve_global(
        &self,
        index: &PyFileIndex,
        expr: &Expr,
        from: ScopeId,
    ) -> Option<String> {
        let mut root = expr;
        while let Expr::Attribute(attribute) = root {
            root = &attribute.value;
        }
        let Expr::Name(name) = root else { return None };
        match self.binder(name.id.as_str(), from) {
            None | Some(MODULE) => index.resolve(expr),
            Some(_) => None,
        }
    }

    /// Whether the scope is a function body or a lambda (or inside one): code that runs when
    /// called, not at import.
    pub(super) fn in_function(&self, id: ScopeId) -> bool {
        let mut at = Some(id);
        while let Some(id) = at {
            if matches!(
                self.scopes[id].kind,
                ScopeKind::Function(_) | ScopeKind::Lambda
            ) {
                return true;
            }
            at = self.scopes[id].parent;
        }
        false
    }
}

/// `@staticmethod` / `@classmethod`: the decorators that keep the function as it is.
fn is_method_kind(decorator: &ast::Decorator) -> bool {
    matches!(&decorator.expression, Expr::Name(name) if matches!(name.id.as_str(), "staticmethod" | "classmethod"))
}

struct Builder<'a> {
    scopes: Scopes<'a>,
    current: ScopeId,
    /// The names each scope declares `global`: its assignments bind them in the module.
    globals: HashSet<(ScopeId, &'a str)>,
}

impl<'a> Builder<'a> {
    fn push(&mut self, kind: ScopeKind<'a>) -> ScopeId {
        let id = self.scopes.scopes.len();
        let parent = (id != MODULE).then_some(self.current);
        self.scopes.scopes.push(Scope {
            kind,
            parent,
            bindings: HashMap::new(),
            calls: Vec::new(),
            comprehensions: Vec::new(),
            receiver: None,
        });
        id
    }

    fn bind(&mut self, scope: ScopeId, name: &'a str, binding: Binding<'a>) {
        self.scopes.scopes[scope]
            .bindings
            .entry(name)
            .or_default()
            .push(binding);
    }

    /// Binds the names of an assignment target; `value` is what a plain name receives.
    fn bind_target(&mut self, target: &'a Expr, value: Option<Binding<'a>>) {
        match target {
            Expr::Name(name) => {
                let name = name.id.as_str();
                let scope = if self.globals.contains(&(self.current, name)) {
                    MODULE
                } else {
                    self.current
                };
                self.bind(scope, name, value.unwrap_or(Binding::Opaque))
            }
            Expr::Attribute(attribute) => {
                if let Expr::Name(object) = attribute.value.as_ref() {
                    if let Some((class, receiver)) = self.scopes.scopes[self.current].receiver {
                        if receiver == object.id.as_str() {
                            let binding = value.unwrap_or(Binding::Opaque);
                            self.bind(class, attribute.attr.id.as_str(), binding);
                        }
                    }
                }
            }
            Expr::Tuple(tuple) => {
                for element in &tuple.elts {
                    self.bind_target(element, None);
                }
            }
            Expr::List(list) => {
                for element in &list.elts {
                    self.bind_target(element, None);
                }
            }
            Expr::Starred(starred) => self.bind_target(&starred.value, None),
            _ => {}
        }
    }

    fn bind_parameters(&mut self, scope: ScopeId, parameters: &'a ast::Parameters) {
        let with_defaults = parameters
            .posonlyargs
            .iter()
            .chain(&parameters.args)
            .chain(&parameters.kwonlyargs)
            .map(|parameter| &parameter.parameter);
        let variadic = parameters.vararg.iter().chain(&parameters.kwarg);
        for parameter in with_defaults.chain(variadic.map(Box::as_ref)) {
            let binding = match &parameter.annotation {
                Some(annotation) => Binding::Annotated(annotation),
                None => Binding::Opaque,
            };
            self.bind(scope, parameter.name.id.as_str(), binding);
        }
    }

    fn function(&mut self, def: &'a ast::StmtFunctionDef) {
        // Decorators, defaults and annotations are evaluated where the `def` is.
        for decorator in &def.decorator_list {
            self.visit_decorator(decorator);
        }
        self.visit_parameters(&def.parameters);
        if let Some(returns) = &def.returns {
            self.visit_annotation(returns);
        }
        let outer = self.current;
        let id = self.push(ScopeKind::Function(def));
        self.bind(outer, def.name.id.as_str(), Binding::Function(id));
        self.bind_parameters(id, &def.parameters);
        let parameters = &def.parameters;
        let first = parameters.posonlyargs.iter().chain(&parameters.args).next();
        let instance_method = !def.decorator_list.iter().any(is_method_kind);
        if let (ScopeKind::Class(_), Some(first), true) =
            (&self.scopes.scopes[outer].kind, first, instance_method)
        {
            self.scopes.scopes[id].receiver = Some((outer, first.parameter.name.id.as_str()));
        }
        self.current = id;
        self.visit_body(&def.body);
        self.current = outer;
    }

    fn comprehension(&mut self, generators: &'a [ast::Comprehension], parts: &[&'a Expr]) {
        let outer = self.current;
        let id = self.push(ScopeKind::Comprehension);
        self.scopes.scopes[outer].comprehensions.push(id);
        self.current = id;
        for generator in generators {
            self.bind_target(&generator.target, None);
            self.visit_comprehension(generator);
        }
        for part in parts {
            self.visit_expr(part);
        }
        self.current = outer;
    }
}

impl<'a> Visitor<'a> for Builder<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(def) => return self.function(def),
            Stmt::ClassDef(class) => {
                for decorator in &class.decorator_list {
                    self.visit_decorator(decorator);
                }
                if let Some(arguments) = &class.arguments {
                    self.visit_arguments(arguments);
                }
                let outer = self.current;
                let id = self.push(ScopeKind::Class(class));
                self.bind(outer, class.name.id.as_str(), Binding::Class(id));
                self.current = id;
                self.visit_body(&class.body);
                self.current = outer;
                return;
            }
            Stmt::Assign(assign) => {
                for target in &assign.targets {
                    self.bind_target(target, Some(Binding::Value(&assign.value, self.current)));
                }
            }
            Stmt::AnnAssign(assign) => {
                // A constructor says more than the annotation (`Executor`); `None` says less.
                let binding = match assign.value.as_deref() {
                    Some(value @ Expr::Call(_)) => Binding::Value(value, self.current),
                    _ => Binding::Annotated(&assign.annotation),
                };
                self.bind_target(&assign.target, Some(binding))
            }
            Stmt::AugAssign(assign) => self.bind_target(&assign.target, None),
            Stmt::For(each) => self.bind_target(&each.target, None),
            Stmt::With(with) => {
                // An executor's (and a pool's) `__enter__` returns the executor itself.
                for item in &with.items {
                    if let Some(name) = &item.optional_vars {
                        let value = Binding::Value(&item.context_expr, self.current);
                        self.bind_target(name, Some(value));
                    }
                }
            }
            Stmt::Import(import) => {
                for alias in &import.names {
                    let bound = alias.asname.as_ref().unwrap_or(&alias.name).id.as_str();
                    let top = bound.split('.').next().unwrap_or(bound);
                    self.bind(self.current, top, Binding::Imported);
                }
            }
            Stmt::ImportFrom(import) => {
                for alias in &import.names {
                    let bound = alias.asname.as_ref().unwrap_or(&alias.name).id.as_str();
                    self.bind(self.current, bound, Binding::Imported);
                }
            }
            Stmt::Global(global) => {
                for name in &global.names {
                    self.globals.insert((self.current, name.id.as_str()));
                }
            }
            Stmt::Nonlocal(nonlocal) => {
                for name in &nonlocal.names {
                    self.bind(self.current, name.id.as_str(), Binding::Opaque);
                }
            }
            Stmt::Try(block) => {
                for handler in &block.handlers {
                    let ast::ExceptHandler::ExceptHandler(handler) = handler;
                    if let Some(name) = &handler.name {
                        self.bind(self.current, name.id.as_str(), Binding::Opaque);
                    }
                }
            }
            _ => {}
        }
        visitor::walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Call(call) => {
                self.scopes.scopes[self.current].calls.push(call);
                visitor::walk_expr(self, expr);
            }
            Expr::Lambda(lambda) => {
                if let Some(parameters) = &lambda.parameters {
                    self.visit_parameters(parameters);
                }
                let outer = self.current;
                let id = self.push(ScopeKind::Lambda);
                let start = crate::python::range(lambda).start;
                self.scopes.lambdas.insert(start, id);
                if let Some(parameters) = &lambda.parameters {
                    self.bind_parameters(id, parameters);
                }
                self.current = id;
                self.visit_expr(&lambda.body);
                self.current = outer;
            }
            Expr::Named(named) => {
                self.bind_target(&named.target, None);
                visitor::walk_expr(self, expr);
            }
            Expr::ListComp(comprehension) => {
                self.comprehension(&comprehension.generators, &[&comprehension.elt])
            }
            Expr::SetComp(comprehension) => {
                self.comprehension(&comprehension.generators, &[&comprehension.elt])
            }
            Expr::Generator(comprehension) => {
                self.comprehension(&comprehension.generators, &[&comprehension.elt])
            }
            Expr::DictComp(comprehension) => {
                let mut parts = vec![comprehension.value.as_ref()];
                parts.extend(comprehension.key.as_deref());
                self.comprehension(&comprehension.generators, &parts)
            }
            _ => visitor::walk_expr(self, expr),
        }
    }
}
