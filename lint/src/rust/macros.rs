//! Seeing inside macro invocations: rules check the code in `vec![..]`, `format!(..)`,
//! `join!(..)` or a custom block macro wherever its tokens parse as Rust.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use syn::parse::Parser;
use syn::punctuated::Punctuated;

type Bodies = HashMap<usize, Option<Rc<Vec<syn::Stmt>>>>;

thread_local! {
    /// While one file is checked: its macro bodies parsed so far, by the offset of the
    /// macro's opening delimiter. Every rule looks into the same macros; once is enough.
    static BODIES: RefCell<Option<Bodies>> = const { RefCell::new(None) };
}

/// The statements a macro call's tokens parse as: a comma-separated list of expressions
/// (`vec!`, `format!`, `join!`), else a block body. `None` when they are neither.
pub(crate) fn macro_body(mac: &syn::Macro) -> Option<Rc<Vec<syn::Stmt>>> {
    let key = mac.delimiter.span().open().byte_range().start;
    let cached = BODIES.with(|bodies| {
        bodies
            .borrow()
            .as_ref()
            .and_then(|bodies| bodies.get(&key).cloned())
    });
    if let Some(body) = cached {
        return body;
    }
    let body = parse_body(mac).map(Rc::new);
    BODIES.with(|bodies| {
        if let Some(bodies) = bodies.borrow_mut().as_mut() {
            bodies.insert(key, body.clone());
        }
    });
    body
}

/// Runs `check` (all rules on one file) with macro bodies cached; offsets identify a macro
/// only within one file, so the cache lives exactly as long as this call.
pub(crate) fn with_cache<R>(check: impl FnOnce() -> R) -> R {
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            BODIES.with(|bodies| bodies.borrow_mut().take());
        }
    }
    BODIES.with(|bodies| *bodies.borrow_mut() = Some(Bodies::new()));
    let _clear = Clear;
    check()
}

fn parse_body(mac: &syn::Macro) -> Option<Vec<syn::Stmt>> {
    let exprs =
        Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated.parse2(mac.tokens.clone());
    if let Ok(exprs) = exprs {
        return Some(
            exprs
                .into_iter()
                .map(|expr| syn::Stmt::Expr(expr, None))
                .collect(),
        );
    }
    syn::Block::parse_within.parse2(mac.tokens.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: &str) -> Option<usize> {
        let mac: syn::Macro = syn::parse_str(code).unwrap();
        macro_body(&mac).map(|stmts| stmts.len())
    }

    #[test]
    fn expression_lists_and_blocks_parse_other_tokens_do_not() {
        assert_eq!(body(r#"format!("{} {}", a, b.await)"#), Some(3));
        assert_eq!(body("my_block! { let x = 1; f(x).await; }"), Some(2));
        assert_eq!(body("select! { v = rx.recv() => handle(v), }"), None);
    }
}
