//! Recognising test files by path, in any language. Several rules leave tests alone: they
//! set up contexts on purpose to check what propagates, and run on one thread.

use std::path::Path;

/// Whether a file is test code by its path: test directories (`tests/`, `test_util/`),
/// test helpers (`test_helpers.rs`, `testing.py`), `foo_test.rs`, `test_foo.py`.
pub(crate) fn is_test_path(path: &Path) -> bool {
    let dirs = path.parent().into_iter().flat_map(Path::components);
    dirs.map(|part| part.as_os_str())
        .chain(path.file_stem())
        .any(|part| {
            let part = part.to_string_lossy();
            matches!(&*part, "test" | "tests" | "testing")
                || part.starts_with("test_")
                || part.ends_with("_test")
                || part.ends_with("_tests")
        })
}
