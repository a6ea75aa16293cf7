//! W3C Trace Context: the `traceparent` and `tracestate` headers.

use std::fmt;
use std::num::{NonZeroU128, NonZeroU64};
use std::str::FromStr;

use super::{trim_ows, ParseError};

/// The value of a lower-case hex digit (`0-9`, `a-f`); upper case is not a `HEXDIGLC`.
fn lower_hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    }
}

/// `s` read as exactly `digits` (at most 32) lower-case hex digits.
fn lower_hex(s: &str, digits: usize) -> Option<u128> {
    if s.len() != digits {
        return None;
    }
    s.bytes().try_fold(0u128, |acc, byte| {
        Some(acc << 4 | u128::from(lower_hex_digit(byte)?))
    })
}

/// `s` read as exactly two lower-case hex digits.
fn lower_hex_u8(s: &str) -> Option<u8> {
    lower_hex(s, 2).and_then(|value| u8::try_from(value).ok())
}

/// A 16-byte trace id. Never all zeros: the specification forbids that value, so it
/// cannot be constructed.
///
/// Formats (`Display`) and parses (`FromStr`) as 32 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(NonZeroU128);

impl TraceId {
    /// The id with this numeric value (big-endian, as in the header), or `None` for zero.
    pub const fn new(id: u128) -> Option<Self> {
        match NonZeroU128::new(id) {
            Some(id) => Some(TraceId(id)),
            None => None,
        }
    }

    /// The id with these bytes, or `None` if they are all zero.
    pub const fn from_bytes(bytes: [u8; 16]) -> Option<Self> {
        Self::new(u128::from_be_bytes(bytes))
    }

    /// The numeric value (never zero).
    pub const fn get(self) -> u128 {
        self.0.get()
    }

    /// The 16 bytes, in header order.
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.get().to_be_bytes()
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl FromStr for TraceId {
    type Err = ParseError;

    /// Exactly 32 lower-case hex digits, not all zero.
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let id = lower_hex(s, 32).ok_or(ParseError::InvalidTraceId)?;
        TraceId::new(id).ok_or(ParseError::ZeroTraceId)
    }
}

/// An 8-byte span id (the `parent-id` of a `traceparent`). Never all zeros: the
/// specification forbids that value, so it cannot be constructed.
///
/// Formats (`Display`) and parses (`FromStr`) as 16 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(NonZeroU64);

impl SpanId {
    /// The id with this numeric value (big-endian, as in the header), or `None` for zero.
    pub const fn new(id: u64) -> Option<Self> {
        match NonZeroU64::new(id) {
            Some(id) => Some(SpanId(id)),
            None => None,
        }
    }

    /// The id with these bytes, or `None` if they are all zero.
    pub const fn from_bytes(bytes: [u8; 8]) -> Option<Self> {
        Self::new(u64::from_be_bytes(bytes))
    }

    /// The numeric value (never zero).
    pub const fn get(self) -> u64 {
        self.0.get()
    }

    /// The 8 bytes, in header order.
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0.get().to_be_bytes()
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

impl FromStr for SpanId {
    type Err = ParseError;

    /// Exactly 16 lower-case hex digits, not all zero.
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let id = lower_hex(s, 16).ok_or(ParseError::InvalidParentId)?;
        u64::try_from(id)
            .ok()
            .and_then(SpanId::new)
            .ok_or(ParseError::ZeroParentId)
    }
}

/// The 8-bit `trace-flags` field. Only [`SAMPLED`](Self::SAMPLED) has a meaning in
/// version `00`; the other bits are kept as received.
///
/// Formats (`Display`) as 2 lower-case hex digits.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TraceFlags(u8);

impl TraceFlags {
    /// The `sampled` flag (`01`): the caller may have recorded trace data.
    pub const SAMPLED: TraceFlags = TraceFlags(0x01);

    /// Flags with these bits.
    pub const fn new(bits: u8) -> Self {
        TraceFlags(bits)
    }

    /// All eight bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether the `sampled` bit is set.
    pub const fn is_sampled(self) -> bool {
        self.0 & Self::SAMPLED.0 != 0
    }

    /// These flags with the `sampled` bit set or cleared; the other bits are unchanged.
    pub const fn with_sampled(self, sampled: bool) -> Self {
        if sampled {
            TraceFlags(self.0 | Self::SAMPLED.0)
        } else {
            TraceFlags(self.0 & !Self::SAMPLED.0)
        }
    }
}

impl fmt::Display for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}", self.0)
    }
}

impl fmt::Debug for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceFlags({self})")
    }
}

/// A parsed `traceparent` header (W3C Trace Context Level 1, §3.2): which trace this work
/// belongs to, which span caused it, and whether that span is sampled.
///
/// Every value of this type is valid: both ids are non-zero by construction, so
/// [`Display`](fmt::Display) always yields a header that parses back to the same value.
///
/// ```
/// use ctxvars::propagation::TraceParent;
///
/// let tp: TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse()?;
/// assert!(tp.is_sampled());
/// assert_eq!(tp.parent_id.get(), 0x00f0_67aa_0ba9_02b7);
/// assert_eq!(tp.to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// # Ok::<(), ctxvars::propagation::ParseError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// The id of the whole trace.
    pub trace_id: TraceId,
    /// The id of the caller's span (the `parent-id` field).
    pub parent_id: SpanId,
    /// The trace flags.
    pub flags: TraceFlags,
}

impl TraceParent {
    /// The version this implementation emits: `00`.
    pub const VERSION: u8 = 0x00;

    /// A `traceparent` with these fields.
    pub const fn new(trace_id: TraceId, parent_id: SpanId, flags: TraceFlags) -> Self {
        TraceParent {
            trace_id,
            parent_id,
            flags,
        }
    }

    /// Whether the caller marked the trace as sampled.
    pub const fn is_sampled(&self) -> bool {
        self.flags.is_sampled()
    }
}

impl fmt::Display for TraceParent {
    /// The header value, always in version `00`:
    /// `00-<trace-id>-<parent-id>-<trace-flags>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02x}-{}-{}-{}",
            Self::VERSION,
            self.trace_id,
            self.parent_id,
            self.flags
        )
    }
}

impl FromStr for TraceParent {
    type Err = ParseError;

    /// Parses a header value strictly, as W3C Trace Context Level 1 §3.2 says:
    ///
    /// - every field is lower-case hex (`HEXDIGLC`) of exactly its length: version 2,
    ///   trace-id 32, parent-id 16, trace-flags 2, separated by single `-`;
    /// - version `ff` is forbidden; an all-zero trace-id or parent-id is invalid;
    /// - version `00` has exactly these four fields (55 bytes, nothing after the flags);
    /// - a later version (`01` to `fe`) is parsed by its first four fields: the flags must
    ///   end the value or be followed by `-`, and whatever follows is ignored. Only the
    ///   `sampled` bit of its flags is kept, since the other bits may mean something else
    ///   in that version. The result is emitted as version `00`.
    ///
    /// Surrounding whitespace is an error here; [`extract`](super::extract) trims the
    /// optional whitespace (`OWS`) HTTP allows around a header value before parsing.
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut fields = s.split('-');
        let version = fields
            .next()
            .and_then(lower_hex_u8)
            .ok_or(ParseError::InvalidVersion)?;
        if version == 0xff {
            return Err(ParseError::ForbiddenVersion);
        }
        let (Some(trace_id), Some(parent_id), Some(flags)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(ParseError::MissingTraceParentFields);
        };
        let trace_id: TraceId = trace_id.parse()?;
        let parent_id: SpanId = parent_id.parse()?;
        let flags = lower_hex_u8(flags).ok_or(ParseError::InvalidFlags)?;
        let flags = if version == Self::VERSION {
            if fields.next().is_some() {
                return Err(ParseError::ExtraTraceParentFields);
            }
            TraceFlags(flags)
        } else {
            TraceFlags(flags & TraceFlags::SAMPLED.0)
        };
        Ok(TraceParent {
            trace_id,
            parent_id,
            flags,
        })
    }
}

/// A parsed `tracestate` header (W3C Trace Context Level 1, §3.3): vendor-specific
/// `key=value` entries that travel with a [`TraceParent`], left-most first.
///
/// Values are opaque to this crate. Keys are unique; at most
/// [`MAX_MEMBERS`](Self::MAX_MEMBERS) entries are kept.
///
/// ```
/// use ctxvars::propagation::TraceState;
///
/// let mut state: TraceState = "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE".parse()?;
/// state.insert("congo", "ucfJifl5GOE")?; // an updated entry moves to the front
/// assert_eq!(state.to_string(), "congo=ucfJifl5GOE,rojo=00f067aa0ba902b7");
/// # Ok::<(), ctxvars::propagation::ParseError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TraceState {
    members: Vec<(String, String)>,
}

impl TraceState {
    /// The most entries a `tracestate` may hold: 32.
    pub const MAX_MEMBERS: usize = 32;

    /// An empty `tracestate`.
    pub const fn new() -> Self {
        TraceState {
            members: Vec::new(),
        }
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.members
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Adds or updates an entry and moves it to the front (left), as the specification
    /// requires of a vendor that updates its entry. If that makes more than
    /// [`MAX_MEMBERS`](Self::MAX_MEMBERS) entries, the right-most one is dropped.
    ///
    /// # Errors
    /// [`ParseError::InvalidTraceStateKey`] or [`ParseError::InvalidTraceStateValue`] if
    /// the key or value does not follow the specification's grammar.
    pub fn insert(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), ParseError> {
        let (key, value) = (key.into(), value.into());
        if !is_tracestate_key(&key) {
            return Err(ParseError::InvalidTraceStateKey);
        }
        if !is_tracestate_value(&value) {
            return Err(ParseError::InvalidTraceStateValue);
        }
        self.members.retain(|(k, _)| *k != key);
        self.members.insert(0, (key, value));
        self.members.truncate(Self::MAX_MEMBERS);
        Ok(())
    }

    /// Removes an entry and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let index = self.members.iter().position(|(k, _)| k == key)?;
        Some(self.members.remove(index).1)
    }

    /// The entries, left-most first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.members.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

impl fmt::Display for TraceState {
    /// The header value: `key=value` entries joined by `,`, without whitespace.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (key, value)) in self.members.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{key}={value}")?;
        }
        Ok(())
    }
}

impl FromStr for TraceState {
    type Err = ParseError;

    /// Parses a header value (several `tracestate` headers joined with `,` are one
    /// value). Empty and whitespace-only list-members are allowed and skipped, as the
    /// specification requires, so an empty string is an empty `tracestate`.
    ///
    /// The whole value is rejected when any entry is invalid, a key repeats, or there are
    /// more than [`MAX_MEMBERS`](Self::MAX_MEMBERS) entries: the specification says to
    /// discard such a `tracestate`.
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut members: Vec<(String, String)> = Vec::new();
        for member in s.split(',').map(trim_ows).filter(|m| !m.is_empty()) {
            let (key, value) = member
                .split_once('=')
                .ok_or(ParseError::TraceStateMissingEquals)?;
            if !is_tracestate_key(key) {
                return Err(ParseError::InvalidTraceStateKey);
            }
            if !is_tracestate_value(value) {
                return Err(ParseError::InvalidTraceStateValue);
            }
            if members.iter().any(|(k, _)| k == key) {
                return Err(ParseError::DuplicateTraceStateKey);
            }
            if members.len() == Self::MAX_MEMBERS {
                return Err(ParseError::TooManyTraceStateMembers);
            }
            members.push((key.to_owned(), value.to_owned()));
        }
        Ok(TraceState { members })
    }
}

/// `keychar` of the `tracestate` key grammar: `lcalpha / DIGIT / "_" / "-" / "*" / "/"`.
fn is_keychar(byte: u8) -> bool {
    byte.is_ascii_lowercase() || byte.is_ascii_digit() || matches!(byte, b'_' | b'-' | b'*' | b'/')
}

/// `first` followed by at most `max_rest` keychars.
fn is_key_part(part: &str, first: fn(u8) -> bool, max_rest: usize) -> bool {
    match part.as_bytes().split_first() {
        Some((&head, rest)) => {
            first(head) && rest.len() <= max_rest && rest.iter().all(|&b| is_keychar(b))
        }
        None => false,
    }
}

/// A `tracestate` key (Level 1):
///
/// ```abnf
/// key = simple-key / multi-tenant-key
/// simple-key = lcalpha 0*255( keychar )
/// multi-tenant-key = tenant-id "@" system-id
/// tenant-id = ( lcalpha / DIGIT ) 0*240( keychar )
/// system-id = lcalpha 0*13( keychar )
/// ```
fn is_tracestate_key(key: &str) -> bool {
    let lower = |b: u8| b.is_ascii_lowercase();
    match key.split_once('@') {
        None => is_key_part(key, lower, 255),
        Some((tenant, system)) => {
            is_key_part(
                tenant,
                |b| b.is_ascii_lowercase() || b.is_ascii_digit(),
                240,
            ) && is_key_part(system, lower, 13)
        }
    }
}

/// A `tracestate` value: 1 to 256 printable ASCII characters other than `,` and `=`, the
/// last not a space.
///
/// ```abnf
/// value    = 0*255(chr) nblk-chr
/// nblk-chr = %x21-2B / %x2D-3C / %x3E-7E
/// chr      = %x20 / nblk-chr
/// ```
fn is_tracestate_value(value: &str) -> bool {
    let chr = |b: u8| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=';
    match value.as_bytes().split_last() {
        Some((&last, _)) => value.len() <= 256 && last != b' ' && value.bytes().all(chr),
        None => false,
    }
}
