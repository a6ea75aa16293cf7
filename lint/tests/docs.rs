//! The published rule docs are generated from the rules' doc comments; these tests fail when
//! they drift. `UPDATE_DOCS=1 cargo test -p ctxlint --test docs` rewrites them.

use std::path::Path;

use ctxlint::registry::{rules_page, rules_table};

const TABLE_START: &str = "<!-- rules:start -->\n";
const TABLE_END: &str = "<!-- rules:end -->";

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn update() -> bool {
    std::env::var_os("UPDATE_DOCS").is_some()
}

#[test]
fn docs_rules_md_matches_the_rule_docs() {
    let path = root().join("docs/rules.md");
    let expected = rules_page();
    if update() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &expected).unwrap();
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "docs/rules.md is stale: run `UPDATE_DOCS=1 cargo test -p ctxlint --test docs`"
    );
}

#[test]
fn readme_rules_table_matches_the_rule_docs() {
    let path = root().join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let start = readme
        .find(TABLE_START)
        .expect("README has the rules table markers")
        + TABLE_START.len();
    let end = readme[start..].find(TABLE_END).expect("end marker") + start;
    let expected = rules_table();
    if update() && readme[start..end] != expected {
        std::fs::write(
            &path,
            format!("{}{expected}{}", &readme[..start], &readme[end..]),
        )
        .unwrap();
        return;
    }
    assert!(
        readme[start..end] == expected,
        "README's rules table is stale: run `UPDATE_DOCS=1 cargo test -p ctxlint --test docs`"
    );
}
