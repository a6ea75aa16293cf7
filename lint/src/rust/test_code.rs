//! Recognising test code, which several rules leave alone: tests set up contexts on
//! purpose to check what propagates, and run on one thread.

/// Whether a file is test code by its path: integration tests (`tests/`), test helpers
/// (`test_helpers.rs`, `test_util/`, `testing.rs`), `foo_test.rs`.
pub(crate) fn is_test_path(path: &std::path::Path) -> bool {
    path.components().any(|part| {
        let part = part.as_os_str().to_string_lossy();
        let stem = part.strip_suffix(".rs").unwrap_or(&part);
        matches!(stem, "test" | "tests" | "testing")
            || stem.starts_with("test_")
            || stem.ends_with("_test")
            || stem.ends_with("_tests")
    })
}

/// `#[cfg(test)]` (also inside `all(..)`, not `not(test)` or `any(..)`).
pub(crate) fn is_cfg_test(attr: &syn::Attribute) -> bool {
    fn scan(tokens: proc_macro2::TokenStream, test: &mut bool) -> bool {
        for token in tokens {
            match token {
                proc_macro2::TokenTree::Ident(ident) if ident == "not" || ident == "any" => {
                    return false;
                }
                proc_macro2::TokenTree::Ident(ident) => *test |= ident == "test",
                proc_macro2::TokenTree::Group(group) if !scan(group.stream(), test) => {
                    return false;
                }
                _ => {}
            }
        }
        true
    }
    if !attr.path().is_ident("cfg") {
        return false;
    }
    let syn::Meta::List(list) = &attr.meta else {
        return false;
    };
    let mut test = false;
    scan(list.tokens.clone(), &mut test) && test
}
