#![cfg(loom)]
//! Model 2, snapshot handoff: a `Context` captured on thread A is sent to thread B and run
//! there. B sees A's values as of the capture, never A's later sets; A never sees B's.

mod loom_support;

use ctxvars::mutant::Mutant;
use ctxvars::{copy_context, ContextVar};
use loom::thread;

static V: ContextVar<u32> = ContextVar::new("v");
static W: ContextVar<u32> = ContextVar::new("w");

fn handoff() {
    let captured_v = V.set(1);
    let captured = copy_context();
    let b = thread::spawn(move || {
        let mut context = captured;
        context.run(|| {
            assert_eq!(V.get(), Some(1), "B sees A's value as of the capture");
            assert_eq!(W.get(), None, "B never sees a variable A sets later");
            let _b = V.set(10);
            let _b = W.set(11);
            assert_eq!(V.get(), Some(10), "B sees its own set");
        });
        assert_eq!(V.get(), None, "B's own context after `run`");
        context
    });

    // A's later sets, racing with B's reads and sets.
    let later_v = V.set(2);
    let later_w = W.set(3);
    assert_eq!(
        (V.get(), W.get()),
        (Some(2), Some(3)),
        "A never sees B's sets"
    );
    let context = b.join().unwrap();
    assert_eq!(
        (V.get(), W.get()),
        (Some(2), Some(3)),
        "A never sees B's sets"
    );
    let kept = (context.get(&V), context.get(&W));
    assert_eq!(kept, (Some(&10), Some(&11)), "the context keeps B's sets");
    W.reset(later_w).unwrap();
    V.reset(later_v).unwrap();
    V.reset(captured_v).unwrap();
    assert_eq!((V.get(), W.get()), (None, None), "A after its resets");
}

#[test]
fn snapshot_handoff_holds_in_every_interleaving() {
    loom_support::explore("snapshot handoff", loom::model::Builder::new(), handoff);
}

#[test]
fn snapshot_handoff_fails_when_set_writes_into_a_shared_map() {
    loom_support::assert_killed(
        "snapshot_handoff_fails_when_set_writes_into_a_shared_map",
        Mutant::SetInPlace,
        loom::model::Builder::new(),
        handoff,
        "B sees A's value as of the capture",
    );
}
