//! Recognising Rust test code inside a file (`#[cfg(test)]`); test files by path are
//! `crate::test_paths`.

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
