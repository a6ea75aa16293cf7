//! Seeing inside macro invocations: rules check the code in `vec![..]`, `format!(..)`,
//! `join!(..)` or a custom block macro wherever its tokens parse as Rust.

use syn::parse::Parser;
use syn::punctuated::Punctuated;

/// The statements a macro call's tokens parse as: a comma-separated list of expressions
/// (`vec!`, `format!`, `join!`), else a block body. `None` when they are neither.
pub(crate) fn macro_body(mac: &syn::Macro) -> Option<Vec<syn::Stmt>> {
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
