// One hit of every Rust peer rule (bench/compare.sh checks that each rule fires here, so
// a rule that no longer parses or matches is caught before it is timed).
use std::cell::RefCell;
use tracing::Instrument;

thread_local!(static REQUEST_ID: RefCell<String> = RefCell::new(String::new()));

fn discarded(span: tracing::Span) {
    let _ = span.enter(); // ctx001
    span.enter(); // ctx001
    work();
}

fn discarded_otel(cx: opentelemetry::Context) {
    let _ = cx.attach(); // ctx001
    let _ = tracing::subscriber::set_default(subscriber()); // ctx001
    work();
}

async fn thread_local_write(id: String) {
    REQUEST_ID.with(|slot| *slot.borrow_mut() = id); // ctx002
    fetch().await;
}

async fn spawns() {
    tokio::spawn(async move { tracing::info!("lost") }); // ctx003
    tokio::task::spawn(async move { tracing::info!("lost") }); // ctx003
    tokio::spawn(async move { tracing::info!("kept") }.in_current_span());
    tokio::spawn(async move { tracing::info!("kept") }.instrument(tracing::Span::current()));
}

async fn guard_across_await(span: tracing::Span) {
    let _entered = span.enter(); // ctx004
    fetch().await;
}

async fn guard_dropped_before_await(span: tracing::Span) {
    {
        let _entered = span.enter();
        work();
    }
    fetch().await;
}

impl Handler {
    #[tracing::instrument(skip(self))]
    pub async fn method<T: Send>(&self, span: tracing::Span) -> Result<T, Error> {
        let guard = span.enter(); // ctx004
        REQUEST_ID.set(String::new()); // ctx002
        self.fetch().await
    }
}
