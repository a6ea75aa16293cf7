//! Carriers: where headers are written to and read from.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fmt;
use std::hash::BuildHasher;
use std::process::Command;

/// Something headers can be written to: an outgoing request's header map, a message's
/// metadata, a child process's environment. Used by [`inject`](super::inject).
///
/// Keys are passed in lower case (`traceparent`, `tracestate`, `baggage`).
pub trait Injector {
    /// Sets the header `key` to `value`, replacing any previous value.
    fn set(&mut self, key: &str, value: String);
}

/// Something headers can be read from: an incoming request's header map, a message's
/// metadata, this process's environment. Used by [`extract`](super::extract).
///
/// Keys are passed in lower case (`traceparent`, `tracestate`, `baggage`). Header names
/// are case-insensitive, so an implementation should find a key whatever its case.
/// A carrier that holds several values for one key should join them with `,` (as HTTP
/// does, RFC 7230 §3.2.2).
pub trait Extractor {
    /// The value of the header `key`, if present.
    fn get(&self, key: &str) -> Option<&str>;
}

impl<T: Injector + ?Sized> Injector for &mut T {
    fn set(&mut self, key: &str, value: String) {
        (**self).set(key, value);
    }
}

impl<T: Extractor + ?Sized> Extractor for &T {
    fn get(&self, key: &str) -> Option<&str> {
        (**self).get(key)
    }
}

impl<S: BuildHasher> Injector for HashMap<String, String, S> {
    /// Inserts under the lower-cased key, removing entries whose key differs only in case.
    fn set(&mut self, key: &str, value: String) {
        let key = key.to_ascii_lowercase();
        self.retain(|k, _| *k == key || !k.eq_ignore_ascii_case(&key));
        self.insert(key, value);
    }
}

impl<S: BuildHasher> Extractor for HashMap<String, String, S> {
    /// The entry with exactly this key; otherwise the only entry whose key equals it
    /// ignoring ASCII case. Several such entries are ambiguous (like duplicated headers)
    /// and give `None`.
    fn get(&self, key: &str) -> Option<&str> {
        if let Some(value) = HashMap::get(self, key) {
            return Some(value);
        }
        let mut matches = self
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str());
        match (matches.next(), matches.next()) {
            (Some(value), None) => Some(value),
            _ => None,
        }
    }
}

impl Injector for Command {
    /// Sets the environment variable [`env_var_name(key)`](env_var_name) (`TRACEPARENT`,
    /// `TRACESTATE`, `BAGGAGE`) for the child process, the OpenTelemetry convention for
    /// carrying context through environment variables. The child reads it back with
    /// [`EnvCarrier::from_env`].
    fn set(&mut self, key: &str, value: String) {
        self.env(env_var_name(key), value);
    }
}

/// The environment variable that carries the header `key`, normalized as the
/// OpenTelemetry specification for environment-variable carriers says: ASCII letters
/// upper-cased, every other character that is not an ASCII digit or `_` replaced by `_`,
/// a `_` prefixed if the name would start with a digit, and `_` for an empty key.
///
/// ```
/// use ctxvars::propagation::env_var_name;
///
/// assert_eq!(env_var_name("traceparent"), "TRACEPARENT");
/// assert_eq!(env_var_name("x-b3-traceid"), "X_B3_TRACEID");
/// assert_eq!(env_var_name("3rd.party"), "_3RD_PARTY");
/// ```
pub fn env_var_name(key: &str) -> String {
    let mut name = String::with_capacity(key.len() + 1);
    if key.is_empty() || key.starts_with(|c: char| c.is_ascii_digit()) {
        name.push('_');
    }
    name.extend(key.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        }
    }));
    name
}

/// Environment variables as a carrier: the way context crosses into a child process,
/// since a [`Context`](crate::Context) does not cross processes by itself.
///
/// Keys are mapped to variable names by [`env_var_name`] (`traceparent` is read from
/// `TRACEPARENT`). [`from_env`](Self::from_env) takes a snapshot of this process's
/// environment to [`extract`](super::extract) from; as an [`Injector`] it collects
/// variables to hand to a child, e.g. with [`Command::envs`] (or inject into the
/// [`Command`] directly).
///
/// `Debug` shows the variable names only, never the values.
///
/// ```no_run
/// use ctxvars::propagation::{extract, EnvCarrier};
///
/// // In the child process: continue the parent's trace.
/// let mut cx = extract(&EnvCarrier::from_env());
/// cx.run(|| { /* TRACE_PARENT and BAGGAGE are the parent's here */ });
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EnvCarrier {
    vars: BTreeMap<String, String>,
}

impl EnvCarrier {
    /// An empty carrier (no variables).
    pub fn new() -> Self {
        EnvCarrier::default()
    }

    /// A snapshot of this process's environment. Variables whose name or value is not
    /// valid Unicode are left out.
    pub fn from_env() -> Self {
        Self::from_vars(std::env::vars_os())
    }

    /// A carrier holding these variables (e.g. a child's prepared environment).
    /// Pairs whose name or value is not valid Unicode are left out.
    pub fn from_vars<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let vars = vars
            .into_iter()
            .filter_map(|(k, v)| Some((k.into().into_string().ok()?, v.into().into_string().ok()?)))
            .collect();
        EnvCarrier { vars }
    }

    /// The variables, as `(name, value)` pairs sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl Extractor for EnvCarrier {
    /// The variable [`env_var_name(key)`](env_var_name).
    fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(&env_var_name(key)).map(String::as_str)
    }
}

impl Injector for EnvCarrier {
    /// Sets the variable [`env_var_name(key)`](env_var_name).
    fn set(&mut self, key: &str, value: String) {
        self.vars.insert(env_var_name(key), value);
    }
}

impl fmt::Debug for EnvCarrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvCarrier")
            .field("vars", &self.vars.keys())
            .finish()
    }
}
