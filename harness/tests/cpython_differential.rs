#![cfg(not(loom))]
//! Differential test against CPython: random programs (`program::Op` trees) run on ctxvars
//! and, rendered as Python, on CPython's `contextvars` (`python3`). The traces of observed
//! values and error kinds must be equal.
//!
//! Error kinds (the mapping is `Obs`'s `Display` on the Rust side and `reset`/`run` in
//! `HELPERS` on the Python side):
//! - `TokenError::DifferentVar` = `ValueError` "... was created by a different ContextVar"
//! - `TokenError::DifferentContext` = `ValueError` "... was created in a different Context"
//! - `TokenError::AlreadyUsed` = `RuntimeError` "... has already been used once"
//! - `Obs::AlreadyEntered` = `RuntimeError` "cannot enter context: ... is already entered"
//!
//! The last two cannot happen in safe Rust (a token is moved into `reset`, `run` borrows its
//! `Context` mutably); the Rust side records them from its slot bookkeeping, and CPython
//! confirms that it raises exactly there.
//!
//! One `python3` process serves the whole run, one program per request, so every case and
//! every shrinking step is a real CPython run: proptest shrinks as usual, then
//! `program::minimize` finishes the job, and the failure shows the minimal program both as
//! Rust ops and as a standalone Python script.

mod program;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use ctxvars::Context;
use proptest::collection::vec;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

use program::{
    exec, minimize, op, simpler, var, Env, Obs, Op, Source, CONTEXTS, DEFAULTS, TOKENS, VARS,
};

/// The helpers rendered programs call; they follow the slot rules of `program/mod.rs`, as
/// `program::exec` does.
const HELPERS: &str = r#"
T = C = TRACE = ENTERED = None

def rec(word):
    TRACE.append(word)

def word(value):
    return '-' if value is None else str(value)

def unknown(kind, error):
    return kind + ':' + str(error).replace(' ', '_')

def get(v):
    try:
        rec(word(VARS[v].get()))
    except LookupError:
        rec('-')

def reset(v, t):
    token = T[t]
    if token is None:
        rec('no-token')
        return
    try:
        VARS[v].reset(token)
    except ValueError as e:
        # Rust's reset consumed the rejected token; drop it here too.
        T[t] = None
        if 'different ContextVar' in str(e):
            rec('ValueError:var')
        elif 'different Context' in str(e):
            rec('ValueError:ctx')
        else:
            rec(unknown('ValueError', e))
    except RuntimeError as e:
        rec('RuntimeError:used' if 'already been used' in str(e) else unknown('RuntimeError', e))
    else:
        rec('ok')

def unavailable(c):
    # Rust cannot borrow a Context while it runs (Context::run holds &mut).
    if C[c] is None:
        rec('no-context')
        return True
    if id(C[c]) in ENTERED:
        rec('busy')
        return True
    return False

def clone_context(src, dst):
    if not unavailable(src):
        C[dst] = C[src].copy()

def context_get(c, v):
    if not unavailable(c):
        rec(word(C[c].get(VARS[v])))

def run(c, body):
    ctx = C[c]
    if ctx is None:
        rec('no-context')
        return
    started = False
    def inside():
        nonlocal started
        started = True
        ENTERED.add(id(ctx))
        try:
            body()
        finally:
            ENTERED.discard(id(ctx))
    try:
        ctx.run(inside)
    except RuntimeError as e:
        if started:
            raise
        rec('RuntimeError:entered' if 'already entered' in str(e) else unknown('RuntimeError', e))

def scope(v, value, body):
    token = VARS[v].set(value)
    try:
        body()
    finally:
        VARS[v].reset(token)

def propagate(between, job):
    snapshot = contextvars.copy_context()
    between()
    failed = []
    def thread_main():
        try:
            snapshot.run(job)
        except BaseException as e:
            failed.append(e)
    thread = threading.Thread(target=thread_main)
    thread.start()
    thread.join()
    if failed:
        raise failed[0]

def future(source, polls, betweens):
    if source is None:
        ctx = contextvars.copy_context()
    elif unavailable(source):
        return
    else:
        # with_context moves the Context into the future.
        ctx, C[source] = C[source], None
    for k, poll in enumerate(polls):
        ctx.run(poll)  # what WithContext does on every poll
        if k < len(betweens):
            betweens[k]()

def run_program(program):
    global T, C, TRACE, ENTERED
    T, C, TRACE, ENTERED = [None] * TOKENS, [None] * CONTEXTS, [], set()
    contextvars.Context().run(program)
    return TRACE
"#;

/// Reads `<length>\n<program source>` requests and answers one line each.
const SERVER: &str = r#"
import sys, traceback

def serve():
    requests = sys.stdin.buffer
    while True:
        header = requests.readline()
        if not header:
            return
        source = requests.read(int(header)).decode()
        try:
            exec(source, globals())
            answer = 'trace ' + ' '.join(run_program(program))
        except BaseException:
            answer = 'crash ' + traceback.format_exc().replace('\n', ' | ')
        sys.stdout.write(answer + '\n')
        sys.stdout.flush()

serve()
"#;

/// Imports, the variables (as in `program::var`) and the helpers.
fn prelude() -> String {
    let vars: Vec<String> = (0..VARS)
        .map(|v| match DEFAULTS[v] {
            Some(default) => format!(
                "contextvars.ContextVar({:?}, default={default})",
                var(v).name()
            ),
            None => format!("contextvars.ContextVar({:?})", var(v).name()),
        })
        .collect();
    format!(
        "import contextvars\nimport threading\n\nTOKENS = {TOKENS}\nCONTEXTS = {CONTEXTS}\n\
         VARS = [{}]\n{HELPERS}",
        vars.join(", ")
    )
}

/// The program as Python: `def program()` with one nested `def` per body.
fn render(program: &[Op]) -> String {
    let mut renderer = Renderer {
        out: String::new(),
        bodies: 0,
    };
    renderer.def("program", program, 0);
    renderer.out
}

struct Renderer {
    out: String,
    bodies: usize,
}

impl Renderer {
    fn line(&mut self, indent: usize, text: &str) {
        let _ = writeln!(self.out, "{:width$}{text}", "", width = 4 * indent);
    }

    fn def(&mut self, name: &str, ops: &[Op], indent: usize) {
        self.line(indent, &format!("def {name}():"));
        if ops.is_empty() {
            self.line(indent + 1, "pass");
        }
        for op in ops {
            self.op(op, indent + 1);
        }
    }

    /// Defines a body function here and returns its name.
    fn body(&mut self, ops: &[Op], indent: usize) -> String {
        self.bodies += 1;
        let name = format!("body{}", self.bodies);
        self.def(&name, ops, indent);
        name
    }

    fn bodies(&mut self, bodies: &[Vec<Op>], indent: usize) -> String {
        let names: Vec<String> = bodies.iter().map(|ops| self.body(ops, indent)).collect();
        format!("[{}]", names.join(", "))
    }

    fn op(&mut self, op: &Op, indent: usize) {
        let statement = match op {
            Op::Get { var } => format!("get({var})"),
            Op::Set { var, value, token } => format!("T[{token}] = VARS[{var}].set({value})"),
            Op::Reset { var, token } => format!("reset({var}, {token})"),
            Op::NewContext { ctx } => format!("C[{ctx}] = contextvars.Context()"),
            Op::CopyContext { ctx } => format!("C[{ctx}] = contextvars.copy_context()"),
            Op::CloneContext { from, to } => format!("clone_context({from}, {to})"),
            Op::ContextGet { ctx, var } => format!("context_get({ctx}, {var})"),
            Op::Run { ctx, body } => {
                let body = self.body(body, indent);
                format!("run({ctx}, {body})")
            }
            Op::Scope { var, value, body } => {
                let body = self.body(body, indent);
                format!("scope({var}, {value}, {body})")
            }
            Op::Propagate { between, job } => {
                let between = self.body(between, indent);
                let job = self.body(job, indent);
                format!("propagate({between}, {job})")
            }
            Op::Future {
                source,
                polls,
                between,
            } => {
                let source = match source {
                    Source::Current => "None".to_string(),
                    Source::Slot(ctx) => ctx.to_string(),
                };
                let polls = self.bodies(polls, indent);
                let between = self.bodies(between, indent);
                format!("future({source}, {polls}, {between})")
            }
        };
        self.line(indent, &statement);
    }
}

/// A standalone script that prints the trace of `source` (for failure messages).
fn script(source: &str) -> String {
    format!(
        "{}\n{source}\nprint(' '.join(run_program(program)))",
        prelude()
    )
}

/// One `python3` answering programs until its stdin closes.
struct Python {
    child: Child,
    requests: Option<ChildStdin>,
    answers: BufReader<ChildStdout>,
}

impl Python {
    fn start() -> Python {
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(format!("{}\n{SERVER}", prelude()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 (CPython 3.11 or later) must be on PATH");
        let requests = child.stdin.take();
        let answers = BufReader::new(child.stdout.take().expect("piped"));
        Python {
            child,
            requests,
            answers,
        }
    }

    /// The trace CPython observes for `source`, or why there is none.
    fn trace(&mut self, source: &str) -> Result<Vec<String>, String> {
        let requests = self.requests.as_mut().expect("open until drop");
        write!(requests, "{}\n{source}", source.len())
            .and_then(|()| requests.flush())
            .map_err(|e| format!("writing to python3: {e}"))?;
        let mut answer = String::new();
        self.answers
            .read_line(&mut answer)
            .map_err(|e| format!("reading from python3: {e}"))?;
        match answer.trim_end().split_once(' ') {
            Some(("trace", words)) => Ok(words.split_whitespace().map(str::to_string).collect()),
            _ if answer.trim_end() == "trace" => Ok(Vec::new()),
            _ => Err(format!("python3 answered: {answer:?}")),
        }
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        // EOF ends the server loop.
        drop(self.requests.take());
        let _ = self.child.wait();
    }
}

/// Both traces of `program`: ctxvars's and CPython's (`Err` if Python failed).
fn traces(python: &mut Python, program: &[Op]) -> (Vec<Obs>, Result<Vec<String>, String>) {
    let mut env = Env::default();
    // A fresh context per program, as `run_program` does: no leftovers from earlier cases.
    Context::new().run(|| exec(&mut env, program));
    (env.take_trace(), python.trace(&render(program)))
}

fn agree(rust: &[Obs], cpython: &Result<Vec<String>, String>) -> bool {
    cpython.as_ref().is_ok_and(|words| {
        words.len() == rust.len()
            && words
                .iter()
                .zip(rust)
                .all(|(word, obs)| *word == obs.to_string())
    })
}

fn report(program: &[Op], rust: &[Obs], cpython: &Result<Vec<String>, String>) -> String {
    let rust: Vec<String> = rust.iter().map(Obs::to_string).collect();
    let cpython = match cpython {
        Ok(words) => words.join(" "),
        Err(error) => error.clone(),
    };
    format!(
        "ctxvars and CPython disagree\n  ctxvars: {}\n  CPython: {cpython}\non\n{program:#?}\n\
         rendered as a Python script:\n{}",
        rust.join(" "),
        script(&render(program))
    )
}

/// The trace word's kind, for the coverage check: every value becomes "value".
fn kind(obs: &Obs) -> String {
    match obs {
        Obs::Value(Some(_)) => "value".to_string(),
        other => other.to_string(),
    }
}

#[test]
fn ctxvars_matches_cpython() {
    let mut python = RefCell::new(Python::start());
    let kinds = RefCell::new(BTreeMap::<String, usize>::new());
    let programs = Cell::new(0usize);
    let config = program::config();
    let cases = config.cases;
    // Lets proptest save failing cases next to this file, as `proptest!` would.
    let mut runner = TestRunner::new(Config {
        source_file: Some(file!()),
        ..config
    });
    let result = runner.run(&vec(op(3), 1..16), |program| {
        let (rust, cpython) = traces(&mut python.borrow_mut(), &program);
        if !agree(&rust, &cpython) {
            return Err(TestCaseError::fail(report(&program, &rust, &cpython)));
        }
        programs.set(programs.get() + 1);
        for obs in &rust {
            *kinds.borrow_mut().entry(kind(obs)).or_default() += 1;
        }
        Ok(())
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(_, program)) => {
            let python = python.get_mut();
            let minimal = minimize(
                program,
                |program| simpler(program),
                |program| {
                    let (rust, cpython) = traces(python, program);
                    !agree(&rust, &cpython)
                },
            );
            let (rust, cpython) = traces(python, &minimal);
            panic!("{}", report(&minimal, &rust, &cpython));
        }
        Err(error) => panic!("{error}"),
    }
    let kinds = kinds.into_inner();
    println!(
        "{} programs agreed; observations: {kinds:?}",
        programs.get()
    );
    // Below the default case count a kind may be missed by chance; at 500 it never is.
    if cases >= 500 {
        let all = [
            "value",
            "-",
            "ok",
            "ValueError:var",
            "ValueError:ctx",
            "RuntimeError:used",
            "RuntimeError:entered",
            "no-token",
            "no-context",
            "busy",
        ];
        let missing: Vec<&str> = all
            .into_iter()
            .filter(|k| !kinds.contains_key(*k))
            .collect();
        assert!(
            missing.is_empty(),
            "the programs never observed {missing:?}"
        );
    }
}
