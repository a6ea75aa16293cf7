use crate::registry::declare_rule;

declare_rule! {
    /// ## What it does
    /// Reports a file ctxlint could not check: it cannot be read, is not UTF-8, does not
    /// parse, nests deeper than a parser can follow, or made ctxlint fail internally.
    ///
    /// ## Why is this bad?
    /// No other rule ran on the file, so its context bugs are invisible. The run goes on
    /// with the other files; this finding makes sure the gap is not silent.
    ///
    /// ## Example
    /// ```rust
    /// fn handler( {
    /// ```
    ///
    /// Use instead:
    /// ```rust
    /// fn handler() {}
    /// ```
    pub(crate) struct SyntaxError {
        code: "CTX000",
        name: "syntax-error",
        severity: Error,
    }
}
