//! The walk of one `async def` body in evaluation order, with a small dataflow state: which
//! task writes each attribute may still hold (*pending*), and which attributes the task has
//! written since it last suspended on every path (*fresh*: reading them sees its own value).
//! Branches join; a loop body is walked again when its end changes what reaches its top, so
//! a write at its end reaches a suspension at its top. Nested functions, classes and lambdas
//! are not this body's code.
//!
//! A *task write* stores a value of the task. A *reset* stores a value that belongs to no
//! task and ends the pending write before it (set, call, restore with no suspension between
//! is fine); it is never reported:
//! - `del local.x`, `delattr(..)`, an empty value (`None`, `False`, `0`, `""`, `[]`, `{}`);
//! - arithmetic on the attribute's own value (`local.depth += 1`, `local.n = local.n + 1`), or
//!   the restore of a value saved from it (`old = local.x` .. `local.x = old`);
//! - a per-thread value: the running event loop, the thread's identity.
//!
//! A pending write is reported when the coroutine suspends, except a per-thread cache or flag:
//! a write guarded by a test of the same attribute (`if not hasattr(local, "conn"):`, after
//! `if getattr(local, "ready", False): return`, under `except AttributeError:`) in a body that
//! never resets it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Range;

use super::{Access, Builtin, Outcome, Read, Resolver, Write};
use crate::python::ast::{self, Expr, Stmt};
use crate::python::range;
use crate::python::visitor::{self, Visitor};

/// Values that belong to the thread, not to a task.
const PER_THREAD_CALLS: &[&str] = &[
    "asyncio.get_running_loop",
    "asyncio.get_event_loop",
    "asyncio.new_event_loop",
    "threading.current_thread",
    "threading.get_ident",
    "threading.get_native_id",
    "os.getpid",
];

/// Walks one `async def` body and adds what it finds to `outcome`.
pub(super) fn walk(resolver: &Resolver<'_>, body: &[Stmt], outcome: &mut Outcome) {
    let mut saves = Saves {
        resolver,
        saves: HashMap::new(),
        sites: HashMap::new(),
        thread_values: HashSet::new(),
        stores: HashMap::new(),
    };
    saves.visit_body(body);
    let reassigned = saves
        .stores
        .into_iter()
        .filter(|(_, count)| *count > 1)
        .map(|(name, _)| name)
        .collect();
    let mut flow = Flow {
        resolver,
        saves: saves.saves,
        thread_values: saves.thread_values,
        reassigned,
        save_sites: saves.sites,
        restored: HashSet::new(),
        guards: Vec::new(),
        resets: HashSet::new(),
        writes: BTreeMap::new(),
        reads: BTreeMap::new(),
        loops: Vec::new(),
        tries: Vec::new(),
    };
    flow.block(body, &mut State::start());

    for write in flow.writes.into_values() {
        let cache_fill = write.guarded && !flow.resets.contains(&write.access.key);
        if let (Some(suspends_at), false) = (write.first_suspension, cache_fill) {
            outcome.writes.push(Write {
                access: write.access,
                range: write.range,
                suspends_at,
            });
        }
    }
    for (start, read) in flow.reads {
        let saved_for_restore = flow
            .save_sites
            .get(&start)
            .is_some_and(|name| flow.restored.contains(name));
        if !read.fresh && !saved_for_restore {
            outcome.reads.push(Read {
                access: read.access,
                range: read.range,
            });
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
struct State {
    /// `false` after a `return`, `raise`, `break` or `continue`.
    reachable: bool,
    /// The task writes each attribute may hold now (by the write's offset).
    pending: BTreeMap<String, BTreeSet<usize>>,
    /// Attributes this task wrote since it last suspended, on every path.
    fresh: BTreeSet<String>,
}

impl State {
    fn start() -> Self {
        State {
            reachable: true,
            ..State::default()
        }
    }

    fn join(&mut self, other: &State) {
        if !other.reachable {
            return;
        }
        if !self.reachable {
            *self = other.clone();
            return;
        }
        for (key, writes) in &other.pending {
            self.pending.entry(key.clone()).or_default().extend(writes);
        }
        self.fresh.retain(|key| other.fresh.contains(key));
    }
}

/// What is stored by a write.
#[derive(Clone, Copy)]
enum Stored<'e> {
    Value(&'e Expr),
    /// Unpacked from an iterable, or `setattr` without a value.
    Unknown,
    /// `del`, or a value computed from the attribute (`+=`).
    Reset,
}

struct WriteSite {
    access: Access,
    range: Range<usize>,
    /// Under a test of the same attribute (a cache filled when empty).
    guarded: bool,
    first_suspension: Option<Range<usize>>,
}

struct ReadSite {
    access: Access,
    range: Range<usize>,
    /// Fresh on every walk that reached it.
    fresh: bool,
}

/// The states that leave a loop early.
#[derive(Default)]
struct Jumps {
    breaks: State,
    continues: State,
}

/// The states that leave a `try` body early: a `raise` to its handlers, a `return` through its
/// `finally`.
struct TryFrame {
    has_handlers: bool,
    has_finally: bool,
    raised: State,
    returned: State,
}

struct Flow<'r> {
    resolver: &'r Resolver<'r>,
    /// Local names holding a value read from an attribute (`old = local.x`): name → key.
    saves: HashMap<String, String>,
    /// Names holding a per-thread value.
    thread_values: HashSet<String>,
    /// Names assigned more than once: writing one back is no restore.
    reassigned: HashSet<String>,
    /// Where each save reads (offset → local name).
    save_sites: HashMap<usize, String>,
    /// Saved names written back to their attribute.
    restored: HashSet<String>,
    /// Attributes read by the tests of the enclosing `if`s and the bodies of the enclosing
    /// `try`s (for their handlers).
    guards: Vec<HashSet<String>>,
    /// Attributes this body resets somewhere.
    resets: HashSet<String>,
    writes: BTreeMap<usize, WriteSite>,
    reads: BTreeMap<usize, ReadSite>,
    loops: Vec<Jumps>,
    tries: Vec<TryFrame>,
}

impl Flow<'_> {
    fn block(&mut self, body: &[Stmt], state: &mut State) {
        // Guards an early exit leaves for the rest of this block end with it.
        let guards = self.guards.len();
        for stmt in body {
            if !state.reachable {
                break;
            }
            self.stmt(stmt, state);
        }
        self.guards.truncate(guards);
    }

    fn stmt(&mut self, stmt: &Stmt, state: &mut State) {
        match stmt {
            Stmt::Expr(stmt) => self.expr(&stmt.value, state),
            Stmt::Assign(assign) => {
                self.expr(&assign.value, state);
                for target in &assign.targets {
                    self.target(target, Stored::Value(&assign.value), state);
                }
            }
            Stmt::AnnAssign(assign) => {
                if let Some(value) = &assign.value {
                    self.expr(value, state);
                    self.target(&assign.target, Stored::Value(value), state);
                }
            }
            Stmt::AugAssign(assign) => {
                self.expr(&assign.value, state);
                let access = match &*assign.target {
                    Expr::Attribute(attribute) => self.resolver.attribute(attribute),
                    _ => None,
                };
                match access {
                    Some(access) => {
                        let at = range(&*assign.target);
                        self.read(access.clone(), at.clone(), state);
                        self.write(access, at, Stored::Reset, state);
                    }
                    None => self.expr(&assign.target, state),
                }
            }
            Stmt::Delete(delete) => {
                for target in &delete.targets {
                    self.target(target, Stored::Reset, state);
                }
            }
            Stmt::Return(stmt) => {
                if let Some(value) = &stmt.value {
                    self.expr(value, state);
                }
                if let Some(frame) = self.tries.iter_mut().rev().find(|frame| frame.has_finally) {
                    frame.returned.join(state);
                }
                *state = State::default();
            }
            Stmt::Raise(stmt) => {
                for expr in stmt.exc.iter().chain(&stmt.cause) {
                    self.expr(expr, state);
                }
                if let Some(frame) = self.tries.iter_mut().rev().find(|frame| frame.has_handlers) {
                    frame.raised.join(state);
                }
                *state = State::default();
            }
            Stmt::Break(_) | Stmt::Continue(_) => {
                if let Some(jumps) = self.loops.last_mut() {
                    match stmt {
                        Stmt::Break(_) => jumps.breaks.join(state),
                        _ => jumps.continues.join(state),
                    }
                }
                *state = State::default();
            }
            Stmt::If(branch) => self.branches(branch, state),
            Stmt::While(stmt) => self.looping(
                |flow, state| flow.expr(&stmt.test, state),
                &stmt.body,
                &stmt.orelse,
                state,
            ),
            Stmt::For(stmt) => {
                self.expr(&stmt.iter, state);
                let at = range(&*stmt.iter);
                self.looping(
                    |flow, state| {
                        if stmt.is_async {
                            flow.suspend(at.clone(), state);
                        }
                        flow.target(&stmt.target, Stored::Unknown, state);
                    },
                    &stmt.body,
                    &stmt.orelse,
                    state,
                );
            }
            Stmt::With(stmt) => {
                for item in &stmt.items {
                    self.expr(&item.context_expr, state);
                    if stmt.is_async {
                        self.suspend(range(item), state);
                    }
                    if let Some(vars) = &item.optional_vars {
                        self.target(vars, Stored::Unknown, state);
                    }
                }
                self.block(&stmt.body, state);
                // `__aexit__` is awaited too.
                if let (true, Some(item)) = (stmt.is_async && state.reachable, stmt.items.last()) {
                    self.suspend(range(item), state);
                }
            }
            Stmt::Try(stmt) => self.try_stmt(stmt, state),
            Stmt::Match(stmt) => {
                self.expr(&stmt.subject, state);
                let mut out = state.clone();
                for case in &stmt.cases {
                    let mut taken = state.clone();
                    if let Some(guard) = &case.guard {
                        self.expr(guard, &mut taken);
                    }
                    self.block(&case.body, &mut taken);
                    out.join(&taken);
                }
                *state = out;
            }
            Stmt::Assert(stmt) => {
                self.expr(&stmt.test, state);
                if let Some(msg) = &stmt.msg {
                    self.expr(msg, state);
                }
            }
            // Nested definitions are not this body's code; the rest touches no attribute.
            Stmt::FunctionDef(_)
            | Stmt::ClassDef(_)
            | Stmt::TypeAlias(_)
            | Stmt::Import(_)
            | Stmt::ImportFrom(_)
            | Stmt::Global(_)
            | Stmt::Nonlocal(_)
            | Stmt::Pass(_)
            | Stmt::IpyEscapeCommand(_) => {}
        }
    }

    fn branches(&mut self, branch: &ast::StmtIf, state: &mut State) {
        self.expr(&branch.test, state);
        let guard = self.keys_read(|scan| scan.visit_expr(&branch.test));
        self.guards.push(guard);
        // `rest` is the state once every test so far failed.
        let mut rest = state.clone();
        let mut out = rest.clone();
        self.block(&branch.body, &mut out);
        let mut every_branch_exits = !out.reachable;
        let mut has_else = false;
        for clause in &branch.elif_else_clauses {
            match &clause.test {
                Some(test) => {
                    self.expr(test, &mut rest);
                    let keys = self.keys_read(|scan| scan.visit_expr(test));
                    if let Some(guard) = self.guards.last_mut() {
                        guard.extend(keys);
                    }
                }
                None => has_else = true,
            }
            let mut taken = rest.clone();
            self.block(&clause.body, &mut taken);
            every_branch_exits &= !taken.reachable;
            out.join(&taken);
        }
        let guard = self.guards.pop().unwrap_or_default();
        if !has_else {
            out.join(&rest);
        }
        *state = out;
        // `if getattr(tl, "ready", False): return` guards the rest of the block too.
        if every_branch_exits {
            self.guards.push(guard);
        }
    }

    /// A loop: `head` runs before each pass of `body` (a `while` test, a `for` target).
    fn looping(
        &mut self,
        head: impl Fn(&mut Self, &mut State),
        body: &[Stmt],
        orelse: &[Stmt],
        state: &mut State,
    ) {
        let entry = state.clone();
        let mut top = entry.clone();
        let (mut exit, mut breaks);
        loop {
            let mut current = top.clone();
            head(self, &mut current);
            exit = current.clone();
            self.loops.push(Jumps::default());
            self.block(body, &mut current);
            let jumps = self.loops.pop().unwrap_or_default();
            current.join(&jumps.continues);
            breaks = jumps.breaks;
            let mut next = entry.clone();
            next.join(&current);
            // A second pass sees what the end of the body brings to its top; joins only add
            // pending writes and drop fresh attributes, so a third would change nothing.
            if next == top || top != entry {
                break;
            }
            top = next;
        }
        self.block(orelse, &mut exit);
        exit.join(&breaks);
        *state = exit;
    }

    fn try_stmt(&mut self, stmt: &ast::StmtTry, state: &mut State) {
        let entry = state.clone();
        self.tries.push(TryFrame {
            has_handlers: !stmt.handlers.is_empty(),
            has_finally: !stmt.finalbody.is_empty(),
            raised: State::default(),
            returned: State::default(),
        });
        self.block(&stmt.body, state);
        // A handler may start anywhere in the body.
        let mut handler_entry = entry;
        handler_entry.join(state);
        if let Some(frame) = self.tries.last_mut() {
            handler_entry.join(&frame.raised);
            // A `raise` in a handler or the `else` goes to an enclosing `try`.
            frame.has_handlers = false;
        }
        let mut out = state.clone();
        self.block(&stmt.orelse, &mut out);
        if !stmt.handlers.is_empty() {
            let guard = self.keys_read(|scan| scan.visit_body(&stmt.body));
            self.guards.push(guard);
            for handler in &stmt.handlers {
                let ast::ExceptHandler::ExceptHandler(handler) = handler;
                let mut caught = handler_entry.clone();
                self.block(&handler.body, &mut caught);
                out.join(&caught);
            }
            self.guards.pop();
        }
        let frame = self.tries.pop();
        if !stmt.finalbody.is_empty() {
            self.block(&stmt.finalbody, &mut out);
            if let Some(mut returned) = frame.map(|frame| frame.returned) {
                if returned.reachable {
                    self.block(&stmt.finalbody, &mut returned);
                }
            }
        }
        *state = out;
    }

    /// An assignment (or `del`, or a `for`/`with` target) of `target`.
    fn target(&mut self, target: &Expr, stored: Stored<'_>, state: &mut State) {
        match target {
            Expr::Attribute(attribute) => match self.resolver.attribute(attribute) {
                Some(access) => self.write(access, range(target), stored, state),
                None => self.expr(&attribute.value, state),
            },
            Expr::Tuple(ast::ExprTuple { elts, .. }) | Expr::List(ast::ExprList { elts, .. }) => {
                let values = match stored {
                    Stored::Value(
                        Expr::Tuple(ast::ExprTuple { elts: values, .. })
                        | Expr::List(ast::ExprList { elts: values, .. }),
                    ) if values.len() == elts.len()
                        && !values.iter().chain(elts).any(Expr::is_starred_expr) =>
                    {
                        Some(values)
                    }
                    _ => None,
                };
                for (at, element) in elts.iter().enumerate() {
                    let stored = match (values, stored) {
                        (Some(values), _) => Stored::Value(&values[at]),
                        (None, Stored::Reset) => Stored::Reset,
                        (None, _) => Stored::Unknown,
                    };
                    self.target(element, stored, state);
                }
            }
            Expr::Starred(starred) => self.target(&starred.value, Stored::Unknown, state),
            _ => self.expr(target, state),
        }
    }

    fn expr(&mut self, expr: &Expr, state: &mut State) {
        Exprs { flow: self, state }.visit_expr(expr);
    }

    fn write(&mut self, access: Access, at: Range<usize>, stored: Stored<'_>, state: &mut State) {
        let key = access.key.clone();
        state.fresh.insert(key.clone());
        if self.is_reset(&key, stored) {
            state.pending.remove(&key);
            self.resets.insert(key);
            return;
        }
        let guarded = self.guards.iter().any(|guard| guard.contains(&key));
        self.writes.entry(at.start).or_insert_with(|| WriteSite {
            access,
            range: at.clone(),
            guarded,
            first_suspension: None,
        });
        state.pending.insert(key, BTreeSet::from([at.start]));
    }

    fn is_reset(&mut self, key: &str, stored: Stored<'_>) -> bool {
        let value = match stored {
            Stored::Reset => return true,
            Stored::Unknown => return false,
            Stored::Value(value) => value,
        };
        if let Expr::Name(name) = value {
            let id = name.id.as_str();
            if self.reassigned.contains(id) {
                return false;
            }
            if self.saves.get(id).is_some_and(|saved| saved == key) {
                self.restored.insert(id.to_string());
                return true;
            }
            return self.thread_values.contains(id);
        }
        is_empty(value)
            || is_per_thread(self.resolver, value)
            || (is_arithmetic(value) && self.keys_read(|scan| scan.visit_expr(value)).contains(key))
    }

    fn read(&mut self, access: Access, at: Range<usize>, state: &State) {
        let fresh = state.fresh.contains(&access.key);
        self.reads
            .entry(at.start)
            .and_modify(|read| read.fresh &= fresh)
            .or_insert(ReadSite {
                access,
                range: at,
                fresh,
            });
    }

    /// The coroutine yields to the event loop: other tasks run on this thread.
    fn suspend(&mut self, at: Range<usize>, state: &mut State) {
        for start in state.pending.values().flatten() {
            if let Some(write) = self.writes.get_mut(start) {
                write.first_suspension.get_or_insert_with(|| at.clone());
            }
        }
        state.fresh.clear();
    }

    /// The attributes code reads, directly or through a name saved from one.
    fn keys_read(&self, scan: impl FnOnce(&mut KeyScan<'_>)) -> HashSet<String> {
        let mut scanner = KeyScan {
            resolver: self.resolver,
            keys: HashSet::new(),
            names: HashSet::new(),
        };
        scan(&mut scanner);
        let saved = scanner
            .names
            .iter()
            .filter_map(|name| self.saves.get(name).cloned());
        scanner.keys.into_iter().chain(saved).collect()
    }
}

/// A call of one of `PER_THREAD_CALLS`.
fn is_per_thread(resolver: &Resolver<'_>, value: &Expr) -> bool {
    resolver
        .locals
        .index
        .call_target(value)
        .is_some_and(|called| PER_THREAD_CALLS.contains(&called.as_str()))
}

/// An update of a number or flag (`n + 1`, `-n`, `x or y`): from the attribute's own value,
/// a counter. A container holding the old value (`{"parent": old}`) is a new task value.
fn is_arithmetic(value: &Expr) -> bool {
    matches!(value, Expr::BinOp(_) | Expr::UnaryOp(_) | Expr::BoolOp(_))
}

/// A value that belongs to no task: `None`, `False`, zero, an empty literal or constructor.
fn is_empty(value: &Expr) -> bool {
    match value {
        Expr::NoneLiteral(_) => true,
        Expr::BooleanLiteral(literal) => !literal.value,
        Expr::NumberLiteral(literal) => {
            matches!(&literal.value, ast::Number::Int(int) if int.as_u8() == Some(0))
        }
        Expr::StringLiteral(literal) => literal.value.is_empty(),
        Expr::List(list) => list.elts.is_empty(),
        Expr::Tuple(tuple) => tuple.elts.is_empty(),
        Expr::Dict(dict) => dict.items.is_empty(),
        Expr::Call(call) => {
            call.arguments.args.is_empty()
                && call.arguments.keywords.is_empty()
                && matches!(&*call.func, Expr::Name(name) if matches!(name.id.as_str(), "list" | "dict" | "set" | "tuple"))
        }
        _ => false,
    }
}

/// Walks an expression in evaluation order, turning reads, writes and suspensions into flow
/// events.
struct Exprs<'f, 'r> {
    flow: &'f mut Flow<'r>,
    state: &'f mut State,
}

impl<'a> Visitor<'a> for Exprs<'_, '_> {
    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Lambda(_) => {}
            Expr::Await(_) | Expr::Yield(_) | Expr::YieldFrom(_) => {
                visitor::walk_expr(self, expr);
                self.flow.suspend(range(expr), self.state);
            }
            Expr::Attribute(attribute) if attribute.ctx.is_load() => {
                match self.flow.resolver.attribute(attribute) {
                    Some(access) => self.flow.read(access, range(expr), self.state),
                    None => visitor::walk_expr(self, expr),
                }
            }
            Expr::Call(call) => {
                visitor::walk_expr(self, expr);
                if let Some((builtin, access)) = self.flow.resolver.builtin_call(call) {
                    let at = range(expr);
                    match builtin {
                        Builtin::Getattr | Builtin::Hasattr => {
                            self.flow.read(access, at, self.state);
                        }
                        Builtin::Setattr => {
                            let stored = call
                                .arguments
                                .args
                                .get(2)
                                .map_or(Stored::Unknown, Stored::Value);
                            self.flow.write(access, at, stored, self.state);
                        }
                        Builtin::Delattr => self.flow.write(access, at, Stored::Reset, self.state),
                    }
                }
            }
            _ => visitor::walk_expr(self, expr),
        }
    }
}

/// Collects the attributes code reads and the names it mentions.
struct KeyScan<'r> {
    resolver: &'r Resolver<'r>,
    keys: HashSet<String>,
    names: HashSet<String>,
}

impl<'a> Visitor<'a> for KeyScan<'_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if !matches!(stmt, Stmt::FunctionDef(_) | Stmt::ClassDef(_)) {
            visitor::walk_stmt(self, stmt);
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Lambda(_) => {}
            Expr::Name(name) => {
                self.names.insert(name.id.to_string());
            }
            _ => {
                if let Some(access) = self.resolver.read(expr) {
                    self.keys.insert(access.key);
                }
                visitor::walk_expr(self, expr);
            }
        }
    }
}

/// `name = local.attr` (or `getattr(local, "attr", ..)`): a value saved, maybe to restore.
struct Saves<'r> {
    resolver: &'r Resolver<'r>,
    saves: HashMap<String, String>,
    sites: HashMap<usize, String>,
    /// Names holding a per-thread value (`loop = asyncio.get_running_loop()`).
    thread_values: HashSet<String>,
    /// How often each name is assigned: one assigned again holds more than the saved value.
    stores: HashMap<String, usize>,
}

impl<'a> Visitor<'a> for Saves<'_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(_) | Stmt::ClassDef(_) => {}
            Stmt::Assign(assign) => {
                if let [Expr::Name(name)] = &*assign.targets {
                    if is_per_thread(self.resolver, &assign.value) {
                        self.thread_values.insert(name.id.to_string());
                    }
                }
                if let ([Expr::Name(name)], Some(access)) =
                    (&*assign.targets, self.resolver.read(&assign.value))
                {
                    // `hasattr` answers a question; it saves no value.
                    let asks = matches!(&*assign.value, Expr::Call(call) if self
                        .resolver
                        .builtin_call(call)
                        .is_some_and(|(builtin, _)| builtin == Builtin::Hasattr));
                    if !asks {
                        self.saves.insert(name.id.to_string(), access.key);
                        self.sites
                            .insert(range(&*assign.value).start, name.id.to_string());
                    }
                }
                visitor::walk_stmt(self, stmt);
            }
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Lambda(_) => {}
            Expr::Name(name) if name.ctx.is_store() => {
                *self.stores.entry(name.id.to_string()).or_default() += 1;
            }
            _ => visitor::walk_expr(self, expr),
        }
    }
}
