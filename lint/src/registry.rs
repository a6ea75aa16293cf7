//! The rule table: every rule's code, name, severity and documentation, in one place.
//! Codes are never reused or renumbered.

use std::fmt;
use std::str::FromStr;

use crate::rules;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Likely a real bug, or something stopped the file from being checked.
    Error,
    /// Worth a look; the rule is a heuristic or the finding is about ctxlint itself.
    Warning,
}

impl Severity {
    /// `"error"` or `"warning"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// What `declare_rule!` records about a rule.
#[derive(Debug)]
pub struct RuleInfo {
    /// `CTX001`.
    pub code: &'static str,
    /// `set-without-reset`.
    pub name: &'static str,
    /// The default severity of its findings.
    pub severity: Severity,
    /// The rule's doc comment, exactly as written (each line keeps its leading space).
    pub doc: &'static str,
}

/// Declares a rule struct whose doc comment becomes the text `ctxlint rule` prints.
///
/// The doc is kept as data rather than re-emitted as rustdoc: its examples are fragments
/// of users' code, not doctests.
macro_rules! declare_rule {
    (
        $(#[doc = $doc:literal])*
        $vis:vis struct $rule:ident {
            code: $code:literal,
            name: $name:literal,
            severity: $severity:ident $(,)?
        }
    ) => {
        #[doc = concat!("The `", $name, "` rule; see `ctxlint rule ", $code, "`.")]
        $vis struct $rule;

        impl $rule {
            pub(crate) const INFO: $crate::registry::RuleInfo = $crate::registry::RuleInfo {
                code: $code,
                name: $name,
                severity: $crate::registry::Severity::$severity,
                doc: concat!($($doc, "\n"),*),
            };
        }
    };
}
pub(crate) use declare_rule;

macro_rules! rule_table {
    ($($variant:ident => $info:expr,)*) => {
        /// A ctxlint rule.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Rule {
            $(
                #[allow(missing_docs)]
                $variant,
            )*
        }

        impl Rule {
            /// Every rule, in code order.
            pub const ALL: &'static [Rule] = &[$(Rule::$variant),*];

            fn info(self) -> &'static RuleInfo {
                match self {
                    $(Rule::$variant => &$info,)*
                }
            }
        }
    };
}

rule_table! {
    SyntaxError => rules::syntax_error::SyntaxError::INFO,
    SetWithoutReset => rules::set_without_reset::SetWithoutReset::INFO,
    ThreadLocalInAsync => rules::thread_local_in_async::ThreadLocalInAsync::INFO,
    UnpropagatedSpawn => rules::unpropagated_spawn::UnpropagatedSpawn::INFO,
    GuardAcrossAwait => rules::guard_across_await::GuardAcrossAwait::INFO,
    SharedContextRun => rules::shared_context_run::SharedContextRun::INFO,
    MutableContextValue => rules::mutable_context_value::MutableContextValue::INFO,
    UnusedSuppression => rules::unused_suppression::UnusedSuppression::INFO,
}

impl Rule {
    /// `CTX001`.
    pub fn code(self) -> &'static str {
        self.info().code
    }

    /// `set-without-reset`.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The default severity of the rule's findings.
    pub fn severity(self) -> Severity {
        self.info().severity
    }

    /// The rule's documentation (What it does / Why is this bad? / Example / Use instead).
    pub fn doc(self) -> String {
        let doc = self.info().doc;
        // Doc comments carry the space after `///`; drop exactly that one.
        doc.lines()
            .map(|line| line.strip_prefix(' ').unwrap_or(line))
            .collect::<Vec<_>>()
            .join("\n")
            .trim_end()
            .to_string()
    }

    /// Where the rule's documentation is published (its heading in `docs/rules.md`).
    pub fn url(self) -> String {
        format!(
            "https://github.com/ctxlint/ctxlint/blob/main/docs/rules.md#{}-{}",
            self.code().to_ascii_lowercase(),
            self.name()
        )
    }

    /// The first sentence of "What it does".
    pub fn summary(self) -> String {
        let doc = self.doc();
        let body = doc.split("## What it does").nth(1).unwrap_or(&doc);
        let paragraph = body
            .trim()
            .split("\n\n")
            .next()
            .unwrap_or("")
            .replace('\n', " ");
        match paragraph.find(". ") {
            Some(end) => paragraph[..=end].to_string(),
            None => paragraph,
        }
    }
}

/// The Markdown rules table for the README: code, name, severity, what it finds.
pub fn rules_table() -> String {
    let mut table = String::from("| Code | Name | Severity | What it finds |\n|---|---|---|---|\n");
    for rule in Rule::ALL {
        table.push_str(&format!(
            "| [{}]({}) | `{}` | {} | {} |\n",
            rule.code(),
            rule.url(),
            rule.name(),
            rule.severity().as_str(),
            rule.summary()
        ));
    }
    table
}

/// Every rule's documentation as one Markdown page (`docs/rules.md`).
pub fn rules_page() -> String {
    let mut page = String::from("# ctxlint rules\n\nGenerated from the rules' doc comments (`ctxlint rule --all`); do not edit by hand.\n");
    for rule in Rule::ALL {
        // Headings inside a rule move one level down under the rule's own heading.
        let doc = rule.doc().replace("\n## ", "\n### ");
        let doc = doc
            .strip_prefix("## ")
            .map(|rest| format!("### {rest}"))
            .unwrap_or(doc);
        page.push_str(&format!("\n## {}: {}\n\n{doc}\n", rule.code(), rule.name()));
    }
    page
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A code or name that names no rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownRule(pub String);

impl fmt::Display for UnknownRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown rule `{}` (see `ctxlint rule --all`)", self.0)
    }
}

impl std::error::Error for UnknownRule {}

impl FromStr for Rule {
    type Err = UnknownRule;

    /// Accepts a code (`CTX001`, any case) or a name (`set-without-reset`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        Rule::ALL
            .iter()
            .copied()
            .find(|rule| rule.code().eq_ignore_ascii_case(text) || rule.name() == text)
            .ok_or_else(|| UnknownRule(text.to_string()))
    }
}

/// A set of rules (a bit set over `Rule::ALL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RuleSet(u64);

impl RuleSet {
    /// No rules.
    pub const EMPTY: RuleSet = RuleSet(0);

    /// Every rule.
    pub fn all() -> Self {
        Rule::ALL.iter().copied().collect()
    }

    /// Whether `rule` is in the set.
    pub fn contains(self, rule: Rule) -> bool {
        self.0 & (1 << rule as u64) != 0
    }

    /// Adds `rule`.
    pub fn insert(&mut self, rule: Rule) {
        self.0 |= 1 << rule as u64;
    }

    /// Removes `rule`.
    pub fn remove(&mut self, rule: Rule) {
        self.0 &= !(1 << rule as u64);
    }

    /// Whether no rule is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The rules in the set, in code order.
    pub fn iter(self) -> impl Iterator<Item = Rule> {
        Rule::ALL
            .iter()
            .copied()
            .filter(move |rule| self.contains(*rule))
    }
}

impl FromIterator<Rule> for RuleSet {
    fn from_iter<I: IntoIterator<Item = Rule>>(rules: I) -> Self {
        let mut set = RuleSet::EMPTY;
        for rule in rules {
            set.insert(rule);
        }
        set
    }
}

/// Parses a comma list of codes or names; `ALL` selects every rule.
pub fn parse_rule_list(list: &str) -> Result<RuleSet, UnknownRule> {
    let mut set = RuleSet::EMPTY;
    for item in list
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        if item.eq_ignore_ascii_case("ALL") {
            set = RuleSet::all();
        } else {
            set.insert(item.parse()?);
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_are_unique_and_parse_back() {
        for rule in Rule::ALL {
            assert_eq!(rule.code().parse::<Rule>(), Ok(*rule));
            assert_eq!(rule.name().parse::<Rule>(), Ok(*rule));
            let others = Rule::ALL.iter().filter(|other| *other != rule);
            for other in others {
                assert_ne!(rule.code(), other.code());
                assert_ne!(rule.name(), other.name());
            }
        }
    }

    #[test]
    fn every_rule_doc_has_the_required_sections() {
        for rule in Rule::ALL {
            let doc = rule.doc();
            for heading in [
                "## What it does",
                "## Why is this bad?",
                "## Example",
                "Use instead:",
            ] {
                assert!(doc.contains(heading), "{} lacks `{heading}`", rule.code());
            }
        }
    }

    #[test]
    fn rule_lists_accept_codes_names_and_all() {
        let set = parse_rule_list("ctx001, thread-local-in-async").unwrap();
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [Rule::SetWithoutReset, Rule::ThreadLocalInAsync]
        );
        assert_eq!(parse_rule_list("ALL").unwrap(), RuleSet::all());
        assert_eq!(parse_rule_list("CTX999"), Err(UnknownRule("CTX999".into())));
    }
}
