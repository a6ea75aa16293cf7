#![cfg(not(loom))]
//! State-machine test: random sequences of program ops, `Context::run` and `scope` frames
//! that stay open across steps, and `WithContext` futures polled between steps, run on
//! ctxvars and on a plain model (a stack of `HashMap`s). After every step, what ctxvars
//! observed (the step's own gets and reset outcomes, then every variable and every context
//! slot) must equal the model's prediction. A failure is shrunk by proptest, then by
//! `program::minimize` (which can also hoist a body out of its op), and is reported as the
//! minimal transition sequence with the step where ctxvars and the model part.
//!
//! Frames that span steps need a call stack that outlives one `apply`, so ctxvars runs on a
//! worker thread that takes one transition at a time and answers with its observations.
//!
//! Used tokens: `reset` consumes its token, so Rust cannot reset one twice; such resets
//! only exercise the shared slot rules here (see `program/mod.rs`). CPython's check of them
//! is in `cpython_differential.rs`.

mod program;

use std::collections::HashMap;
use std::mem;
use std::slice;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};

use ctxvars::TokenError;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::Union;
use proptest::test_runner::{Config, TestError, TestRunner};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};

use program::{
    exec, minimize, op, run_in_slot, simpler, source, start_task, value, var, Env, Obs, Op, Source,
    Task, CONTEXTS, DEFAULTS, TOKENS, VARS,
};

const TASKS: usize = 2;

#[derive(Clone, Debug)]
enum Transition {
    /// One op in the current frame (it may nest runs, scopes, threads and futures itself).
    Do(Op),
    /// `Context::run` of a context slot, staying inside for the following steps.
    Enter(usize),
    /// `ContextVar::scope`, staying inside for the following steps.
    EnterScope { var: usize, value: i64 },
    /// Leaves the innermost `Enter` or `EnterScope`.
    Exit,
    /// Makes a `WithContext` future and keeps it in a task slot.
    Spawn { task: usize, source: Source },
    /// Polls a kept future once; the poll runs `ops`.
    Poll { task: usize, ops: Vec<Op> },
}

/// What every step ends with: all variables, then every context slot's values.
fn probe() -> Vec<Op> {
    let gets = (0..VARS).map(|var| Op::Get { var });
    let slots = (0..CONTEXTS).flat_map(|ctx| (0..VARS).map(move |var| Op::ContextGet { ctx, var }));
    gets.chain(slots).collect()
}

// ---------------------------------------------------------------------------------------
// The model.

/// A context: an identity (tokens remember it) and its values.
#[derive(Clone, Debug)]
struct Ctx {
    id: u64,
    vars: HashMap<usize, i64>,
}

#[derive(Clone, Debug, Default)]
enum TokenModel {
    #[default]
    Empty,
    Live {
        var: usize,
        context: u64,
        old: Option<i64>,
    },
    Spent,
}

#[derive(Clone, Debug, Default)]
enum SlotModel {
    #[default]
    Empty,
    Held(Ctx),
    /// Running; the run with this number puts it back if the slot still says so.
    Entered(u64),
}

#[derive(Clone, Debug)]
enum Frame {
    Run { slot: usize, run: u64 },
    Scope { var: usize, old: Option<i64> },
}

#[derive(Clone, Debug)]
struct Model {
    /// The running contexts, innermost (the current one) last.
    stack: Vec<Ctx>,
    /// The frames `Enter` and `EnterScope` opened, innermost last.
    frames: Vec<Frame>,
    tokens: [TokenModel; TOKENS],
    contexts: [SlotModel; CONTEXTS],
    tasks: [Option<Ctx>; TASKS],
    next_id: u64,
    /// What the last transition must observe.
    expected: Vec<Obs>,
}

fn restore(ctx: &mut Ctx, var: usize, old: Option<i64>) {
    match old {
        Some(value) => ctx.vars.insert(var, value),
        None => ctx.vars.remove(&var),
    };
}

fn unavailable(slot: &SlotModel) -> Obs {
    match slot {
        SlotModel::Empty => Obs::NoContext,
        _ => Obs::Busy,
    }
}

impl Model {
    fn new() -> Model {
        Model {
            stack: vec![Ctx {
                id: 0,
                vars: HashMap::new(),
            }],
            frames: Vec::new(),
            tokens: Default::default(),
            contexts: Default::default(),
            tasks: Default::default(),
            next_id: 0,
            expected: Vec::new(),
        }
    }

    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A new context (new identity) with `vars`.
    fn context(&mut self, vars: HashMap<usize, i64>) -> Ctx {
        Ctx {
            id: self.fresh_id(),
            vars,
        }
    }

    fn current(&mut self) -> &mut Ctx {
        self.stack
            .last_mut()
            .expect("the base context is never left")
    }

    fn snapshot(&mut self) -> Ctx {
        let vars = self.current().vars.clone();
        self.context(vars)
    }

    fn observe(&mut self, obs: Obs) {
        self.expected.push(obs);
    }

    fn exec(&mut self, ops: &[Op]) {
        for op in ops {
            self.step(op);
        }
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Get { var } => {
                let value = self.current().vars.get(&var).copied().or(DEFAULTS[var]);
                self.observe(Obs::Value(value));
            }
            Op::Set { var, value, token } => {
                let current = self.current();
                let old = current.vars.insert(var, value);
                let context = current.id;
                self.tokens[token] = TokenModel::Live { var, context, old };
            }
            Op::Reset { var, token } => {
                let obs = match mem::take(&mut self.tokens[token]) {
                    TokenModel::Empty => Obs::NoToken,
                    TokenModel::Spent => {
                        self.tokens[token] = TokenModel::Spent;
                        Obs::TokenError(TokenError::AlreadyUsed)
                    }
                    TokenModel::Live { var: made_by, .. } if made_by != var => {
                        Obs::TokenError(TokenError::DifferentVar)
                    }
                    TokenModel::Live { context, .. } if context != self.current().id => {
                        Obs::TokenError(TokenError::DifferentContext)
                    }
                    TokenModel::Live { old, .. } => {
                        restore(self.current(), var, old);
                        self.tokens[token] = TokenModel::Spent;
                        Obs::Reset
                    }
                };
                self.observe(obs);
            }
            Op::NewContext { ctx } => {
                let new = self.context(HashMap::new());
                self.contexts[ctx] = SlotModel::Held(new);
            }
            Op::CopyContext { ctx } => {
                let copy = self.snapshot();
                self.contexts[ctx] = SlotModel::Held(copy);
            }
            Op::CloneContext { from, to } => match &self.contexts[from] {
                SlotModel::Held(held) => {
                    let vars = held.vars.clone();
                    let copy = self.context(vars);
                    self.contexts[to] = SlotModel::Held(copy);
                }
                other => self.observe(unavailable(other)),
            },
            Op::ContextGet { ctx, var } => {
                let obs = match &self.contexts[ctx] {
                    SlotModel::Held(held) => Obs::Value(held.vars.get(&var).copied()),
                    other => unavailable(other),
                };
                self.observe(obs);
            }
            Op::Run { ctx, ref body } => {
                if let Some(run) = self.enter(ctx) {
                    self.exec(body);
                    self.leave(ctx, run);
                }
            }
            Op::Scope {
                var,
                value,
                ref body,
            } => {
                let old = self.current().vars.insert(var, value);
                self.exec(body);
                restore(self.current(), var, old);
            }
            Op::Propagate {
                ref between,
                ref job,
            } => {
                let snapshot = self.snapshot();
                self.exec(between);
                self.stack.push(snapshot);
                self.exec(job);
                self.stack.pop();
            }
            Op::Future {
                source,
                ref polls,
                ref between,
            } => {
                let Some(mut task) = self.start_task(source) else {
                    return;
                };
                for (k, poll) in polls.iter().enumerate() {
                    task = self.poll(task, poll);
                    if let Some(ops) = between.get(k) {
                        self.exec(ops);
                    }
                }
            }
        }
    }

    /// Makes the context in `slot` current; the run number, or `None` if it cannot run.
    fn enter(&mut self, slot: usize) -> Option<u64> {
        match mem::take(&mut self.contexts[slot]) {
            SlotModel::Held(ctx) => {
                let run = self.fresh_id();
                self.contexts[slot] = SlotModel::Entered(run);
                self.stack.push(ctx);
                Some(run)
            }
            SlotModel::Entered(run) => {
                self.contexts[slot] = SlotModel::Entered(run);
                self.observe(Obs::AlreadyEntered);
                None
            }
            SlotModel::Empty => {
                self.observe(Obs::NoContext);
                None
            }
        }
    }

    fn leave(&mut self, slot: usize, run: u64) {
        let ctx = self.stack.pop().expect("entered");
        if matches!(self.contexts[slot], SlotModel::Entered(r) if r == run) {
            self.contexts[slot] = SlotModel::Held(ctx);
        }
    }

    fn start_task(&mut self, source: Source) -> Option<Ctx> {
        match source {
            Source::Current => Some(self.snapshot()),
            Source::Slot(slot) => match mem::take(&mut self.contexts[slot]) {
                SlotModel::Held(ctx) => Some(ctx),
                other => {
                    self.observe(unavailable(&other));
                    self.contexts[slot] = other;
                    None
                }
            },
        }
    }

    /// One poll: `ops` run inside the future's context, which keeps their changes.
    fn poll(&mut self, task: Ctx, ops: &[Op]) -> Ctx {
        self.stack.push(task);
        self.exec(ops);
        self.stack.pop().expect("pushed above")
    }
}

struct ModelMachine;

impl ReferenceStateMachine for ModelMachine {
    type State = Model;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model::new()).boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Transition> {
        let mut choices = vec![
            (8, op(2).prop_map(Transition::Do).boxed()),
            (
                1,
                (0..VARS, value())
                    .prop_map(|(var, value)| Transition::EnterScope { var, value })
                    .boxed(),
            ),
            (
                1,
                (0..TASKS, source())
                    .prop_map(|(task, source)| Transition::Spawn { task, source })
                    .boxed(),
            ),
        ];
        // Resets with the token's own variable: valid or foreign depending on the context.
        let live: Vec<(usize, usize)> = (0..TOKENS)
            .filter_map(|token| match state.tokens[token] {
                TokenModel::Live { var, .. } => Some((token, var)),
                _ => None,
            })
            .collect();
        if !live.is_empty() {
            let reset =
                select(live).prop_map(|(token, var)| Transition::Do(Op::Reset { var, token }));
            choices.push((3, reset.boxed()));
        }
        let held: Vec<usize> = (0..CONTEXTS)
            .filter(|&ctx| matches!(state.contexts[ctx], SlotModel::Held(_)))
            .collect();
        if !held.is_empty() {
            let clone = (select(held.clone()), 0..CONTEXTS)
                .prop_map(|(from, to)| Transition::Do(Op::CloneContext { from, to }));
            choices.push((2, clone.boxed()));
            choices.push((3, select(held).prop_map(Transition::Enter).boxed()));
        }
        if !state.frames.is_empty() {
            choices.push((3, Just(Transition::Exit).boxed()));
        }
        let tasks: Vec<usize> = (0..TASKS)
            .filter(|&task| state.tasks[task].is_some())
            .collect();
        if !tasks.is_empty() {
            let poll = (select(tasks), vec(op(1), 0..4))
                .prop_map(|(task, ops)| Transition::Poll { task, ops });
            choices.push((3, poll.boxed()));
        }
        Union::new_weighted(choices).boxed()
    }

    // Shrinking may delete the step that made a transition possible.
    fn preconditions(state: &Model, transition: &Transition) -> bool {
        match *transition {
            Transition::Enter(slot) => matches!(state.contexts[slot], SlotModel::Held(_)),
            Transition::Exit => !state.frames.is_empty(),
            Transition::Poll { task, .. } => state.tasks[task].is_some(),
            Transition::Do(_) | Transition::EnterScope { .. } | Transition::Spawn { .. } => true,
        }
    }

    fn apply(mut state: Model, transition: &Transition) -> Model {
        state.expected.clear();
        match *transition {
            Transition::Do(ref op) => state.step(op),
            Transition::Enter(slot) => {
                if let Some(run) = state.enter(slot) {
                    state.frames.push(Frame::Run { slot, run });
                }
            }
            Transition::EnterScope { var, value } => {
                let old = state.current().vars.insert(var, value);
                state.frames.push(Frame::Scope { var, old });
            }
            Transition::Exit => match state.frames.pop().expect("precondition") {
                Frame::Run { slot, run } => state.leave(slot, run),
                Frame::Scope { var, old } => restore(state.current(), var, old),
            },
            Transition::Spawn { task, source } => {
                if let Some(ctx) = state.start_task(source) {
                    state.tasks[task] = Some(ctx);
                }
            }
            Transition::Poll { task, ref ops } => {
                let ctx = state.tasks[task].take().expect("precondition");
                state.tasks[task] = Some(state.poll(ctx, ops));
            }
        }
        state.exec(&probe());
        state
    }
}

// ---------------------------------------------------------------------------------------
// ctxvars, on a worker thread.

struct Link {
    transitions: mpsc::Receiver<Transition>,
    observations: mpsc::Sender<Vec<Obs>>,
}

enum Flow {
    /// `Exit`: leave the innermost frame.
    Exit,
    /// The test is over: unwind every frame.
    Closed,
}

/// Answers one transition: its observations, then the probe's.
fn reply(env: &mut Env, link: &Link) {
    exec(env, &probe());
    // A closed channel means the test already failed; the worker then just unwinds.
    let _ = link.observations.send(env.take_trace());
}

/// Applies transitions until `Exit` or the end of the test; nested frames recurse.
fn serve(env: &mut Env, tasks: &mut [Option<Task>; TASKS], link: &Link) -> Flow {
    while let Ok(transition) = link.transitions.recv() {
        match transition {
            Transition::Do(op) => exec(env, slice::from_ref(&op)),
            Transition::Enter(slot) => {
                let mut inner = None;
                run_in_slot(env, slot, |env| {
                    reply(env, link);
                    inner = Some(serve(env, tasks, link));
                });
                if let Some(Flow::Closed) = inner {
                    return Flow::Closed;
                }
            }
            Transition::EnterScope { var: v, value } => {
                let inner = var(v).scope(value, || {
                    reply(env, link);
                    serve(env, tasks, link)
                });
                if let Flow::Closed = inner {
                    return Flow::Closed;
                }
            }
            Transition::Exit => return Flow::Exit,
            Transition::Spawn { task, source } => {
                if let Some(started) = start_task(env, source) {
                    tasks[task] = Some(started);
                }
            }
            Transition::Poll { task, ops } => {
                let task = tasks[task].as_mut().expect("precondition");
                task.poll(env, &ops);
            }
        }
        reply(env, link);
    }
    Flow::Closed
}

struct Worker {
    transitions: mpsc::Sender<Transition>,
    observations: mpsc::Receiver<Vec<Obs>>,
    thread: JoinHandle<()>,
}

fn words(trace: &[Obs]) -> String {
    let words: Vec<String> = trace.iter().map(Obs::to_string).collect();
    words.join(" ")
}

/// Applies `transition` on the worker and compares with the model (already stepped).
fn check(worker: &Worker, model: &Model, transition: Transition) -> Result<(), String> {
    let shown = format!("{transition:?}");
    let died = "the worker thread died (its panic is printed above)";
    let sent = worker.transitions.send(transition);
    let observed = sent
        .ok()
        .and_then(|()| worker.observations.recv().ok())
        .ok_or(died)?;
    if observed == model.expected {
        return Ok(());
    }
    Err(format!(
        "after {shown}\n  ctxvars: {}\n  model:   {}\n(a step's trace is its own observations, then get() of \
         a, b, c and Context::get of a, b, c in each context slot)",
        words(&observed),
        words(&model.expected)
    ))
}

struct Ctxvars;

impl StateMachineTest for Ctxvars {
    type SystemUnderTest = Worker;
    type Reference = ModelMachine;

    fn init_test(_: &Model) -> Worker {
        let (transitions, inbox) = mpsc::channel();
        let (outbox, observations) = mpsc::channel();
        let thread = thread::spawn(move || {
            let link = Link {
                transitions: inbox,
                observations: outbox,
            };
            serve(&mut Env::default(), &mut Default::default(), &link);
        });
        Worker {
            transitions,
            observations,
            thread,
        }
    }

    fn apply(worker: Worker, model: &Model, transition: Transition) -> Worker {
        if let Err(why) = check(&worker, model, transition) {
            panic!("ctxvars and the model disagree {why}");
        }
        worker
    }

    fn teardown(worker: Worker, _: Model) {
        drop(worker.transitions);
        worker.thread.join().expect("the worker panicked");
    }
}

/// Replays `transitions` from the start, without panicking: the first disagreement, if any.
/// A sequence that breaks a precondition (a minimization candidate) counts as passing.
fn first_disagreement(transitions: &[Transition]) -> Option<String> {
    let mut model = Model::new();
    let worker = Ctxvars::init_test(&model);
    for transition in transitions {
        if !ModelMachine::preconditions(&model, transition) {
            return None;
        }
        model = ModelMachine::apply(model, transition);
        if let Err(why) = check(&worker, &model, transition.clone()) {
            return Some(why);
        }
    }
    Ctxvars::teardown(worker, model);
    None
}

/// Sequences one step simpler: a transition removed, or its ops simplified
/// (`program::simpler`; a `Do` whose op was hoisted becomes several `Do`s).
fn simpler_transitions(transitions: &[Transition]) -> Vec<Vec<Transition>> {
    let splice = |at: usize, with: Vec<Transition>| -> Vec<Transition> {
        let mut candidate = transitions[..at].to_vec();
        candidate.extend(with);
        candidate.extend_from_slice(&transitions[at + 1..]);
        candidate
    };
    let mut candidates: Vec<Vec<Transition>> = (0..transitions.len())
        .map(|at| splice(at, Vec::new()))
        .collect();
    for (at, transition) in transitions.iter().enumerate() {
        match transition {
            Transition::Do(op) => candidates.extend(
                simpler(slice::from_ref(op))
                    .into_iter()
                    .map(|ops| splice(at, ops.into_iter().map(Transition::Do).collect())),
            ),
            Transition::Poll { task, ops } => candidates.extend(
                simpler(ops)
                    .into_iter()
                    .map(|ops| splice(at, vec![Transition::Poll { task: *task, ops }])),
            ),
            Transition::EnterScope { var, value } if *value > 1 => {
                candidates.push(splice(
                    at,
                    vec![Transition::EnterScope {
                        var: *var,
                        value: 1,
                    }],
                ));
            }
            Transition::Spawn {
                task,
                source: Source::Slot(_),
            } => {
                let spawn = Transition::Spawn {
                    task: *task,
                    source: Source::Current,
                };
                candidates.push(splice(at, vec![spawn]));
            }
            _ => {}
        }
    }
    candidates
}

#[test]
fn ctxvars_follows_the_model() {
    // Lets proptest save failing cases next to this file, as `proptest!` would.
    let config = Config {
        source_file: Some(file!()),
        ..program::config()
    };
    let mut runner = TestRunner::new(config.clone());
    let result = runner.run(
        &ModelMachine::sequential_strategy(1..40),
        |(initial, transitions, seen)| {
            Ctxvars::test_sequential(config.clone(), initial, transitions, seen);
            Ok(())
        },
    );
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, (_, transitions, _))) => {
            let minimal = minimize(
                transitions,
                |t| simpler_transitions(t),
                |t| first_disagreement(t).is_some(),
            );
            let why = first_disagreement(&minimal)
                .unwrap_or_else(|| format!("(the replay did not fail: {reason})"));
            panic!("ctxvars and the model disagree on\n{minimal:#?}\n{why}");
        }
        Err(error) => panic!("{error}"),
    }
}
