use crate::registry::declare_rule;

declare_rule! {
    /// ## What it does
    /// Reports a `ctxlint: ignore[...]` or `ignore-file[...]` comment that suppresses no
    /// finding of a rule that ran.
    ///
    /// ## Why is this bad?
    /// A stale suppression hides the next real finding on that line. Suppressions should
    /// exist only where a rule actually fires and a reviewer agreed it is a false alarm.
    ///
    /// ## Example
    /// ```rust
    /// // ctxlint: ignore[CTX003] the pool propagates context
    /// let total = a + b;
    /// ```
    ///
    /// Use instead:
    /// ```rust
    /// let total = a + b;
    /// ```
    pub(crate) struct UnusedSuppression {
        code: "CTX100",
        name: "unused-suppression",
        severity: Warning,
    }
}
