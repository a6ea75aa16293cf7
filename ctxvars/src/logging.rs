//! JSON logs that carry context variables: a `tracing_subscriber` layer writing one JSON
//! object per event.
//!
//! [`JsonLayer`] writes each `tracing` event as one line:
//!
//! ```text
//! {"ts":"2026-11-25T08:28:35.123456Z","level":"INFO","msg":"Processing request","request_id":"req-8842","user":42}
//! ```
//!
//! - `ts`: the emission time, RFC 3339 in UTC with microseconds.
//! - `level`: the upper-case level name (`TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`).
//! - `msg`: the event's `message` field (`""` for an event without one).
//! - every registered [`ContextVar`], keyed by its [name](ContextVar::name), in registration
//!   order, read **in the emitting code's current context when the event is emitted** (values
//!   are never cached, so each request, thread and task logs its own values). A variable that
//!   is not set, and has no default, is left out of the object.
//! - then the event's own fields in the order they were written (`user = 42` gives
//!   `"user":42`).
//!
//! ```
//! use std::io;
//! use std::sync::{Arc, Mutex};
//!
//! use ctxvars::logging::JsonLayer;
//! use ctxvars::ContextVar;
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
//!
//! // Any `MakeWriter` works: `std::io::stdout`, `std::io::stderr`, a file, a non-blocking
//! // writer... This one keeps the lines in memory.
//! #[derive(Clone, Default)]
//! struct Lines(Arc<Mutex<Vec<u8>>>);
//! impl io::Write for Lines {
//!     fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
//!         self.0.lock().unwrap().extend_from_slice(buf);
//!         Ok(buf.len())
//!     }
//!     fn flush(&mut self) -> io::Result<()> {
//!         Ok(())
//!     }
//! }
//!
//! let lines = Lines::default();
//! let writer = lines.clone();
//! let layer = JsonLayer::new(move || writer.clone()).with_var(&REQUEST_ID);
//! let subscriber = tracing_subscriber::registry().with(layer);
//!
//! tracing::subscriber::with_default(subscriber, || {
//!     let token = REQUEST_ID.set("req-8842".to_string());
//!     tracing::info!(user = 42, "Processing request");
//!     REQUEST_ID.reset(token).unwrap();
//!     tracing::info!("idle");
//! });
//!
//! let output = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
//! let lines: Vec<&str> = output.lines().collect();
//! // Skip the timestamp: `{"ts":"YYYY-MM-DDTHH:MM:SS.ffffffZ",` is 36 bytes.
//! assert_eq!(
//!     &lines[0][36..],
//!     r#""level":"INFO","msg":"Processing request","request_id":"req-8842","user":42}"#
//! );
//! assert_eq!(&lines[1][36..], r#""level":"INFO","msg":"idle"}"#);
//! ```
//!
//! # Key collisions
//! A JSON object never holds the same key twice. The keys `ts`, `level` and `msg` and the
//! registered variables' names are reserved: registering a variable under a reserved or
//! already registered name panics (see [`JsonLayer::with_var`]). An event field whose name is
//! taken (`level = 3`, a field named like a registered variable, or a repeated field name)
//! is kept under the name prefixed with `fields.` (`"fields.level":3`), the prefix repeated
//! until the key is unique; this is logrus's convention. A field named `message` is the
//! message: it becomes `msg`.
//!
//! # Field values
//! Integers and booleans are JSON numbers and booleans; finite floats are numbers and `NaN`,
//! `inf` and `-inf` are the strings `"NaN"`, `"inf"` and `"-inf"`; 128-bit integers outside
//! the 64-bit range are strings (most JSON readers would round them); strings, `Debug`
//! (`?x`), `Display` (`%x`) and error values are JSON strings. Strings are escaped per
//! RFC 8259: quotes, backslashes and control characters are escaped, other characters
//! (non-ASCII included) are written as UTF-8.
//!
//! # Writing
//! The line (object and `\n`) is built in a per-thread buffer, on the emitting thread, and
//! handed to the writer with a single `write_all`, so lines of concurrent events never
//! interleave with writers that serialise whole writes (`stdout`, `stderr`, `Mutex<W>`, a
//! file opened for appending). Write errors are ignored: logging never fails the code that
//! logs.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context as LayerContext, Layer};

use crate::ContextVar;

/// The keys every line starts with; variables and fields cannot use them.
const FIXED_KEYS: [&str; 3] = ["ts", "level", "msg"];

/// The prefix that makes a colliding event field's key unique.
const COLLISION_PREFIX: &str = "fields.";

/// A per-thread buffer kept at most this large between events.
const MAX_RETAINED_CAPACITY: usize = 64 * 1024;

/// A [`Layer`] that writes every event as one JSON object per line, with the values the
/// registered [`ContextVar`]s have in the context that emits it.
///
/// Built with [`JsonLayer::new`] from any [`MakeWriter`] (`std::io::stdout`,
/// `std::io::stderr`, a `Mutex<File>`, a closure returning a writer...) and registered
/// variables ([`with_var`](Self::with_var), [`with_json_var`](Self::with_json_var)). The
/// format is described in the [module documentation](self).
///
/// ```no_run
/// use ctxvars::logging::JsonLayer;
/// use ctxvars::ContextVar;
/// use tracing_subscriber::prelude::*;
///
/// static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
/// static ATTEMPT: ContextVar<u32> = ContextVar::new("attempt");
///
/// tracing_subscriber::registry()
///     .with(JsonLayer::new(std::io::stdout).with_var(&REQUEST_ID).with_json_var(&ATTEMPT))
///     .init();
/// ```
pub struct JsonLayer<W> {
    make_writer: W,
    vars: Vec<RegisteredVar>,
}

/// A registered variable: its JSON key and how to render its current value.
struct RegisteredVar {
    key: &'static str,
    /// Appends `,"key":value` to the line when the variable has a value in the current
    /// context, nothing otherwise.
    render: Box<dyn Fn(&mut String) + Send + Sync>,
}

impl<W> JsonLayer<W>
where
    W: for<'a> MakeWriter<'a> + 'static,
{
    /// A layer writing to `make_writer`, with no variables registered yet.
    pub fn new(make_writer: W) -> Self {
        JsonLayer {
            make_writer,
            vars: Vec::new(),
        }
    }
}

impl<W> JsonLayer<W> {
    /// Adds `var` to every line, as a JSON string of its [`Display`](fmt::Display) form,
    /// under the key [`var.name()`](ContextVar::name).
    ///
    /// The value is read with [`ContextVar::with`] when each event is emitted, in the
    /// emitting code's current context. A variable with no value there (not set, no
    /// default) is left out of the line.
    ///
    /// # Panics
    /// If the name is `ts`, `level` or `msg`, or is the name of a variable already
    /// registered with this layer (two variables may share a name, but not a JSON key).
    pub fn with_var<T>(self, var: &'static ContextVar<T>) -> Self
    where
        T: fmt::Display + Send + Sync + 'static,
    {
        let key = var.name();
        self.register(
            key,
            Box::new(move |line: &mut String| {
                var.with(|value| {
                    if let Some(value) = value {
                        push_key(line, key);
                        push_display_string(line, value);
                    }
                });
            }),
        )
    }

    /// Adds `var` to every line as the JSON value it converts to (numbers stay numbers,
    /// `Vec`s become arrays, a `serde_json::Value` is written as is), under the key
    /// [`var.name()`](ContextVar::name).
    ///
    /// Read at emission time and left out when unset, like [`with_var`](Self::with_var);
    /// each emission clones the value to convert it.
    ///
    /// # Panics
    /// Like [`with_var`](Self::with_var), on a reserved or already registered name.
    pub fn with_json_var<T>(self, var: &'static ContextVar<T>) -> Self
    where
        T: Clone + Into<serde_json::Value> + Send + Sync + 'static,
    {
        let key = var.name();
        self.register(
            key,
            Box::new(move |line: &mut String| {
                var.with(|value| {
                    if let Some(value) = value {
                        let value: serde_json::Value = value.clone().into();
                        push_key(line, key);
                        // `Value`'s `Display` is its compact JSON text.
                        let _ = write!(line, "{value}");
                    }
                });
            }),
        )
    }

    fn register(
        mut self,
        key: &'static str,
        render: Box<dyn Fn(&mut String) + Send + Sync>,
    ) -> Self {
        assert!(
            !FIXED_KEYS.contains(&key),
            "ctxvars::logging::JsonLayer: a context variable cannot be logged under the reserved key {key:?}"
        );
        assert!(
            !self.vars.iter().any(|var| var.key == key),
            "ctxvars::logging::JsonLayer: a context variable named {key:?} is already registered"
        );
        self.vars.push(RegisteredVar { key, render });
        self
    }

    /// Appends the whole line for `event` (object and newline) to `buffers.line`.
    fn format_event(&self, event: &Event<'_>, now: SystemTime, buffers: &mut Buffers) {
        let Buffers { line, fields } = buffers;
        line.push_str("{\"ts\":\"");
        push_timestamp(line, now);
        line.push_str("\",\"level\":\"");
        line.push_str(event.metadata().level().as_str());
        line.push_str("\",\"msg\":\"");
        let mut visitor = FieldVisitor {
            vars: &self.vars,
            msg: line,
            fields,
            taken: Vec::new(),
        };
        event.record(&mut visitor);
        line.push('"');
        for var in &self.vars {
            (var.render)(line);
        }
        line.push_str(fields);
        line.push_str("}\n");
    }
}

impl<S, W> Layer<S> for JsonLayer<W>
where
    S: Subscriber,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_event(&self, event: &Event<'_>, _ctx: LayerContext<'_, S>) {
        let now = SystemTime::now();
        with_buffers(|buffers| {
            self.format_event(event, now, buffers);
            let mut writer = self.make_writer.make_writer_for(event.metadata());
            // Logging must not fail the code that logs; there is nowhere to report to.
            let _ = writer.write_all(buffers.line.as_bytes());
        });
    }
}

impl<W> fmt::Debug for JsonLayer<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self.vars.iter().map(|var| var.key).collect();
        f.debug_struct("JsonLayer")
            .field("vars", &keys)
            .finish_non_exhaustive()
    }
}

/// Writes an event's fields: the message into the line (inside the `msg` string), the
/// others as `,"key":value` into `fields`.
struct FieldVisitor<'a> {
    vars: &'a [RegisteredVar],
    msg: &'a mut String,
    fields: &'a mut String,
    /// Keys already used by this event's fields.
    taken: Vec<Cow<'static, str>>,
}

impl FieldVisitor<'_> {
    fn is_taken(&self, key: &str) -> bool {
        FIXED_KEYS.contains(&key)
            || self.vars.iter().any(|var| var.key == key)
            || self.taken.iter().any(|taken| taken == key)
    }

    /// Starts the field `name`: appends `,"key":` with a key no other part of the line uses.
    fn push_field_key(&mut self, name: &'static str) {
        let mut key = Cow::Borrowed(name);
        while self.is_taken(&key) {
            key = Cow::Owned(format!("{COLLISION_PREFIX}{key}"));
        }
        push_key(self.fields, &key);
        self.taken.push(key);
    }

    /// Records a value whose JSON form is its `Display` form (numbers, booleans).
    fn record_json_literal(&mut self, field: &Field, value: impl fmt::Display) {
        if field.name() == "message" {
            let _ = write!(JsonEscaper(self.msg), "{value}");
        } else {
            self.push_field_key(field.name());
            let _ = write!(self.fields, "{value}");
        }
    }

    /// Records a value as a JSON string of its `Display` form.
    fn record_display_string(&mut self, field: &Field, value: impl fmt::Display) {
        if field.name() == "message" {
            let _ = write!(JsonEscaper(self.msg), "{value}");
        } else {
            self.push_field_key(field.name());
            push_display_string(self.fields, &value);
        }
    }
}

impl Visit for FieldVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            // `Debug` keeps a fraction or an exponent (`1.0`, `1e21`), both valid JSON.
            self.record_json_literal(field, format_args!("{value:?}"));
        } else {
            // JSON has no NaN or infinities: `"NaN"`, `"inf"`, `"-inf"`.
            self.record_display_string(field, value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_json_literal(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record_json_literal(field, value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        if i64::try_from(value).is_ok() || u64::try_from(value).is_ok() {
            self.record_json_literal(field, value);
        } else {
            self.record_display_string(field, value);
        }
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        if u64::try_from(value).is_ok() {
            self.record_json_literal(field, value);
        } else {
            self.record_display_string(field, value);
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.record_json_literal(field, value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_display_string(field, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record_display_string(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record_display_string(field, format_args!("{value:?}"));
    }
}

/// Appends `,"key":`.
fn push_key(line: &mut String, key: &str) {
    line.push_str(",\"");
    push_escaped(line, key);
    line.push_str("\":");
}

/// Appends `value`'s `Display` form as a JSON string, escaping it as it is written.
fn push_display_string(line: &mut String, value: &(impl fmt::Display + ?Sized)) {
    line.push('"');
    // A `Display` that fails leaves what it wrote; the quote is closed either way.
    let _ = write!(JsonEscaper(line), "{value}");
    line.push('"');
}

/// Appends `text` escaped for the inside of a JSON string (RFC 8259, section 7).
fn push_escaped(out: &mut String, text: &str) {
    let mut clean = 0;
    for (at, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // Only ASCII bytes are escaped, so `at` is on a character boundary.
        out.push_str(&text[clean..at]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        clean = at + 1;
    }
    out.push_str(&text[clean..]);
}

/// A `fmt::Write` that escapes everything written through it into a JSON string's inside.
struct JsonEscaper<'a>(&'a mut String);

impl fmt::Write for JsonEscaper<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        push_escaped(self.0, text);
        Ok(())
    }
}

/// Appends `time` as RFC 3339 in UTC with microseconds: `2026-11-25T08:28:35.123456Z`.
fn push_timestamp(out: &mut String, time: SystemTime) {
    // Microseconds since the epoch, negative before it; saturates ~292,000 years away.
    let micros = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_micros()).map_or(i64::MIN, |m| -m),
    };
    let seconds = micros.div_euclid(1_000_000);
    let micros = micros.rem_euclid(1_000_000);
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let second_of_day = seconds.rem_euclid(86_400);
    let (hour, minute, second) = (
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
    );
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{micros:06}Z"
    );
}

/// The proleptic Gregorian `(year, month, day)` of `days` since 1970-01-01.
///
/// Howard Hinnant's `civil_from_days`: days are counted in 400-year eras starting on
/// March 1st, so the leap day is the last day of an era's year.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097); // [0, 146096]
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365; // [0, 399]
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // [0, 365]
    let month_from_march = (5 * day_of_year + 2) / 153; // [0, 11]
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1; // [1, 31]
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    }; // [1, 12]
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// The line being built and the event's fields (written after the variables).
struct Buffers {
    line: String,
    fields: String,
}

impl Buffers {
    const fn new() -> Self {
        Buffers {
            line: String::new(),
            fields: String::new(),
        }
    }
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = const { RefCell::new(Buffers::new()) };
}

/// Runs `f` with this thread's cleared buffers, or with fresh ones if they are in use (a
/// `Display` impl that logs) or gone (thread-local storage being torn down).
fn with_buffers(f: impl FnOnce(&mut Buffers)) {
    let mut f = Some(f);
    let _ = BUFFERS.try_with(|buffers| {
        if let Ok(mut buffers) = buffers.try_borrow_mut() {
            if let Some(f) = f.take() {
                buffers.line.clear();
                buffers.fields.clear();
                f(&mut buffers);
                if buffers.line.capacity() > MAX_RETAINED_CAPACITY {
                    buffers.line = String::new();
                }
                if buffers.fields.capacity() > MAX_RETAINED_CAPACITY {
                    buffers.fields = String::new();
                }
            }
        }
    });
    if let Some(f) = f {
        f(&mut Buffers::new());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn timestamp(time: SystemTime) -> String {
        let mut out = String::new();
        push_timestamp(&mut out, time);
        out
    }

    fn is_leap(year: i64) -> bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    fn days_in_month(year: i64, month: u32) -> u32 {
        match month {
            2 if is_leap(year) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    #[test]
    fn civil_from_days_known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(10_957), (2000, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_417), (2025, 11, 25));
        assert_eq!(civil_from_days(-719_468), (0, 3, 1));
    }

    #[test]
    fn civil_from_days_matches_counting_days_one_by_one() {
        // Walk from 1600-01-01 to 2400-12-31 (crossing both kinds of century year).
        let (mut year, mut month, mut day) = (1600_i64, 1_u32, 1_u32);
        let mut days = -135_140_i64; // 1600-01-01
        while year <= 2400 {
            assert_eq!(civil_from_days(days), (year, month, day), "day {days}");
            days += 1;
            day += 1;
            if day > days_in_month(year, month) {
                day = 1;
                month += 1;
                if month > 12 {
                    month = 1;
                    year += 1;
                }
            }
        }
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        let time = UNIX_EPOCH + Duration::new(1_795_595_315, 123_456_789);
        assert_eq!(timestamp(time), "2026-11-25T08:28:35.123456Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_868_799);
        assert_eq!(timestamp(leap), "2000-02-29T23:59:59.000000Z");
        let before = UNIX_EPOCH - Duration::from_micros(1);
        assert_eq!(timestamp(before), "1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn escapes_per_rfc8259() {
        let mut out = String::new();
        push_escaped(&mut out, "a\"b\\c\nd\re\tf\u{8}\u{c}\u{1}\u{1f}\u{7f}é✓😀");
        let expected = concat!(r#"a\"b\\c\nd\re\tf\b\f\u0001\u001f"#, "\u{7f}é✓😀");
        assert_eq!(out, expected);
        // The result is a valid JSON string body that decodes to the input.
        let decoded: String = serde_json::from_str(&format!("\"{out}\"")).unwrap();
        assert_eq!(decoded, "a\"b\\c\nd\re\tf\u{8}\u{c}\u{1}\u{1f}\u{7f}é✓😀");
    }
}
