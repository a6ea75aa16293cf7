//! Recognising the calls that change the current context, shared by the rules that check
//! whether those changes are undone (CTX001) or held across an `.await` (CTX004).

use crate::rust::FileIndex;

/// A call whose result is a guard that keeps a context entered until it is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GuardKind {
    /// `span.enter()` (tracing).
    SpanEnter,
    /// `cx.attach()` / `Context::attach(cx)` (opentelemetry).
    ContextAttach,
    /// `tracing::dispatcher::set_default` / `tracing::subscriber::set_default`.
    DefaultDispatcher,
    /// `var.set_guard(value)` (ctxvars).
    VarGuard,
}

impl GuardKind {
    /// How the guard is described in messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            GuardKind::SpanEnter => "span guard",
            GuardKind::ContextAttach => "opentelemetry context guard",
            GuardKind::DefaultDispatcher => "default-dispatcher guard",
            GuardKind::VarGuard => "`VarGuard`",
        }
    }
}

/// The guard `expr` makes, if it is a guard-making call.
pub(crate) fn guard_call(expr: &syn::Expr, index: &FileIndex) -> Option<GuardKind> {
    match expr {
        // `enter()` borrows the span; `entered()` consumes it into an `EnteredSpan`.
        syn::Expr::MethodCall(call)
            if call.args.is_empty() && (call.method == "enter" || call.method == "entered") =>
        {
            (!is_runtime_handle(&call.receiver)).then_some(GuardKind::SpanEnter)
        }
        syn::Expr::MethodCall(call) if call.args.is_empty() && call.method == "attach" => {
            Some(GuardKind::ContextAttach)
        }
        syn::Expr::MethodCall(call) if call.args.len() == 1 && call.method == "set_guard" => {
            Some(GuardKind::VarGuard)
        }
        syn::Expr::Call(call) => {
            let syn::Expr::Path(function) = &*call.func else {
                return None;
            };
            let path = index.resolve(&function.path);
            if path.ends_with("dispatcher::set_default")
                || path.ends_with("subscriber::set_default")
            {
                Some(GuardKind::DefaultDispatcher)
            } else if path.ends_with("Context::attach") {
                Some(GuardKind::ContextAttach)
            } else {
                None
            }
        }
        syn::Expr::Paren(inner) => guard_call(&inner.expr, index),
        _ => None,
    }
}

/// `handle.enter()`, `rt2.enter()`, `LocalSet::new().enter()`: tokio's runtime guards are
/// not contexts. The receiver's name (or the type it is made from) tells them apart.
pub(crate) fn is_runtime_handle(receiver: &syn::Expr) -> bool {
    let name = match receiver {
        syn::Expr::Path(path) => path.path.segments.last().map(|s| s.ident.to_string()),
        syn::Expr::Field(field) => match &field.member {
            syn::Member::Named(ident) => Some(ident.to_string()),
            syn::Member::Unnamed(_) => None,
        },
        // `Handle::current().enter()`, `Runtime::new().unwrap().enter()`: the type's name.
        syn::Expr::Call(call) => match &*call.func {
            syn::Expr::Path(path) => path
                .path
                .segments
                .iter()
                .rev()
                .nth(1)
                .map(|s| s.ident.to_string()),
            _ => None,
        },
        syn::Expr::MethodCall(call) => return is_runtime_handle(&call.receiver),
        syn::Expr::Reference(reference) => return is_runtime_handle(&reference.expr),
        syn::Expr::Paren(inner) => return is_runtime_handle(&inner.expr),
        _ => None,
    };
    let Some(name) = name else { return false };
    let name = name.to_ascii_lowercase();
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
    matches!(
        stem,
        "h" | "rt" | "runtime" | "handle" | "local" | "local_set" | "localset" | "localruntime"
    ) || ["rt_", "runtime_", "handle_", "local_set_"]
        .iter()
        .any(|prefix| stem.starts_with(prefix))
        || ["_rt", "_runtime", "_handle"]
            .iter()
            .any(|suffix| stem.ends_with(suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(code: &str) -> Option<GuardKind> {
        let index = FileIndex::build(
            &syn::parse_file("use tracing::subscriber;").unwrap(),
            Default::default(),
        );
        guard_call(&syn::parse_str(code).unwrap(), &index)
    }

    #[test]
    fn guard_making_calls_are_recognised() {
        assert_eq!(kind("span.enter()"), Some(GuardKind::SpanEnter));
        assert_eq!(
            kind("info_span!(\"x\").enter()"),
            Some(GuardKind::SpanEnter)
        );
        assert_eq!(kind("cx.attach()"), Some(GuardKind::ContextAttach));
        assert_eq!(
            kind("subscriber::set_default(sub)"),
            Some(GuardKind::DefaultDispatcher)
        );
        assert_eq!(kind("REQUEST_ID.set_guard(id)"), Some(GuardKind::VarGuard));
    }

    #[test]
    fn runtime_handles_and_other_calls_are_not_guards() {
        assert_eq!(kind("handle.enter()"), None);
        assert_eq!(kind("Handle::current().enter()"), None);
        assert_eq!(kind("self.rt.enter()"), None);
        assert_eq!(kind("rt2.enter()"), None);
        assert_eq!(kind("LocalSet::new().enter()"), None);
        assert_eq!(kind("Runtime::new().unwrap().enter()"), None);
        assert_eq!(kind("span.in_scope(f)"), None);
        assert_eq!(kind("set_default(x)"), None);
    }
}
