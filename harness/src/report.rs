//! The outcome of a run of checks, printable as a table.

use std::fmt;

/// The outcome of every check, in the order they ran.
///
/// `Display` prints a Markdown table (check | result | detail) that also reads well as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// One entry per check.
    pub checks: Vec<CheckResult>,
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// The check's name, for example `"isolation"`.
    pub name: &'static str,
    /// Whether the executor passed it.
    pub passed: bool,
    /// For a pass, what was verified. For a failure, what went wrong, naming the first
    /// offending job.
    pub detail: String,
}

impl Report {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|check| check.passed)
    }

    /// The names of the failed checks, in the order they ran.
    pub fn failed(&self) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|check| !check.passed)
            .map(|check| check.name)
            .collect()
    }

    /// Panics with the whole table if any check failed, so the test output shows every
    /// failure, not only the first.
    #[track_caller]
    pub fn assert_ok(&self) {
        if !self.passed() {
            panic!(
                "the executor failed {} of {} context checks:\n{self}",
                self.failed().len(),
                self.checks.len()
            );
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<[&str; 3]> = self
            .checks
            .iter()
            .map(|check| {
                let result = if check.passed { "pass" } else { "FAIL" };
                [check.name, result, check.detail.as_str()]
            })
            .collect();
        let header = ["check", "result", "detail"];
        let mut widths = header.map(str::len);
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.len());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: [&str; 3]| {
            for (cell, width) in cells.iter().zip(widths) {
                write!(f, "| {cell:width$} ")?;
            }
            writeln!(f, "|")
        };
        line(f, header)?;
        for width in widths {
            write!(f, "|{}", "-".repeat(width + 2))?;
        }
        writeln!(f, "|")?;
        for row in rows {
            line(f, row)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            checks: vec![
                CheckResult {
                    name: "propagation",
                    passed: true,
                    detail: "the job saw it".to_string(),
                },
                CheckResult {
                    name: "snapshot",
                    passed: false,
                    detail: "the job saw nothing".to_string(),
                },
            ],
        }
    }

    #[test]
    fn display_is_an_aligned_table() {
        let expected = "\
| check       | result | detail              |
|-------------|--------|---------------------|
| propagation | pass   | the job saw it      |
| snapshot    | FAIL   | the job saw nothing |
";
        assert_eq!(report().to_string(), expected);
    }

    #[test]
    fn failed_lists_failed_checks_in_order() {
        let mut report = report();
        assert!(!report.passed());
        assert_eq!(report.failed(), ["snapshot"]);
        report.checks[1].passed = true;
        assert!(report.passed());
        assert!(report.failed().is_empty());
    }

    #[test]
    fn assert_ok_panics_with_the_table() {
        let report = report();
        let panic = std::panic::catch_unwind(|| report.assert_ok()).expect_err("a check failed");
        let message = panic.downcast_ref::<String>().expect("a formatted message");
        assert!(message.starts_with("the executor failed 1 of 2 context checks:\n"));
        assert!(message.ends_with(&report.to_string()), "{message}");
    }

    #[test]
    fn assert_ok_accepts_a_passing_report() {
        let mut report = report();
        report.checks[1].passed = true;
        report.assert_ok();
    }
}
