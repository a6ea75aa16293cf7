//! The program language shared by `state_machine.rs` and `cpython_differential.rs`.
//!
//! A program is a tree of [`Op`]s over three `ContextVar<i64>`s, [`TOKENS`] token slots and
//! [`CONTEXTS`] context slots. [`exec`] runs one on ctxvars and records every observation in
//! the [`Env`]'s trace; each test compares that trace with its own oracle (a plain model, or
//! CPython). Both oracles follow the same slot rules:
//!
//! - A token slot is empty, live or spent. `Reset` consumes a live token: success leaves the
//!   slot spent, an error leaves it empty (Rust's `reset` took the token; CPython keeps a
//!   rejected token usable, so its side drops it too). `Reset` of a spent token is CPython's
//!   `RuntimeError`; Rust cannot express it (`reset` moved the token), so [`exec`] records
//!   `TokenError::AlreadyUsed` without calling ctxvars.
//! - A context slot is empty, holds a `Context`, or is entered (its `Context` is running).
//!   `Run` of an entered context is CPython's `RuntimeError`; Rust cannot express it (`run`
//!   takes `&mut self`), so [`exec`] records [`Obs::AlreadyEntered`]. Cloning, reading or
//!   moving an entered context records [`Obs::Busy`] on both sides, because Rust cannot
//!   borrow a running `Context`. Like a Python variable, a slot overwritten while its context
//!   runs keeps the new value.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::mpsc;
use std::task::{Context as TaskContext, Poll, Waker};

use ctxvars::{
    copy_context, propagate, Context, ContextFutureExt, ContextVar, Token, TokenError, WithContext,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::Config;

pub const VARS: usize = 3;
pub const TOKENS: usize = 3;
pub const CONTEXTS: usize = 2;

/// Negative, so a default is never mistaken for a generated (positive) value.
const C_DEFAULT: i64 = -1;
/// The default of each variable in [`var`].
pub const DEFAULTS: [Option<i64>; VARS] = [None, None, Some(C_DEFAULT)];

static A: ContextVar<i64> = ContextVar::new("a");
static B: ContextVar<i64> = ContextVar::new("b");
static C: ContextVar<i64> = ContextVar::with_default("c", || C_DEFAULT);

/// The variable with index `index` (`< VARS`).
pub fn var(index: usize) -> &'static ContextVar<i64> {
    [&A, &B, &C][index]
}

#[derive(Clone, Debug)]
pub enum Op {
    /// Records `var.get()`.
    Get { var: usize },
    /// `var.set(value)`, keeping the token in a token slot.
    Set {
        var: usize,
        value: i64,
        token: usize,
    },
    /// `var.reset(token)`; records the outcome.
    Reset { var: usize, token: usize },
    /// Fills a context slot with `Context::new()`.
    NewContext { ctx: usize },
    /// Fills a context slot with `copy_context()`.
    CopyContext { ctx: usize },
    /// `Context::clone` (Python's `ctx.copy()`) of one slot into another.
    CloneContext { from: usize, to: usize },
    /// Records `Context::get` (Python's `ctx.get(var)`: no defaults).
    ContextGet { ctx: usize, var: usize },
    /// `Context::run` of a context slot.
    Run { ctx: usize, body: Vec<Op> },
    /// `ContextVar::scope`.
    Scope {
        var: usize,
        value: i64,
        body: Vec<Op>,
    },
    /// `propagate(job)`, then `between` here, then the job on a new `std::thread`.
    Propagate { between: Vec<Op>, job: Vec<Op> },
    /// A `WithContext` future polled once per entry of `polls` (which runs inside its
    /// context), running `between[k]` outside after poll `k`.
    Future {
        source: Source,
        polls: Vec<Vec<Op>>,
        between: Vec<Vec<Op>>,
    },
}

/// Where a `WithContext` future gets its context.
#[derive(Clone, Copy, Debug)]
pub enum Source {
    /// `with_current_context()`: a snapshot taken now.
    Current,
    /// `with_context(ctx)`, moving the `Context` out of a context slot.
    Slot(usize),
}

/// One entry of a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Obs {
    /// A `get` or `Context::get` result.
    Value(Option<i64>),
    /// `reset` succeeded.
    Reset,
    /// `reset` failed.
    TokenError(TokenError),
    /// `Run` of a context that is already running.
    AlreadyEntered,
    /// `Reset` of an empty token slot.
    NoToken,
    /// An empty context slot was used.
    NoContext,
    /// A running context was cloned, read or moved into a future.
    Busy,
}

/// The trace word; CPython's exceptions are mapped to the same words by the Python side.
impl fmt::Display for Obs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Obs::Value(Some(value)) => write!(f, "{value}"),
            Obs::Value(None) => f.write_str("-"),
            Obs::Reset => f.write_str("ok"),
            // "... was created by a different ContextVar"
            Obs::TokenError(TokenError::DifferentVar) => f.write_str("ValueError:var"),
            // "... was created in a different Context"
            Obs::TokenError(TokenError::DifferentContext) => f.write_str("ValueError:ctx"),
            // "... has already been used once"
            Obs::TokenError(TokenError::AlreadyUsed) => f.write_str("RuntimeError:used"),
            // "cannot enter context: ... is already entered"
            Obs::AlreadyEntered => f.write_str("RuntimeError:entered"),
            Obs::NoToken => f.write_str("no-token"),
            Obs::NoContext => f.write_str("no-context"),
            Obs::Busy => f.write_str("busy"),
        }
    }
}

#[derive(Default)]
enum TokenSlot {
    #[default]
    Empty,
    Live(Token<i64>),
    Spent,
}

#[derive(Default)]
enum ContextSlot {
    #[default]
    Empty,
    Held(Context),
    /// Taken by the run with this number, which puts it back if the slot still says so.
    Entered(u64),
}

/// The slots and the trace of one program run. `Send`, so a job can take it to its thread.
#[derive(Default)]
pub struct Env {
    tokens: [TokenSlot; TOKENS],
    contexts: [ContextSlot; CONTEXTS],
    runs: u64,
    trace: Vec<Obs>,
}

impl Env {
    pub fn take_trace(&mut self) -> Vec<Obs> {
        mem::take(&mut self.trace)
    }

    fn record(&mut self, obs: Obs) {
        self.trace.push(obs);
    }
}

/// Runs `ops` in the current context.
pub fn exec(env: &mut Env, ops: &[Op]) {
    for op in ops {
        step(env, op);
    }
}

fn step(env: &mut Env, op: &Op) {
    match *op {
        Op::Get { var: v } => env.record(Obs::Value(var(v).get())),
        Op::Set {
            var: v,
            value,
            token,
        } => {
            env.tokens[token] = TokenSlot::Live(var(v).set(value));
        }
        Op::Reset { var: v, token } => {
            let obs = match mem::take(&mut env.tokens[token]) {
                TokenSlot::Empty => Obs::NoToken,
                TokenSlot::Spent => {
                    env.tokens[token] = TokenSlot::Spent;
                    Obs::TokenError(TokenError::AlreadyUsed)
                }
                TokenSlot::Live(live) => match var(v).reset(live) {
                    Ok(()) => {
                        env.tokens[token] = TokenSlot::Spent;
                        Obs::Reset
                    }
                    Err(error) => Obs::TokenError(error),
                },
            };
            env.record(obs);
        }
        Op::NewContext { ctx } => env.contexts[ctx] = ContextSlot::Held(Context::new()),
        Op::CopyContext { ctx } => env.contexts[ctx] = ContextSlot::Held(copy_context()),
        Op::CloneContext { from, to } => match &env.contexts[from] {
            ContextSlot::Held(context) => env.contexts[to] = ContextSlot::Held(context.clone()),
            other => env.record(unavailable(other)),
        },
        Op::ContextGet { ctx, var: v } => {
            let obs = match &env.contexts[ctx] {
                ContextSlot::Held(context) => Obs::Value(context.get(var(v)).copied()),
                other => unavailable(other),
            };
            env.record(obs);
        }
        Op::Run { ctx, ref body } => run_in_slot(env, ctx, |env| exec(env, body)),
        Op::Scope {
            var: v,
            value,
            ref body,
        } => var(v).scope(value, || exec(env, body)),
        Op::Propagate {
            ref between,
            ref job,
        } => propagate_to_thread(env, between, job),
        Op::Future {
            source,
            ref polls,
            ref between,
        } => {
            let Some(mut task) = start_task(env, source) else {
                return;
            };
            for (k, poll) in polls.iter().enumerate() {
                task.poll(env, poll);
                if let Some(ops) = between.get(k) {
                    exec(env, ops);
                }
            }
        }
    }
}

fn unavailable(slot: &ContextSlot) -> Obs {
    match slot {
        ContextSlot::Empty => Obs::NoContext,
        _ => Obs::Busy,
    }
}

/// `Context::run` of the context in `slot`, with `body` inside; records why not if the slot
/// has no context that can run.
pub fn run_in_slot(env: &mut Env, slot: usize, body: impl FnOnce(&mut Env)) {
    match mem::take(&mut env.contexts[slot]) {
        ContextSlot::Held(mut context) => {
            env.runs += 1;
            let run = env.runs;
            env.contexts[slot] = ContextSlot::Entered(run);
            context.run(|| body(env));
            if matches!(env.contexts[slot], ContextSlot::Entered(r) if r == run) {
                env.contexts[slot] = ContextSlot::Held(context);
            }
        }
        ContextSlot::Entered(run) => {
            env.contexts[slot] = ContextSlot::Entered(run);
            env.record(Obs::AlreadyEntered);
        }
        ContextSlot::Empty => env.record(Obs::NoContext),
    }
}

fn propagate_to_thread(env: &mut Env, between: &[Op], job: &[Op]) {
    let (send_env, receive_env) = mpsc::channel::<Env>();
    let job = job.to_vec();
    // The snapshot is taken here, so `between` must not show up in the job.
    let job = propagate(move || {
        let mut env = receive_env
            .recv()
            .expect("the env is sent before the thread starts");
        exec(&mut env, &job);
        env
    });
    exec(env, between);
    send_env
        .send(mem::take(env))
        .expect("the job owns the receiver");
    *env = std::thread::spawn(job)
        .join()
        .expect("the job thread panicked");
}

/// Wraps a fresh future in a context from `source`; records why not if the slot has none.
pub fn start_task(env: &mut Env, source: Source) -> Option<Task> {
    let inbox = Rc::new(RefCell::new(None));
    let resume = Resume {
        inbox: Rc::clone(&inbox),
    };
    let future = match source {
        Source::Current => resume.with_current_context(),
        Source::Slot(slot) => match mem::take(&mut env.contexts[slot]) {
            ContextSlot::Held(context) => resume.with_context(context),
            other => {
                let obs = unavailable(&other);
                env.contexts[slot] = other;
                env.record(obs);
                return None;
            }
        },
    };
    Some(Task {
        future: Box::pin(future),
        inbox,
    })
}

type Inbox = Rc<RefCell<Option<(Env, Vec<Op>)>>>;

/// A `WithContext` future polled by hand with a no-op waker, no executor involved.
pub struct Task {
    future: Pin<Box<WithContext<Resume>>>,
    inbox: Inbox,
}

impl Task {
    /// Polls once; the poll runs `ops` with `env`, inside the future's context.
    pub fn poll(&mut self, env: &mut Env, ops: &[Op]) {
        *self.inbox.borrow_mut() = Some((mem::take(env), ops.to_vec()));
        let poll = self
            .future
            .as_mut()
            .poll(&mut TaskContext::from_waker(Waker::noop()));
        assert!(poll.is_pending(), "Resume never finishes");
        let (returned, _) = self
            .inbox
            .borrow_mut()
            .take()
            .expect("Resume hands env back");
        *env = returned;
    }
}

/// Runs the ops handed over by [`Task::poll`]; pending forever, the caller decides the polls.
struct Resume {
    inbox: Inbox,
}

impl Future for Resume {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<()> {
        let (mut env, ops) = self.inbox.borrow_mut().take().expect("Task::poll fills it");
        exec(&mut env, &ops);
        *self.inbox.borrow_mut() = Some((env, ops));
        Poll::Pending
    }
}

pub fn value() -> impl Strategy<Value = i64> {
    1..100i64
}

pub fn source() -> impl Strategy<Value = Source> {
    prop_oneof![Just(Source::Current), (0..CONTEXTS).prop_map(Source::Slot)]
}

/// Mostly the token slot numbered like the variable, so that resets often pass a token of
/// the right variable and the interesting case is whether the context matches.
fn var_and_token() -> impl Strategy<Value = (usize, usize)> {
    (0..VARS, prop::bool::weighted(0.75), 0..TOKENS)
        .prop_map(|(var, own, other)| (var, if own { var % TOKENS } else { other }))
}

/// One op, nesting bodies up to `depth` levels.
pub fn op(depth: u32) -> BoxedStrategy<Op> {
    let leaf = prop_oneof![
        3 => (0..VARS).prop_map(|var| Op::Get { var }),
        3 => (var_and_token(), value())
            .prop_map(|((var, token), value)| Op::Set { var, value, token }),
        3 => var_and_token().prop_map(|(var, token)| Op::Reset { var, token }),
        2 => (0..CONTEXTS).prop_map(|ctx| Op::NewContext { ctx }),
        4 => (0..CONTEXTS).prop_map(|ctx| Op::CopyContext { ctx }),
        3 => (0..CONTEXTS, 0..CONTEXTS).prop_map(|(from, to)| Op::CloneContext { from, to }),
        1 => (0..CONTEXTS, 0..VARS).prop_map(|(ctx, var)| Op::ContextGet { ctx, var }),
    ];
    leaf.prop_recursive(depth, 48, 4, |inner| {
        let body = || vec(inner.clone(), 0..5);
        prop_oneof![
            3 => (0..CONTEXTS, body()).prop_map(|(ctx, body)| Op::Run { ctx, body }),
            2 => (0..VARS, value(), body())
                .prop_map(|(var, value, body)| Op::Scope { var, value, body }),
            1 => (body(), body()).prop_map(|(between, job)| Op::Propagate { between, job }),
            2 => (source(), vec(body(), 1..4), vec(body(), 0..3))
                .prop_map(|(source, polls, between)| Op::Future { source, polls, between }),
        ]
    })
    .boxed()
}

/// 500 cases, unless `PROPTEST_CASES` is set (proptest's default config reads it).
pub fn config() -> Config {
    let cases = match std::env::var_os("PROPTEST_CASES") {
        Some(_) => Config::default().cases,
        None => 500,
    };
    Config {
        cases,
        ..Config::default()
    }
}

/// Greedy minimization after proptest's shrinking, which cannot hoist a body out of its
/// `Run`/`Scope`/...: takes the first simpler candidate that still fails, until none does.
pub fn minimize<T>(
    mut failing: T,
    simpler: impl Fn(&T) -> Vec<T>,
    mut fails: impl FnMut(&T) -> bool,
) -> T {
    while let Some(next) = simpler(&failing)
        .into_iter()
        .find(|candidate| fails(candidate))
    {
        failing = next;
    }
    failing
}

/// Programs one step simpler than `ops`: an op removed, a compound op replaced by its
/// bodies, or one op simplified in place. Each step lowers the count of ops, bodies and
/// nonzero numbers, so [`minimize`] ends.
pub fn simpler(ops: &[Op]) -> Vec<Vec<Op>> {
    let splice = |at: usize, with: Vec<Op>| -> Vec<Op> {
        let mut candidate = ops[..at].to_vec();
        candidate.extend(with);
        candidate.extend_from_slice(&ops[at + 1..]);
        candidate
    };
    let mut candidates: Vec<Vec<Op>> = (0..ops.len()).map(|at| splice(at, Vec::new())).collect();
    for (at, op) in ops.iter().enumerate() {
        if let Some(inner) = hoisted(op) {
            candidates.push(splice(at, inner));
        }
    }
    for (at, op) in ops.iter().enumerate() {
        candidates.extend(simpler_op(op).into_iter().map(|op| splice(at, vec![op])));
    }
    candidates
}

/// The ops of a compound op's bodies, in the order they run.
fn hoisted(op: &Op) -> Option<Vec<Op>> {
    match op {
        Op::Run { body, .. } | Op::Scope { body, .. } => Some(body.clone()),
        Op::Propagate { between, job } => Some([between.as_slice(), job].concat()),
        Op::Future { polls, between, .. } => Some(
            (0..polls.len().max(between.len()))
                .flat_map(|k| [polls.get(k), between.get(k)])
                .flatten()
                .flatten()
                .cloned()
                .collect(),
        ),
        _ => None,
    }
}

/// `op` with one body simplified, one body dropped, or one number lowered.
fn simpler_op(op: &Op) -> Vec<Op> {
    let lower = |n: usize| (n > 0).then_some(0);
    let mut out = Vec::new();
    match op {
        Op::Get { var } => out.extend(lower(*var).map(|var| Op::Get { var })),
        Op::Set { var, value, token } => {
            out.extend(lower(*var).map(|var| Op::Set {
                var,
                value: *value,
                token: *token,
            }));
            out.extend(lower(*token).map(|token| Op::Set {
                var: *var,
                value: *value,
                token,
            }));
            if *value > 1 {
                out.push(Op::Set {
                    var: *var,
                    value: 1,
                    token: *token,
                });
            }
        }
        Op::Reset { var, token } => {
            out.extend(lower(*var).map(|var| Op::Reset { var, token: *token }));
            out.extend(lower(*token).map(|token| Op::Reset { var: *var, token }));
        }
        Op::NewContext { ctx } => out.extend(lower(*ctx).map(|ctx| Op::NewContext { ctx })),
        Op::CopyContext { ctx } => out.extend(lower(*ctx).map(|ctx| Op::CopyContext { ctx })),
        Op::CloneContext { from, to } => {
            out.extend(lower(*from).map(|from| Op::CloneContext { from, to: *to }));
            out.extend(lower(*to).map(|to| Op::CloneContext { from: *from, to }));
        }
        Op::ContextGet { ctx, var } => {
            out.extend(lower(*ctx).map(|ctx| Op::ContextGet { ctx, var: *var }));
            out.extend(lower(*var).map(|var| Op::ContextGet { ctx: *ctx, var }));
        }
        Op::Run { ctx, body } => {
            out.extend(lower(*ctx).map(|ctx| Op::Run {
                ctx,
                body: body.clone(),
            }));
            out.extend(
                simpler(body)
                    .into_iter()
                    .map(|body| Op::Run { ctx: *ctx, body }),
            );
        }
        Op::Scope { var, value, body } => {
            let scope = |var, value, body| Op::Scope { var, value, body };
            out.extend(lower(*var).map(|var| scope(var, *value, body.clone())));
            if *value > 1 {
                out.push(scope(*var, 1, body.clone()));
            }
            out.extend(
                simpler(body)
                    .into_iter()
                    .map(|body| scope(*var, *value, body)),
            );
        }
        Op::Propagate { between, job } => {
            out.extend(simpler(between).into_iter().map(|between| Op::Propagate {
                between,
                job: job.clone(),
            }));
            out.extend(simpler(job).into_iter().map(|job| Op::Propagate {
                between: between.clone(),
                job,
            }));
        }
        Op::Future {
            source,
            polls,
            between,
        } => {
            let future = |source, polls, between| Op::Future {
                source,
                polls,
                between,
            };
            if let Source::Slot(slot) = *source {
                out.push(future(Source::Current, polls.clone(), between.clone()));
                out.extend(
                    lower(slot)
                        .map(|slot| future(Source::Slot(slot), polls.clone(), between.clone())),
                );
            }
            for (k, poll) in polls.iter().enumerate() {
                if polls.len() > 1 {
                    let mut fewer = polls.clone();
                    fewer.remove(k);
                    out.push(future(*source, fewer, between.clone()));
                }
                for poll in simpler(poll) {
                    let mut changed = polls.clone();
                    changed[k] = poll;
                    out.push(future(*source, changed, between.clone()));
                }
            }
            for (k, ops) in between.iter().enumerate() {
                let mut fewer = between.clone();
                fewer.remove(k);
                out.push(future(*source, polls.clone(), fewer));
                for ops in simpler(ops) {
                    let mut changed = between.clone();
                    changed[k] = ops;
                    out.push(future(*source, polls.clone(), changed));
                }
            }
        }
    }
    out
}
