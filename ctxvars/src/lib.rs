//! Python's `contextvars` (PEP 567) for Rust.
//!
//! Request ids, trace ids and baggage belong to a *request*, not to a thread: a
//! thread-local set by one request is seen by the next request on that thread, and a
//! value set before spawning work is lost on the pool thread that runs it. A
//! [`ContextVar`] is read and written through the **current context**; work carries its
//! context across threads, pools and tasks as a cheap [`Context`] snapshot.
//!
//! ```
//! use ctxvars::{ContextFutureExt, ContextVar, Context};
//!
//! static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
//!
//! let token = REQUEST_ID.set("req-8842".to_string());
//! // Work handed to another thread runs in a snapshot of this context.
//! let seen = ctxvars::thread::spawn(|| REQUEST_ID.get()).join().unwrap();
//! assert_eq!(seen.as_deref(), Some("req-8842"));
//! REQUEST_ID.reset(token).unwrap();
//! assert_eq!(REQUEST_ID.get(), None);
//! ```
//!
//! The semantics are CPython's: `set` returns a [`Token`] for [`ContextVar::reset`],
//! [`copy_context`] snapshots, [`Context::run`] runs code inside a context and keeps its
//! changes there. The Rust API adds what Python cannot check: [`ContextVar::scope`] and
//! [`ContextVar::set_guard`] restore on every exit, and a `Context` cannot be entered
//! twice at once.
//!
//! # Features
//! - `tokio`: [`tokio::spawn`] and [`tokio::spawn_blocking`] carry the caller's context.
//! - `tracing`: a `tracing_subscriber` layer that writes one JSON object per event with
//!   every registered context variable ([`logging`]).
#![deny(missing_docs)]

mod context;
mod current;
#[cfg(loom)]
#[doc(hidden)]
pub mod mutant;
mod spawn;
mod sync;
mod value;
mod var;

pub mod propagation;

#[cfg(feature = "tracing")]
pub mod logging;

#[cfg(feature = "tokio")]
pub mod tokio;

pub use context::{copy_context, Context};
pub use spawn::{propagate, thread, ContextFutureExt, WithContext};
pub use var::{ContextVar, Token, TokenError, VarGuard};
