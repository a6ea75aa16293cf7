//! CTX003 on a Python package as a user runs it: a context-reading function of one module
//! submitted from another, and `extra-executors` in `[tool.ctxlint]` naming a pool that
//! copies the submitter's context.

use e2e::{ctxlint, TempDir};

/// `svc/log.py` reads the request id; `svc/work.py` submits it (row 14) and a local reader
/// (row 15) to a `ContextExecutor`, and both again (rows 16 and 17) to a plain
/// `ThreadPoolExecutor`.
fn service(label: &str) -> TempDir {
    let dir = TempDir::new(label);
    dir.write("svc/__init__.py", "");
    dir.write(
        "svc/log.py",
        "import contextvars\n\nrequest_id = contextvars.ContextVar(\"request_id\", default=\"-\")\n\n\ndef line(message):\n    return f\"[{request_id.get()}] {message}\"\n",
    );
    dir.write(
        "svc/work.py",
        concat!(
            "from concurrent.futures import ThreadPoolExecutor\n",
            "\n",
            "from svc.log import line, request_id\n",
            "\n",
            "\n",
            "class ContextExecutor(ThreadPoolExecutor):\n",
            "    pass\n",
            "\n",
            "\n",
            "def local():\n",
            "    return request_id.get()\n",
            "\n",
            "def run(pool: ContextExecutor, plain: ThreadPoolExecutor):\n",
            "    pool.submit(line, \"a\")\n",
            "    pool.submit(local)\n",
            "    plain.submit(line, \"b\")\n",
            "    plain.submit(local)\n",
        ),
    );
    dir
}

fn ctx003(dir: &TempDir) -> Vec<String> {
    let out = ctxlint(
        dir.path(),
        [
            "check",
            "--output-format",
            "concise",
            "--select",
            "CTX003",
            "svc",
        ],
    );
    out.short()
}

#[test]
fn a_reader_of_another_module_is_known_across_the_run() {
    let dir = service("py-ctx003-plain");
    assert_eq!(
        ctx003(&dir),
        [
            "svc/work.py:14:5 CTX003",
            "svc/work.py:15:5 CTX003",
            "svc/work.py:16:5 CTX003",
            "svc/work.py:17:5 CTX003",
        ]
    );
}

#[test]
fn extra_executors_are_pools_that_carry_the_context() {
    let dir = service("py-ctx003-extra");
    dir.write(
        "pyproject.toml",
        "[tool.ctxlint]\nextra-executors = [\"svc.work.ContextExecutor\"]\n",
    );
    assert_eq!(
        ctx003(&dir),
        ["svc/work.py:16:5 CTX003", "svc/work.py:17:5 CTX003"]
    );
}
