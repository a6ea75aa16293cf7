//! Python fixtures that are runnable scripts (they end in an `if __name__ == "__main__":`
//! block, standard library only, Python 3.11) are run by `python3`. The block asserts the
//! behaviour the rule claims — a CTX005 positive raises `RuntimeError` and its fixed twin
//! does not, a CTX003 positive's worker sees the default — so the rules stay honest about
//! what CPython really does.

use std::path::{Path, PathBuf};
use std::process::Command;

fn runnable_fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/python");
    let mut files = Vec::new();
    for rule in std::fs::read_dir(root).expect("fixtures/python").flatten() {
        for file in std::fs::read_dir(rule.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = file.path();
            let runnable = path.extension().is_some_and(|ext| ext == "py")
                && std::fs::read_to_string(&path)
                    .is_ok_and(|text| text.contains("if __name__ == \"__main__\":"));
            if runnable {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn runnable_python_fixtures_behave_as_their_rules_claim() {
    let files = runnable_fixtures();
    assert!(!files.is_empty(), "no runnable Python fixtures found");
    let failures: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let output = Command::new("python3")
                .arg(file)
                .output()
                .expect("python3 runs");
            (!output.status.success()).then(|| {
                format!(
                    "{} exited with {}:\n{}",
                    file.display(),
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} runnable fixtures failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
