//! Facts about a file (and, merged, about the whole run) that rules share: built once by
//! one walk, so no rule re-walks the tree for them.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use proc_macro2::TokenTree;
use syn::visit::{self, Visit};

use crate::rules;

/// A `thread_local!` (or `task_local!`) static.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalKey {
    pub(crate) name: String,
    pub(crate) range: Range<usize>,
}

/// What one file declares and imports.
#[derive(Debug, Default, Clone)]
pub(crate) struct FileIndex {
    /// `use` bindings: the local name → the full path it stands for (`spawn` → `tokio::spawn`).
    pub(crate) aliases: HashMap<String, String>,
    /// `thread_local!` statics declared here.
    pub(crate) thread_locals: Vec<LocalKey>,
    /// `tokio::task_local!` statics declared here.
    pub(crate) task_locals: Vec<LocalKey>,
    /// Statics and consts of type `ContextVar<..>`.
    pub(crate) context_vars: Vec<String>,
    /// Functions carrying `#[instrument]` / `#[tracing::instrument]`.
    pub(crate) instrumented_fns: HashSet<String>,
    /// Thread-locals written inside async code (CTX002's crate-wide fact).
    pub(crate) async_written_thread_locals: HashSet<String>,
    /// Functions whose bodies use the current context (CTX003's crate-wide fact).
    pub(crate) context_using_fns: HashSet<String>,
    /// Modules declared in this file (`mod name;`, `mod name { .. }`).
    pub(crate) modules: HashSet<String>,
    /// The module names the file's crate has on disk (see `linter::crate_modules`).
    pub(crate) crate_modules: Arc<HashSet<String>>,
}

impl FileIndex {
    /// Indexes a parsed file of a crate whose modules on disk are `crate_modules`.
    pub(crate) fn build(ast: &syn::File, crate_modules: Arc<HashSet<String>>) -> Self {
        let mut indexer = Indexer {
            index: FileIndex {
                crate_modules,
                ..FileIndex::default()
            },
        };
        indexer.visit_file(ast);
        let mut index = indexer.index;
        rules::thread_local_in_async::rust::collect_facts(ast, &mut index);
        rules::unpropagated_spawn::rust::collect_facts(ast, &mut index);
        index
    }

    /// Whether a resolved path starting with `root` names something of this crate rather
    /// than another crate's (`crate::`, `self::`, a type, a module of the crate) — so a
    /// call of `zstd::bulk::compress` is never mistaken for the crate's own `compress`.
    pub(crate) fn is_local_root(&self, root: &str) -> bool {
        matches!(root, "crate" | "self" | "super" | "Self")
            || root.starts_with(|c: char| c.is_ascii_uppercase())
            || self.modules.contains(root)
            || self.crate_modules.contains(root)
    }

    /// The full path `path` stands for here: the first segment is resolved through `use`
    /// aliases (`thread::spawn` with `use std::thread;` → `std::thread::spawn`).
    pub(crate) fn resolve(&self, path: &syn::Path) -> String {
        let mut segments = path
            .segments
            .iter()
            .map(|segment| segment.ident.to_string());
        let Some(first) = segments.next() else {
            return String::new();
        };
        let head = self.aliases.get(&first).cloned().unwrap_or(first);
        segments.fold(head, |mut full, segment| {
            full.push_str("::");
            full.push_str(&segment);
            full
        })
    }
}

/// Facts merged over every file of the run.
#[derive(Debug, Default, Clone)]
pub(crate) struct ProjectIndex {
    pub(crate) thread_locals: HashSet<String>,
    pub(crate) context_vars: HashSet<String>,
    pub(crate) instrumented_fns: HashSet<String>,
    pub(crate) async_written_thread_locals: HashSet<String>,
    pub(crate) context_using_fns: HashSet<String>,
}

impl ProjectIndex {
    /// Adds one file's facts.
    pub(crate) fn merge(&mut self, file: &FileIndex) {
        self.thread_locals
            .extend(file.thread_locals.iter().map(|key| key.name.clone()));
        self.context_vars.extend(file.context_vars.iter().cloned());
        self.instrumented_fns
            .extend(file.instrumented_fns.iter().cloned());
        self.async_written_thread_locals
            .extend(file.async_written_thread_locals.iter().cloned());
        self.context_using_fns
            .extend(file.context_using_fns.iter().cloned());
    }
}

struct Indexer {
    index: FileIndex,
}

impl<'ast> Visit<'ast> for Indexer {
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        self.index.modules.insert(item.ident.to_string());
        visit::visit_item_mod(self, item);
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        collect_use(&item.tree, String::new(), &mut self.index.aliases);
    }

    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        if item.attrs.iter().any(is_instrument) {
            self.index
                .instrumented_fns
                .insert(item.sig.ident.to_string());
        }
        visit::visit_item_fn(self, item);
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        if item.attrs.iter().any(is_instrument) {
            self.index
                .instrumented_fns
                .insert(item.sig.ident.to_string());
        }
        visit::visit_impl_item_fn(self, item);
    }

    fn visit_item_static(&mut self, item: &'ast syn::ItemStatic) {
        if is_context_var_type(&item.ty) {
            self.index.context_vars.push(item.ident.to_string());
        }
        visit::visit_item_static(self, item);
    }

    fn visit_item_const(&mut self, item: &'ast syn::ItemConst) {
        if is_context_var_type(&item.ty) {
            self.index.context_vars.push(item.ident.to_string());
        }
        visit::visit_item_const(self, item);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        let Some(last) = mac.path.segments.last() else {
            return;
        };
        let keys = match last.ident.to_string().as_str() {
            "thread_local" => &mut self.index.thread_locals,
            "task_local" => &mut self.index.task_locals,
            _ => return,
        };
        keys.extend(declared_statics(mac.tokens.clone()));
    }
}

/// The `static NAME` items inside a `thread_local!`/`task_local!` body.
fn declared_statics(tokens: proc_macro2::TokenStream) -> Vec<LocalKey> {
    let mut keys = Vec::new();
    let mut after_static = false;
    for token in tokens {
        match &token {
            TokenTree::Ident(ident) if after_static => {
                keys.push(LocalKey {
                    name: ident.to_string(),
                    range: ident.span().byte_range(),
                });
                after_static = false;
            }
            TokenTree::Ident(ident) => after_static = ident == "static",
            _ => after_static = false,
        }
    }
    keys
}

fn collect_use(tree: &syn::UseTree, prefix: String, aliases: &mut HashMap<String, String>) {
    let join = |name: &str| {
        if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}::{name}")
        }
    };
    match tree {
        syn::UseTree::Path(path) => collect_use(&path.tree, join(&path.ident.to_string()), aliases),
        syn::UseTree::Name(name) if name.ident == "self" => {
            if let Some(last) = prefix.rsplit("::").next() {
                aliases.insert(last.to_string(), prefix.clone());
            }
        }
        syn::UseTree::Name(name) => {
            aliases.insert(name.ident.to_string(), join(&name.ident.to_string()));
        }
        syn::UseTree::Rename(rename) => {
            aliases.insert(rename.rename.to_string(), join(&rename.ident.to_string()));
        }
        syn::UseTree::Group(group) => {
            for tree in &group.items {
                collect_use(tree, prefix.clone(), aliases);
            }
        }
        syn::UseTree::Glob(_) => {}
    }
}

/// `#[instrument]`, `#[tracing::instrument(..)]`.
pub(crate) fn is_instrument(attr: &syn::Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "instrument")
}

fn is_context_var_type(ty: &syn::Type) -> bool {
    match ty {
        syn::Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "ContextVar"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(code: &str) -> FileIndex {
        FileIndex::build(
            &syn::parse_file(code).expect("test code parses"),
            Default::default(),
        )
    }

    #[test]
    fn use_aliases_resolve_paths() {
        let index = index(
            "use std::thread; use tokio::{spawn, task::spawn_blocking as blocking}; use std::cell::{self};",
        );
        let resolve = |path: &str| index.resolve(&syn::parse_str(path).unwrap());
        assert_eq!(resolve("thread::spawn"), "std::thread::spawn");
        assert_eq!(resolve("spawn"), "tokio::spawn");
        assert_eq!(resolve("blocking"), "tokio::task::spawn_blocking");
        assert_eq!(resolve("cell::Cell"), "std::cell::Cell");
        assert_eq!(resolve("other::f"), "other::f");
    }

    #[test]
    fn declarations_are_indexed() {
        let index = index(
            r#"
            thread_local! { static RNG: Cell<u64> = Cell::new(1); pub static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) }; }
            tokio::task_local! { static REQ: String; }
            static REQUEST_ID: ctxvars::ContextVar<String> = ctxvars::ContextVar::new("id");
            #[tracing::instrument(skip(x))] async fn handler(x: u8) {}
            mod inner { #[instrument] fn nested() {} }
            "#,
        );
        let names = |keys: &[LocalKey]| keys.iter().map(|key| key.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&index.thread_locals), ["RNG", "BUF"]);
        assert_eq!(names(&index.task_locals), ["REQ"]);
        assert_eq!(index.context_vars, ["REQUEST_ID"]);
        assert!(
            index.instrumented_fns.contains("handler") && index.instrumented_fns.contains("nested")
        );
    }
}
