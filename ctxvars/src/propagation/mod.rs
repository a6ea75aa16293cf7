//! W3C trace context and baggage: carry [`TRACE_PARENT`], [`TRACE_STATE`] and
//! [`BAGGAGE`] across process boundaries.
//!
//! A [`Context`] follows work across threads and tasks, but not into another process.
//! This module writes the current context's trace and baggage into a carrier as headers
//! ([`inject`]) and reads them back into a fresh `Context` on the other side ([`extract`]):
//!
//! - `traceparent` and `tracestate`: [W3C Trace Context Level 1](https://www.w3.org/TR/trace-context/)
//!   ([`TraceParent`], [`TraceState`]);
//! - `baggage`: [W3C Baggage](https://www.w3.org/TR/baggage/) ([`Baggage`]).
//!
//! Carriers implement [`Injector`] and [`Extractor`]: `HashMap<String, String>` (header
//! names in lower case), [`std::process::Command`] (environment variables `TRACEPARENT`,
//! `TRACESTATE` and `BAGGAGE` of the child) and [`EnvCarrier`] (this process's
//! environment, for the child to read them back).
//!
//! ```
//! use std::collections::HashMap;
//! use ctxvars::propagation::{extract, inject, Baggage, TraceParent, BAGGAGE, TRACE_PARENT};
//!
//! // Receiving side: continue the caller's trace.
//! let mut incoming = HashMap::new();
//! incoming.insert(
//!     "traceparent".to_string(),
//!     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string(),
//! );
//! incoming.insert("baggage".to_string(), "userId=alice".to_string());
//!
//! let mut cx = extract(&incoming);
//! let outgoing = cx.run(|| {
//!     assert_eq!(BAGGAGE.with(|b| b.and_then(|b| b.get("userId")).map(str::to_owned)).as_deref(), Some("alice"));
//!     // Sending side: the same headers go on the next request.
//!     let mut outgoing = HashMap::new();
//!     inject(&mut outgoing);
//!     outgoing
//! });
//! assert_eq!(outgoing, incoming);
//! ```
//!
//! The parsers are strict and the propagation is forgiving: [`FromStr`](std::str::FromStr)
//! on each type rejects anything the specifications do not allow and says what with a
//! [`ParseError`], while [`extract`] ignores an invalid `traceparent` (and then the
//! `tracestate`), ignores an invalid `tracestate`, and drops only the invalid members of a
//! `baggage` header ([`Baggage::parse_lossy`]), as opentelemetry does.

mod baggage;
mod carrier;
mod traceparent;

use std::fmt;

use crate::{Context, ContextVar};

pub use baggage::{Baggage, Member, Property};
pub use carrier::{env_var_name, EnvCarrier, Extractor, Injector};
pub use traceparent::{SpanId, TraceFlags, TraceId, TraceParent, TraceState};

/// The header name of a [`TraceParent`]: `traceparent`.
pub const TRACEPARENT_HEADER: &str = "traceparent";
/// The header name of a [`TraceState`]: `tracestate`.
pub const TRACESTATE_HEADER: &str = "tracestate";
/// The header name of a [`Baggage`]: `baggage`.
pub const BAGGAGE_HEADER: &str = "baggage";

/// The trace this work belongs to. Set by [`extract`], written by [`inject`].
pub static TRACE_PARENT: ContextVar<TraceParent> = ContextVar::new("traceparent");

/// Vendor-specific trace data that travels with [`TRACE_PARENT`]. [`inject`] writes it
/// only together with a `TRACE_PARENT`, and [`extract`] reads it only when the
/// `traceparent` header is valid, as the specification requires.
pub static TRACE_STATE: ContextVar<TraceState> = ContextVar::new("tracestate");

/// User-defined key/value pairs that travel with the request. Set by [`extract`],
/// written by [`inject`].
pub static BAGGAGE: ContextVar<Baggage> = ContextVar::new("baggage");

/// Writes the current context's [`TRACE_PARENT`], [`TRACE_STATE`] and [`BAGGAGE`] into
/// `carrier` as the headers `traceparent`, `tracestate` and `baggage`.
///
/// Only what is set is written: nothing for an unset variable, an empty `TraceState` or
/// an empty `Baggage`, and no `tracestate` without a `traceparent`. The `traceparent` is
/// always version `00`; the `baggage` is [`Baggage::header_value`], which keeps within
/// the specification's limits.
pub fn inject<I: Injector + ?Sized>(carrier: &mut I) {
    TRACE_PARENT.with(|trace_parent| {
        TRACE_STATE.with(|trace_state| {
            BAGGAGE.with(|baggage| inject_values(trace_parent, trace_state, baggage, carrier))
        })
    });
}

/// Like [`inject`], from the values in `cx` instead of the current context.
pub fn inject_context<I: Injector + ?Sized>(cx: &Context, carrier: &mut I) {
    inject_values(
        cx.get(&TRACE_PARENT),
        cx.get(&TRACE_STATE),
        cx.get(&BAGGAGE),
        carrier,
    );
}

fn inject_values<I: Injector + ?Sized>(
    trace_parent: Option<&TraceParent>,
    trace_state: Option<&TraceState>,
    baggage: Option<&Baggage>,
    carrier: &mut I,
) {
    if let Some(trace_parent) = trace_parent {
        carrier.set(TRACEPARENT_HEADER, trace_parent.to_string());
        if let Some(trace_state) = trace_state.filter(|state| !state.is_empty()) {
            carrier.set(TRACESTATE_HEADER, trace_state.to_string());
        }
    }
    if let Some(baggage) = baggage {
        let header = baggage.header_value();
        if !header.is_empty() {
            carrier.set(BAGGAGE_HEADER, header);
        }
    }
}

/// Reads the `traceparent`, `tracestate` and `baggage` headers from `carrier` into a
/// fresh [`Context`] (no other variable set), to [`run`](Context::run) the work in.
///
/// Invalid headers are ignored, as opentelemetry does: a `traceparent` that does not
/// parse leaves [`TRACE_PARENT`] unset and its `tracestate` unread; a `tracestate` that
/// does not parse leaves [`TRACE_STATE`] unset; a `baggage` header loses only its invalid
/// members ([`Baggage::parse_lossy`]). Optional whitespace around the `traceparent`
/// value is allowed, as in HTTP. Empty results are not set.
pub fn extract<E: Extractor + ?Sized>(carrier: &E) -> Context {
    extract_with_context(&Context::new(), carrier)
}

/// Like [`extract`], but the result starts as a copy of `cx` (e.g. [`Context::current()`])
/// so its other variables are kept. A header that is absent or invalid leaves the
/// corresponding variable as it is in `cx`, except that a valid `traceparent` always
/// replaces the `tracestate` too (with an empty one if none is received), so that a
/// `tracestate` never outlives the trace it belongs to.
pub fn extract_with_context<E: Extractor + ?Sized>(cx: &Context, carrier: &E) -> Context {
    let trace_parent = carrier
        .get(TRACEPARENT_HEADER)
        .and_then(|value| trim_ows(value).parse::<TraceParent>().ok());
    let trace_state = trace_parent.map(|_| {
        carrier
            .get(TRACESTATE_HEADER)
            .and_then(|value| value.parse::<TraceState>().ok())
            .unwrap_or_default()
    });
    let baggage = carrier
        .get(BAGGAGE_HEADER)
        .map(Baggage::parse_lossy)
        .filter(|baggage| !baggage.is_empty());

    let mut cx = cx.clone();
    let replace_state = cx.contains(&TRACE_STATE);
    cx.run(|| {
        // A token is only a receipt: dropping it keeps the value set in `cx`.
        if let Some(trace_parent) = trace_parent {
            let _ = TRACE_PARENT.set(trace_parent);
        }
        if let Some(trace_state) = trace_state.filter(|state| replace_state || !state.is_empty()) {
            let _ = TRACE_STATE.set(trace_state);
        }
        if let Some(baggage) = baggage {
            let _ = BAGGAGE.set(baggage);
        }
    });
    cx
}

/// What is wrong with a `traceparent`, `tracestate` or `baggage` value.
///
/// The `Display` messages are lower case, without trailing punctuation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseError {
    /// `traceparent`: the version is not two lower-case hex digits followed by `-`.
    InvalidVersion,
    /// `traceparent`: version `ff`, which the specification forbids.
    ForbiddenVersion,
    /// `traceparent`: fewer than the four `-`-separated fields.
    MissingTraceParentFields,
    /// `traceparent`: version `00` with something after the trace-flags.
    ExtraTraceParentFields,
    /// `traceparent`: the trace-id is not 32 lower-case hex digits.
    InvalidTraceId,
    /// `traceparent`: the trace-id is all zeros.
    ZeroTraceId,
    /// `traceparent`: the parent-id is not 16 lower-case hex digits.
    InvalidParentId,
    /// `traceparent`: the parent-id is all zeros.
    ZeroParentId,
    /// `traceparent`: the trace-flags are not two lower-case hex digits.
    InvalidFlags,
    /// `tracestate`: a list-member has no `=`.
    TraceStateMissingEquals,
    /// `tracestate`: a key does not follow the specification's key grammar.
    InvalidTraceStateKey,
    /// `tracestate`: a value is empty, longer than 256 characters, ends in a space, or has
    /// a character other than printable ASCII without `,` and `=`.
    InvalidTraceStateValue,
    /// `tracestate`: a key appears twice.
    DuplicateTraceStateKey,
    /// `tracestate`: more than 32 list-members.
    TooManyTraceStateMembers,
    /// `baggage`: the value is longer than [`Baggage::MAX_BYTES`].
    BaggageTooLong {
        /// The length of the value, in bytes.
        len: usize,
    },
    /// `baggage`: more than [`Baggage::MAX_MEMBERS`] list-members.
    TooManyBaggageMembers {
        /// How many list-members the value has.
        count: usize,
    },
    /// `baggage`: an empty list-member (e.g. `a=1,,b=2`).
    EmptyBaggageMember,
    /// `baggage`: a list-member has no `=`.
    BaggageMissingEquals,
    /// `baggage`: a key is not an RFC 7230 token.
    InvalidBaggageKey,
    /// `baggage`: a value has a character that must be percent-encoded (whitespace inside
    /// it, `"`, `\`, a control or non-ASCII character).
    InvalidBaggageValue,
    /// `baggage`: a property is empty, its key is not an RFC 7230 token, or its value has a
    /// character that must be percent-encoded.
    InvalidBaggageProperty,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::InvalidVersion => {
                f.write_str("traceparent version is not two lower-case hex digits followed by '-'")
            }
            ParseError::ForbiddenVersion => f.write_str("traceparent version ff is forbidden"),
            ParseError::MissingTraceParentFields => {
                f.write_str("traceparent has fewer than four fields")
            }
            ParseError::ExtraTraceParentFields => {
                f.write_str("traceparent version 00 has data after the trace-flags")
            }
            ParseError::InvalidTraceId => {
                f.write_str("traceparent trace-id is not 32 lower-case hex digits")
            }
            ParseError::ZeroTraceId => f.write_str("traceparent trace-id is all zeros"),
            ParseError::InvalidParentId => {
                f.write_str("traceparent parent-id is not 16 lower-case hex digits")
            }
            ParseError::ZeroParentId => f.write_str("traceparent parent-id is all zeros"),
            ParseError::InvalidFlags => {
                f.write_str("traceparent trace-flags are not two lower-case hex digits")
            }
            ParseError::TraceStateMissingEquals => f.write_str("tracestate list-member has no '='"),
            ParseError::InvalidTraceStateKey => f.write_str("invalid tracestate key"),
            ParseError::InvalidTraceStateValue => f.write_str("invalid tracestate value"),
            ParseError::DuplicateTraceStateKey => f.write_str("duplicate tracestate key"),
            ParseError::TooManyTraceStateMembers => {
                f.write_str("tracestate has more than 32 list-members")
            }
            ParseError::BaggageTooLong { len } => write!(
                f,
                "baggage is {len} bytes, more than the limit of {}",
                Baggage::MAX_BYTES
            ),
            ParseError::TooManyBaggageMembers { count } => write!(
                f,
                "baggage has {count} list-members, more than the limit of {}",
                Baggage::MAX_MEMBERS
            ),
            ParseError::EmptyBaggageMember => f.write_str("empty baggage list-member"),
            ParseError::BaggageMissingEquals => f.write_str("baggage list-member has no '='"),
            ParseError::InvalidBaggageKey => f.write_str("baggage key is not a token (rfc 7230)"),
            ParseError::InvalidBaggageValue => {
                f.write_str("baggage value has a character that must be percent-encoded")
            }
            ParseError::InvalidBaggageProperty => f.write_str("invalid baggage property"),
        }
    }
}

impl std::error::Error for ParseError {}

/// `s` without leading and trailing optional whitespace (`OWS`, RFC 7230 §3.2.3: spaces
/// and horizontal tabs).
fn trim_ows(s: &str) -> &str {
    s.trim_matches(|c: char| c == ' ' || c == '\t')
}
