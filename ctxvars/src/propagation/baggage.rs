//! W3C Baggage: the `baggage` header.

use std::fmt::{self, Write as _};
use std::str::FromStr;

use super::{trim_ows, ParseError};

/// User-defined `key=value` pairs that travel with a request (W3C Baggage), in order.
///
/// Keys are unique: [`insert`](Self::insert) replaces the value of an existing key in
/// place, and parsing a header that repeats a key keeps the last value at the position
/// of the first (the specification allows deduplicating).
///
/// # Header format
/// `key=value` list-members joined by `,`, each optionally followed by `;`-separated
/// properties (`key=value;prop1;prop2=v`). Optional whitespace is allowed around `,`,
/// `;` and `=`. Keys are RFC 7230 tokens and are kept as written; values (also property
/// values) are percent-decoded when parsed and percent-encoded when formatted, so any
/// string can be a value.
///
/// # Limits
/// A header is at most [`MAX_BYTES`](Self::MAX_BYTES) (8192) bytes and
/// [`MAX_MEMBERS`](Self::MAX_MEMBERS) (180, the grammar's maximum) list-members. The
/// specification requires propagating at least 64 members and 8192 bytes, and allows
/// dropping members beyond its limits; see [`FromStr`](#impl-FromStr-for-Baggage),
/// [`parse_lossy`](Self::parse_lossy) and [`header_value`](Self::header_value) for
/// where each limit applies.
///
/// ```
/// use ctxvars::propagation::Baggage;
///
/// let baggage: Baggage = "userId=alice, serverNode = DF%2028;region=eu".parse()?;
/// assert_eq!(baggage.get("serverNode"), Some("DF 28"));
/// assert_eq!(baggage.to_string(), "userId=alice,serverNode=DF%2028;region=eu");
/// # Ok::<(), ctxvars::propagation::ParseError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Baggage {
    members: Vec<Member>,
}

impl Baggage {
    /// The largest `baggage` header parsed or emitted: 8192 bytes.
    pub const MAX_BYTES: usize = 8192;

    /// The most list-members a `baggage` header may hold: 180.
    pub const MAX_MEMBERS: usize = 180;

    /// An empty baggage.
    pub const fn new() -> Self {
        Baggage {
            members: Vec::new(),
        }
    }

    /// The (decoded) value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.member(key).map(Member::value)
    }

    /// The list-member with this key, with its properties.
    pub fn member(&self, key: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.key == key)
    }

    /// Sets `key` to `value` (without properties), replacing an existing member of that key
    /// in place; returns the replaced member.
    ///
    /// # Errors
    /// [`ParseError::InvalidBaggageKey`] if `key` is not an RFC 7230 token.
    pub fn insert(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Option<Member>, ParseError> {
        Ok(self.insert_member(Member::new(key, value)?))
    }

    /// Adds `member`, replacing an existing member of the same key in place; returns the
    /// replaced member.
    pub fn insert_member(&mut self, member: Member) -> Option<Member> {
        match self.members.iter_mut().find(|m| m.key == member.key) {
            Some(slot) => Some(std::mem::replace(slot, member)),
            None => {
                self.members.push(member);
                None
            }
        }
    }

    /// Removes the member with this key and returns it.
    pub fn remove(&mut self, key: &str) -> Option<Member> {
        let index = self.members.iter().position(|m| m.key == key)?;
        Some(self.members.remove(index))
    }

    /// The members, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Member> {
        self.members.iter()
    }

    /// How many members there are.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Parses a header value as a receiver should: list-members that are not valid are
    /// dropped and the others kept (as opentelemetry does; the specification allows
    /// removing invalid entries). Empty list-members are skipped, only the first
    /// [`MAX_MEMBERS`](Self::MAX_MEMBERS) list-members are looked at, and a value longer
    /// than [`MAX_BYTES`](Self::MAX_BYTES) is dropped whole, without being parsed.
    ///
    /// [`extract`](super::extract) uses this. For an error that says what is wrong, use
    /// [`FromStr`](#impl-FromStr-for-Baggage).
    pub fn parse_lossy(s: &str) -> Baggage {
        let mut baggage = Baggage::new();
        if s.len() > Self::MAX_BYTES {
            return baggage;
        }
        for member in s.split(',').take(Self::MAX_MEMBERS) {
            if let Ok(member) = parse_member(trim_ows(member)) {
                baggage.insert_member(member);
            }
        }
        baggage
    }

    /// The header value to send: like [`Display`](fmt::Display), but within the limits.
    /// Members that would take the value past [`MAX_BYTES`](Self::MAX_BYTES) bytes or
    /// [`MAX_MEMBERS`](Self::MAX_MEMBERS) members are left out (the specification allows
    /// dropping members beyond its limits); later, smaller members still go in.
    ///
    /// [`inject`](super::inject) uses this.
    pub fn header_value(&self) -> String {
        let mut header = String::new();
        let mut member = String::new();
        let mut count = 0;
        for m in &self.members {
            if count == Self::MAX_MEMBERS {
                break;
            }
            member.clear();
            // Writing to a `String` cannot fail.
            let _ = write!(member, "{m}");
            let separator = usize::from(count > 0);
            if header.len() + separator + member.len() <= Self::MAX_BYTES {
                if count > 0 {
                    header.push(',');
                }
                header.push_str(&member);
                count += 1;
            }
        }
        header
    }
}

impl fmt::Display for Baggage {
    /// The header value with every member, percent-encoded, joined by `,` without
    /// whitespace. The limits are not applied: see [`header_value`](Baggage::header_value).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, member) in self.members.iter().enumerate() {
            if i > 0 {
                f.write_char(',')?;
            }
            write!(f, "{member}")?;
        }
        Ok(())
    }
}

impl FromStr for Baggage {
    type Err = ParseError;

    /// Parses a header value strictly: any invalid or empty list-member fails the whole
    /// parse, as does a value longer than [`MAX_BYTES`](Baggage::MAX_BYTES) bytes or with
    /// more than [`MAX_MEMBERS`](Baggage::MAX_MEMBERS) list-members. An empty (or
    /// whitespace-only) value is an empty baggage.
    ///
    /// Percent-decoding follows the specification: invalid UTF-8 becomes U+FFFD; a `%`
    /// not followed by two hex digits is kept as a literal `%`.
    fn from_str(s: &str) -> Result<Self, ParseError> {
        if s.len() > Self::MAX_BYTES {
            return Err(ParseError::BaggageTooLong { len: s.len() });
        }
        let mut baggage = Baggage::new();
        if trim_ows(s).is_empty() {
            return Ok(baggage);
        }
        let count = s.split(',').count();
        if count > Self::MAX_MEMBERS {
            return Err(ParseError::TooManyBaggageMembers { count });
        }
        for member in s.split(',').map(trim_ows) {
            if member.is_empty() {
                return Err(ParseError::EmptyBaggageMember);
            }
            baggage.insert_member(parse_member(member)?);
        }
        Ok(baggage)
    }
}

impl<'a> IntoIterator for &'a Baggage {
    type Item = &'a Member;
    type IntoIter = std::slice::Iter<'a, Member>;

    fn into_iter(self) -> Self::IntoIter {
        self.members.iter()
    }
}

impl FromIterator<Member> for Baggage {
    /// Inserts each member in turn (a repeated key keeps the last value).
    fn from_iter<I: IntoIterator<Item = Member>>(iter: I) -> Self {
        let mut baggage = Baggage::new();
        baggage.extend(iter);
        baggage
    }
}

impl Extend<Member> for Baggage {
    fn extend<I: IntoIterator<Item = Member>>(&mut self, iter: I) {
        for member in iter {
            self.insert_member(member);
        }
    }
}

/// One `key=value` list-member of a [`Baggage`], with its properties.
///
/// The key is always a valid RFC 7230 token; the value is the decoded string.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Member {
    key: String,
    value: String,
    properties: Vec<Property>,
}

impl Member {
    /// A member without properties.
    ///
    /// # Errors
    /// [`ParseError::InvalidBaggageKey`] if `key` is not an RFC 7230 token.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Result<Self, ParseError> {
        let key = key.into();
        if !is_token(&key) {
            return Err(ParseError::InvalidBaggageKey);
        }
        Ok(Member {
            key,
            value: value.into(),
            properties: Vec::new(),
        })
    }

    /// This member with `property` appended.
    #[must_use]
    pub fn with_property(mut self, property: Property) -> Self {
        self.properties.push(property);
        self
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The value, decoded.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The properties, in order.
    pub fn properties(&self) -> &[Property] {
        &self.properties
    }
}

impl fmt::Display for Member {
    /// `key=value;prop1;prop2=value2`, values percent-encoded.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)?;
        f.write_char('=')?;
        write_encoded(f, &self.value)?;
        for property in &self.properties {
            write!(f, ";{property}")?;
        }
        Ok(())
    }
}

/// One property of a baggage [`Member`]: a key, or a `key=value` pair. The specification
/// gives properties no meaning.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Property {
    key: String,
    value: Option<String>,
}

impl Property {
    /// A `key=value` property.
    ///
    /// # Errors
    /// [`ParseError::InvalidBaggageProperty`] if `key` is not an RFC 7230 token.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Result<Self, ParseError> {
        Self::build(key.into(), Some(value.into()))
    }

    /// A property that is only a key.
    ///
    /// # Errors
    /// [`ParseError::InvalidBaggageProperty`] if `key` is not an RFC 7230 token.
    pub fn key_only(key: impl Into<String>) -> Result<Self, ParseError> {
        Self::build(key.into(), None)
    }

    fn build(key: String, value: Option<String>) -> Result<Self, ParseError> {
        if is_token(&key) {
            Ok(Property { key, value })
        } else {
            Err(ParseError::InvalidBaggageProperty)
        }
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The value, decoded, if the property has one.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }
}

impl fmt::Display for Property {
    /// `key` or `key=value`, the value percent-encoded.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)?;
        if let Some(value) = &self.value {
            f.write_char('=')?;
            write_encoded(f, value)?;
        }
        Ok(())
    }
}

/// Parses one list-member, already trimmed of surrounding OWS:
/// `key OWS "=" OWS value *( OWS ";" OWS property )`.
fn parse_member(s: &str) -> Result<Member, ParseError> {
    if s.is_empty() {
        return Err(ParseError::EmptyBaggageMember);
    }
    let mut parts = s.split(';');
    let (key, value) = parts
        .next()
        .and_then(|pair| pair.split_once('='))
        .ok_or(ParseError::BaggageMissingEquals)?;
    let (key, value) = (trim_ows(key), trim_ows(value));
    if !is_token(key) {
        return Err(ParseError::InvalidBaggageKey);
    }
    if !value.bytes().all(is_baggage_octet) {
        return Err(ParseError::InvalidBaggageValue);
    }
    let properties = parts.map(parse_property).collect::<Result<_, _>>()?;
    Ok(Member {
        key: key.to_owned(),
        value: percent_decode(value),
        properties,
    })
}

/// Parses one property: `key OWS "=" OWS value` or `key OWS` (with OWS around it).
fn parse_property(s: &str) -> Result<Property, ParseError> {
    let (key, value) = match s.split_once('=') {
        Some((key, value)) => (key, Some(trim_ows(value))),
        None => (s, None),
    };
    let key = trim_ows(key);
    if !is_token(key) || !value.unwrap_or("").bytes().all(is_baggage_octet) {
        return Err(ParseError::InvalidBaggageProperty);
    }
    Ok(Property {
        key: key.to_owned(),
        value: value.map(percent_decode),
    })
}

/// An RFC 7230 §3.2.6 `token`: one or more `tchar`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// `baggage-octet`: printable US-ASCII except `"`, `,`, `;` and `\`.
fn is_baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// Writes `s` percent-encoded: every byte that is not a `baggage-octet` (so every
/// non-ASCII byte), and also `%` (the escape character) and `=` (which naive parsers take
/// for the key/value separator), becomes `%XY`.
fn write_encoded(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    for byte in s.bytes() {
        if is_baggage_octet(byte) && byte != b'%' && byte != b'=' {
            f.write_char(char::from(byte))?;
        } else {
            write!(f, "%{byte:02X}")?;
        }
    }
    Ok(())
}

/// The value of a hex digit of either case.
fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `s` (RFC 3986 §2.1). Decoded bytes that are not UTF-8 become U+FFFD,
/// as the specification requires; a `%` not followed by two hex digits stays as it is.
fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let mut bytes = Vec::with_capacity(s.len());
    let mut rest = s.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            if let [high, low, after @ ..] = tail {
                if let (Some(high), Some(low)) = (hex_digit(*high), hex_digit(*low)) {
                    bytes.push(high << 4 | low);
                    rest = after;
                    continue;
                }
            }
        }
        bytes.push(byte);
        rest = tail;
    }
    match String::from_utf8(bytes) {
        Ok(decoded) => decoded,
        Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
    }
}
