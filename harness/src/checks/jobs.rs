//! The checks every executor gets. Jobs (or one-poll tasks) report what context they ran in,
//! and the check judges what they saw.
//!
//! Jobs ignore failed sends: a send fails only once the check has given up waiting, and then
//! nobody is left to tell.

use std::collections::HashSet;
use std::panic;
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;

use ctxvars::{Context, ContextVar};

use super::{collect, DeliberatePanic, Failure, Outcome, Owners, Target, Violations};
use crate::probe::{self, DropLogs};
use crate::wait::{poll_until, Deadline, Gate};
use crate::CheckOptions;

/// How long an `isolation` job spins between setting its value and reading it back, to widen
/// the window in which jobs on other workers run. It spins rather than yields: under CPU
/// contention each `yield_now` gives away a whole timeslice, and 512 jobs on one thread
/// would then outlast the timeout.
const SPINS: usize = 256;

/// How many levels `nesting` goes: the check submits level 1, level 1 submits level 2...
const DEPTH: usize = 3;

pub(super) fn propagation(target: &Target, _: &CheckOptions, deadline: Deadline) -> Outcome {
    let unit = target.unit();
    let var = probe::var::<u64>("ctxharness.propagation");
    let value = probe::tag();
    let (tx, rx) = mpsc::channel();
    let job = {
        let var = Arc::clone(&var);
        move || {
            let _ = tx.send(var.get());
        }
    };
    var.scope(value, || target.submit(Box::new(job)))?;
    let seen = collect(&rx, 1, || format!("{unit}s"), deadline)?;
    if seen == [Some(value)] {
        Ok(format!("the {unit} saw the value its submitter set"))
    } else {
        Err(Failure::Wrong(format!(
            "the {unit} saw {} instead of the value its submitter set",
            Owners::default().name(seen[0])
        )))
    }
}

pub(super) fn snapshot(target: &Target, _: &CheckOptions, deadline: Deadline) -> Outcome {
    let unit = target.unit();
    let var = probe::var::<u64>("ctxharness.snapshot");
    let [at_submit, later, own] = [probe::tag(), probe::tag(), probe::tag()];
    let gate = Arc::new(Gate::new());
    let (tx, rx) = mpsc::channel();
    let job = {
        let (var, gate) = (Arc::clone(&var), Arc::clone(&gate));
        let wait = deadline.timeout() / 2;
        move || {
            // Read only after the submitter has changed its value. Otherwise a job that runs
            // at once would pass whatever the executor does.
            let released = gate.wait(wait);
            let seen = var.get();
            let _never_reset = var.set(own);
            let _ = tx.send((released, seen));
        }
    };
    // A context of the check's making stands for the submitter's, and is dropped at the end.
    let mut submitter = Context::new();
    let (released, seen, submitter_saw) = submitter.run(|| {
        let _set_at_submit = var.set(at_submit);
        target.submit(Box::new(job))?;
        // A job run inline has finished by now. Its change must not have reached us.
        let after_submit = var.get();
        let _changed_later = var.set(later);
        gate.open();
        let seen = collect(&rx, 1, || format!("{unit}s"), deadline)?;
        let (released, seen) = seen[0];
        let expected = [(after_submit, at_submit), (var.get(), later)];
        let submitter_saw = expected
            .into_iter()
            .find(|&(saw, value)| saw != Some(value));
        Ok::<_, Failure>((released, seen, submitter_saw))
    })?;
    let mut owners = Owners::default();
    owners.insert(at_submit, "the value at submission".to_string());
    owners.insert(later, "a change made after submission".to_string());
    owners.insert(own, format!("the {unit}'s own change"));
    if seen != Some(at_submit) {
        return Err(Failure::Wrong(format!(
            "the {unit} saw {} instead of its submitter's value at submission",
            owners.name(seen)
        )));
    }
    if let Some((saw, _)) = submitter_saw {
        return Err(Failure::Wrong(format!(
            "after the {unit} set its own value, its submitter saw {}",
            owners.name(saw)
        )));
    }
    Ok(if released {
        format!("the {unit} saw the value at submission, not a later change; its own change did not reach the submitter")
    } else {
        format!("the {unit} ran before the submit returned and saw the value at submission; its own change did not reach the submitter")
    })
}

/// What an `isolation` job saw, before and after setting its own value.
struct IsolationSeen {
    job: usize,
    before: Option<u64>,
    after: Option<u64>,
}

pub(super) fn isolation(target: &Target, opts: &CheckOptions, deadline: Deadline) -> Outcome {
    let unit = target.unit();
    let (batch, rounds) = (opts.batch(), opts.repeats());
    let var = probe::var::<u64>("ctxharness.isolation");
    let mut owners = Owners::default();
    let mut violations = Violations::new();
    for round in 1..=rounds {
        let (tx, rx) = mpsc::channel();
        let mut values = Vec::with_capacity(batch);
        for job in 0..batch {
            let (given, own) = (probe::tag(), probe::tag());
            owners.insert(
                given,
                format!("the value {unit} {job} of round {round} was submitted with"),
            );
            owners.insert(own, format!("the value {unit} {job} of round {round} set"));
            values.push((given, own));
            let work = {
                let (var, tx) = (Arc::clone(&var), tx.clone());
                move || {
                    let before = var.get();
                    let _never_reset = var.set(own);
                    for _ in 0..SPINS {
                        std::hint::spin_loop();
                    }
                    let after = var.get();
                    let _ = tx.send(IsolationSeen { job, before, after });
                }
            };
            var.scope(given, || target.submit(Box::new(work)))?;
        }
        drop(tx);
        let what = || format!("{unit}s of round {round}");
        for seen in collect(&rx, batch, what, deadline)? {
            let (given, own) = values[seen.job];
            // Seeing nothing before the set is `propagation`'s failure, not a breach of isolation.
            if seen.before.is_some() && seen.before != Some(given) {
                violations.add(|| {
                    format!(
                        "{unit} {} of round {round} started with {}",
                        seen.job,
                        owners.name(seen.before)
                    )
                });
            } else if seen.after != Some(own) {
                violations.add(|| {
                    format!(
                        "{unit} {} of round {round} read back {} after setting its own",
                        seen.job,
                        owners.name(seen.after)
                    )
                });
            }
        }
    }
    violations.verdict(
        batch * rounds,
        &format!("{unit}s saw another {unit}'s value"),
        format!("{rounds} rounds of {batch} {unit}s submitted together saw only their own values"),
    )
}

pub(super) fn worker_reuse(target: &Target, opts: &CheckOptions, deadline: Deadline) -> Outcome {
    let unit = target.unit();
    let batch = opts.batch();
    let var = probe::var::<u64>("ctxharness.worker-reuse");
    let mut owners = Owners::default();
    let (tx, rx) = mpsc::channel();
    for job in 0..batch {
        let own = probe::tag();
        owners.insert(own, format!("the value {unit} {job} set and never reset"));
        let work = {
            let (var, tx) = (Arc::clone(&var), tx.clone());
            move || {
                let before = var.get();
                let _never_reset = var.set(own);
                let _ = tx.send((job, before));
            }
        };
        // From an empty context: work submitted with nothing to carry must still start clean.
        Context::new().run(|| target.submit(Box::new(work)))?;
    }
    drop(tx);
    let mut violations = Violations::new();
    for (job, before) in collect(&rx, batch, || format!("{unit}s"), deadline)? {
        if before.is_some() {
            violations.add(|| format!("{unit} {job} started with {}", owners.name(before)));
        }
    }
    violations.verdict(
        batch,
        &format!("{unit}s started with a value an earlier {unit} left"),
        format!("{batch} {unit}s each set a value and never reset it; no other {unit} saw one"),
    )
}

pub(super) fn leak_freedom(target: &Target, opts: &CheckOptions, deadline: Deadline) -> Outcome {
    let unit = target.unit();
    let batch = opts.batch();
    let given_by = format!("set by the submitter of a {unit}");
    let set_by = format!("set by a {unit} and never reset");
    let scoped_by = format!("set by a {unit} in a scope");
    let logs = DropLogs::new(&[&given_by, &set_by, &scoped_by]);
    let given = probe::var("ctxharness.leak-freedom.given");
    let kept = probe::var("ctxharness.leak-freedom.kept");
    let scoped = probe::var("ctxharness.leak-freedom.scoped");
    let (tx, rx) = mpsc::channel();
    for job in 0..batch {
        let work = {
            let (kept, scoped, tx) = (Arc::clone(&kept), Arc::clone(&scoped), tx.clone());
            let (kept_log, scoped_log) = (logs.log(1), logs.log(2));
            move || {
                let _never_reset = kept.set(kept_log.track());
                scoped.scope(scoped_log.track(), || ());
                let _ = tx.send(());
            }
        };
        // Half the jobs carry a value from their submitter. The other half have nothing to
        // carry, the case an executor may treat differently.
        if job % 2 == 0 {
            given.scope(logs.log(0).track(), || target.submit(Box::new(work)))?;
        } else {
            Context::new().run(|| target.submit(Box::new(work)))?;
        }
    }
    drop(tx);
    collect(&rx, batch, || format!("{unit}s"), deadline)?;
    // Jobs report before they return. The executor frees a finished job a moment later.
    if !poll_until(deadline, || logs.alive() == 0) {
        return Err(Failure::Wrong(format!(
            "values still alive {:?} after their {unit}s finished: {}",
            deadline.timeout(),
            logs.describe_alive()
        )));
    }
    Ok(format!(
        "all {} values {unit}s and their submitters set were dropped once the {unit}s finished",
        logs.made()
    ))
}

/// What every level of `nesting` shares.
struct Nest {
    target: Target,
    var: Arc<ContextVar<u64>>,
    /// `values[0]` is set by the check, `values[k]` by level `k` before it submits level `k + 1`.
    values: Vec<u64>,
    seen: Sender<(usize, Option<u64>, Result<(), Failure>)>,
}

/// The job at `level` of `nesting`. It reports what it saw and submits the next level with its
/// own value set.
fn nested(nest: Arc<Nest>, level: usize) -> Box<dyn FnOnce() + Send> {
    Box::new(move || {
        let seen = nest.var.get();
        let submitted = if level < DEPTH {
            let next = nested(Arc::clone(&nest), level + 1);
            nest.var
                .scope(nest.values[level], || nest.target.submit(next))
        } else {
            Ok(())
        };
        let _ = nest.seen.send((level, seen, submitted));
    })
}

pub(super) fn nesting(target: &Target, _: &CheckOptions, deadline: Deadline) -> Outcome {
    let unit = target.unit();
    let values: Vec<u64> = (0..DEPTH).map(|_| probe::tag()).collect();
    let var = probe::var("ctxharness.nesting");
    let (tx, rx) = mpsc::channel();
    let first = nested(
        Arc::new(Nest {
            target: target.clone(),
            var: Arc::clone(&var),
            values: values.clone(),
            seen: tx,
        }),
        1,
    );
    // Only the jobs hold the sender, so a job dropped unrun is noticed at once.
    var.scope(values[0], || target.submit(first))?;
    let mut owners = Owners::default();
    owners.insert(values[0], "the check's value".to_string());
    for (level, &value) in values.iter().enumerate().skip(1) {
        owners.insert(value, format!("the value of the level-{level} {unit}"));
    }
    let mut levels = collect(&rx, DEPTH, || format!("nested {unit}s"), deadline)?;
    levels.sort_by_key(|(level, _, _)| *level);
    for (level, seen, submitted) in levels {
        if seen != Some(values[level - 1]) {
            let submitter = match level {
                1 => "the check".to_string(),
                _ => format!("the level-{} {unit}", level - 1),
            };
            return Err(Failure::Wrong(format!(
                "the level-{level} {unit} saw {} instead of the value {submitter} set",
                owners.name(seen)
            )));
        }
        submitted?;
    }
    Ok(format!(
        "{unit}s submitted from {unit}s, {DEPTH} levels deep, each saw the value of the one that submitted it"
    ))
}

pub(super) fn panic_safety(target: &Target, opts: &CheckOptions, deadline: Deadline) -> Outcome {
    let unit = target.unit();
    let batch = opts.batch();
    let var = probe::var::<u64>("ctxharness.panic-safety");
    let mut owners = Owners::default();
    let mut left_behind = HashSet::new();
    let (tx, rx) = mpsc::channel();
    for job in 0..batch {
        let (given, left) = (probe::tag(), probe::tag());
        owners.insert(
            left,
            format!("the value panicking {unit} {job} left behind"),
        );
        left_behind.insert(left);
        let work = {
            let (var, tx) = (Arc::clone(&var), tx.clone());
            move || {
                let before = var.get();
                let _never_reset = var.set(left);
                let _ = tx.send((job, before));
                // Unwinds like `panic!` but skips the panic hook, so the output stays readable.
                panic::resume_unwind(Box::new(DeliberatePanic));
            }
        };
        var.scope(given, || target.submit(Box::new(work)))?;
    }
    drop(tx);
    let mut seen = collect(&rx, batch, || format!("{unit}s that panic"), deadline)?;
    // Then work that does not panic: it must still run, on workers left clean.
    let (tx, rx) = mpsc::channel();
    for job in 0..batch {
        let given = probe::tag();
        let work = {
            let (var, tx) = (Arc::clone(&var), tx.clone());
            move || {
                let _ = tx.send((batch + job, var.get()));
            }
        };
        var.scope(given, || target.submit(Box::new(work)))?;
    }
    drop(tx);
    let what = || format!("{unit}s submitted after {batch} panicking ones");
    seen.extend(collect(&rx, batch, what, deadline)?);
    let mut violations = Violations::new();
    for (job, before) in seen {
        if before.is_some_and(|tag| left_behind.contains(&tag)) {
            violations.add(|| format!("{unit} {job} started with {}", owners.name(before)));
        }
    }
    violations.verdict(
        2 * batch,
        &format!("{unit}s started with a value a panicking {unit} left"),
        format!(
            "{batch} panicking {unit}s left nothing behind, and {batch} {unit}s after them ran"
        ),
    )
}
