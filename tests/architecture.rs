//! The shape of `src/`, checked on every `cargo test`: imports point one
//! way down the layers, and no two files need each other.
//!
//! The layers, lowest first (a file may import from its own layer and the
//! ones below, never from one above):
//!
//! | layer | modules |
//! |---|---|
//! | 0 | `domain` (pure types and rules), `private_files`, `metrics` (counters, a leaf), `log_writer` (where log lines go) |
//! | 1 | `config` (settings, read once), `db` (connection, schema) |
//! | 2 | `ops` (the operations both front ends call) |
//! | 3 | `auth` (passwords, sessions, CSRF, the token check) |
//! | 4 | `state` (what handlers share), `notices` (the background sender) |
//! | 5 | `web` (pages and the API) |
//! | 6 | `startup`, `cli`, `main` |
//!
//! Imports are read from `use` declarations and from paths written inline
//! (`crate::ops::tokens::get(…)`, `super::tokens::record(…)`), resolved to
//! the file that defines the item (following `pub use` re-exports). Unit
//! test modules (`#[cfg(test)] mod tests`) are not read: they test their
//! file and may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layer of a top-level module, or `None` for the crate root.
fn layer(top: &str) -> Option<u8> {
    Some(match top {
        "domain" | "private_files" | "metrics" | "log_writer" => 0,
        "config" | "db" => 1,
        "ops" => 2,
        "auth" => 3,
        "state" | "notices" => 4,
        "web" => 5,
        "startup" | "cli" | "main" => 6,
        "" => return None,
        other => panic!(
            "src/{other}: a top-level module with no layer; add it to `layer` in tests/architecture.rs"
        ),
    })
}

/// One import: the file and line it is written on, and the path.
#[derive(Clone, Debug)]
struct Import {
    line: usize,
    path: Vec<String>,
}

struct SourceFile {
    /// Relative to the repository, for messages.
    shown: String,
    /// Module path: `["web", "ui", "tokens"]`; `["main"]` for the binary.
    module: Vec<String>,
    imports: Vec<Import>,
    /// `pub use` re-exports: a name here stands for this path.
    reexports: BTreeMap<String, Vec<String>>,
}

/// The source with comments, strings and character literals blanked out
/// (newlines kept, so line numbers hold).
fn code_only(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !chars
                .get(i.wrapping_sub(1))
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
        {
            // A raw string: r"…", r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (0..hashes).all(|k| chars.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            for &ch in &chars[i..j.min(chars.len())] {
                out.push(blank(ch));
            }
            i = j;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                let skip = if chars[i] == '\\' { 2 } else { 1 };
                for _ in 0..skip {
                    if i < chars.len() {
                        out.push(blank(chars[i]));
                        i += 1;
                    }
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{2028}'), not a lifetime.
            let end = if next == Some('\\') {
                (i + 2..chars.len()).find(|&j| chars[j] == '\'')
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(end) => {
                    for _ in i..=end {
                        out.push(' ');
                    }
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The code before the file's unit-test module.
fn without_tests(code: &str) -> &str {
    let mut at = 0;
    for line in code.split_inclusive('\n') {
        if line.trim() == "#[cfg(test)]" && code[at + line.len()..].trim_start().starts_with("mod ")
        {
            return &code[..at];
        }
        at += line.len();
    }
    code
}

/// The paths a use tree names: `a::{b, c::{d, e}}` → a::b, a::c::d, a::c::e
/// (`self` inside braces is the prefix itself; `as` renames are dropped).
fn expand_use_tree(tree: &str) -> Vec<Vec<String>> {
    fn expand(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
        let tree = tree.trim();
        if tree.is_empty() {
            return;
        }
        if let Some(open) = tree.find('{') {
            let head: Vec<String> = tree[..open]
                .split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let close = tree.rfind('}').unwrap_or(tree.len());
            let inner = &tree[open + 1..close];
            let mut base = prefix.to_vec();
            base.extend(head);
            let mut depth = 0;
            let mut start = 0;
            for (i, ch) in inner.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&base, &inner[start..i], out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            expand(&base, &inner[start..], out);
        } else {
            let tree = tree.split(" as ").next().unwrap_or(tree);
            let mut path = prefix.to_vec();
            for seg in tree.split("::").map(str::trim).filter(|s| !s.is_empty()) {
                if seg != "self" {
                    path.push(seg.to_owned());
                }
            }
            out.push(path);
        }
    }
    let mut out = Vec::new();
    expand(&[], tree, &mut out);
    out
}

/// Makes a path absolute (from the crate root) as written in `module`,
/// whose file declares the modules `children`.
fn absolute(
    module: &[String],
    children: &[String],
    path: &[String],
    is_binary: bool,
) -> Option<Vec<String>> {
    let first = path.first()?.as_str();
    match first {
        _ if children.iter().any(|c| c == first) => {
            let mut abs = module.to_vec();
            abs.extend(path.iter().cloned());
            Some(abs)
        }
        "crate" => Some(path[1..].to_vec()),
        "whm_tokens" if is_binary => Some(path[1..].to_vec()),
        "super" | "self" => {
            let mut base = module.to_vec();
            let mut rest = path;
            while let Some(seg) = rest.first() {
                match seg.as_str() {
                    "super" => {
                        base.pop()?;
                    }
                    "self" => {}
                    _ => break,
                }
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            Some(base)
        }
        _ => None,
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The modules a file declares (`mod name;`).
fn declared_modules(code: &str) -> Vec<String> {
    code.lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line
                .strip_prefix("pub ")
                .or_else(|| line.strip_prefix("pub(crate) "))
                .unwrap_or(line);
            let name = rest.strip_prefix("mod ")?.strip_suffix(';')?;
            Some(name.trim().to_owned())
        })
        .collect()
}

/// Every import in a file's code: `use` declarations, and paths written
/// inline that start at `crate`, `super`, a module the file declares or
/// (in the binary) `whm_tokens`.
#[allow(clippy::type_complexity)]
fn imports_of(
    code: &str,
    module: &[String],
    is_binary: bool,
) -> (Vec<Import>, Vec<(Vec<String>, Vec<String>)>) {
    let children = declared_modules(code);
    let mut imports = Vec::new();
    let mut reexports = Vec::new();
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let bytes = code.as_bytes();
    let mut consumed = vec![false; code.len()];
    // `use` declarations.
    let mut search = 0;
    while let Some(found) = code[search..].find("use ") {
        let at = search + found;
        search = at + 4;
        if at > 0 && is_ident_char(bytes[at - 1] as char) {
            continue;
        }
        let before = code[..at].trim_end();
        let public = before.ends_with("pub") || before.ends_with(')');
        let Some(end) = code[at..].find(';') else {
            break;
        };
        let tree = &code[at + 4..at + end];
        for c in consumed.iter_mut().skip(at).take(end) {
            *c = true;
        }
        for path in expand_use_tree(tree) {
            if path.last().is_some_and(|l| l == "*") {
                continue;
            }
            if let Some(abs) = absolute(module, &children, &path, is_binary) {
                if public {
                    if let Some(name) = tree
                        .split(" as ")
                        .nth(1)
                        .filter(|_| !tree.contains('{'))
                        .map(|n| n.trim().to_owned())
                        .or_else(|| abs.last().cloned())
                    {
                        reexports.push((vec![name], abs.clone()));
                    }
                }
                imports.push(Import {
                    line: line_of(at),
                    path: abs,
                });
            }
        }
    }
    // Paths written inline.
    let mut roots: Vec<String> = ["crate::", "super::"].map(str::to_owned).to_vec();
    if is_binary {
        roots.push("whm_tokens::".to_owned());
    }
    roots.extend(children.iter().map(|c| format!("{c}::")));
    for root in &roots {
        let mut search = 0;
        while let Some(found) = code[search..].find(root) {
            let at = search + found;
            search = at + root.len();
            if consumed[at]
                || (at > 0 && (is_ident_char(bytes[at - 1] as char) || bytes[at - 1] == b':'))
            {
                continue;
            }
            let end = code[at..]
                .find(|c: char| !(is_ident_char(c) || c == ':'))
                .map_or(code.len(), |e| at + e);
            let path: Vec<String> = code[at..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if let Some(abs) = absolute(module, &children, &path, is_binary) {
                imports.push(Import {
                    line: line_of(at),
                    path: abs,
                });
            }
        }
    }
    (imports, reexports)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    match last.as_str() {
        "lib.rs" if parts.is_empty() => {}
        "mod.rs" => {}
        name => parts.push(name.trim_end_matches(".rs").to_owned()),
    }
    parts
}

struct Crate {
    files: Vec<SourceFile>,
    by_module: BTreeMap<Vec<String>, usize>,
}

impl Crate {
    fn read(root: &Path) -> Self {
        let src = root.join("src");
        let mut paths = Vec::new();
        rust_files(&src, &mut paths);
        paths.sort();
        let mut files = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(&path).unwrap();
            let code = code_only(&text);
            let module = module_of(&src, &path);
            let is_binary = module == ["main"];
            let (imports, reexports) = imports_of(without_tests(&code), &module, is_binary);
            files.push(SourceFile {
                shown: path.strip_prefix(root).unwrap().display().to_string(),
                module,
                imports,
                reexports: reexports
                    .into_iter()
                    .map(|(name, path)| (name[0].clone(), path))
                    .collect(),
            });
        }
        let by_module = files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.module.clone(), i))
            .collect();
        Self { files, by_module }
    }

    /// The file that defines what `path` names: the longest module prefix
    /// that is a file, following that file's `pub use` re-exports.
    fn resolve(&self, path: &[String], depth: u8) -> Option<usize> {
        let (file, used) = (0..=path.len())
            .rev()
            .find_map(|n| self.by_module.get(&path[..n]).map(|&f| (f, n)))?;
        if depth < 8 {
            if let Some(next) = path.get(used) {
                if let Some(target) = self.files[file].reexports.get(next) {
                    let mut again = target.clone();
                    again.extend(path[used + 1..].iter().cloned());
                    if let Some(found) = self.resolve(&again, depth + 1) {
                        return Some(found);
                    }
                }
            }
        }
        Some(file)
    }

    /// Edges between files: (from, to, line, path written).
    fn edges(&self) -> Vec<(usize, usize, usize, String)> {
        let mut edges = Vec::new();
        for (from, file) in self.files.iter().enumerate() {
            for import in &file.imports {
                if let Some(to) = self.resolve(&import.path, 0) {
                    // The crate root only declares modules.
                    if to != from && !self.files[to].module.is_empty() {
                        edges.push((from, to, import.line, import.path.join("::")));
                    }
                }
            }
        }
        edges
    }
}

fn top(module: &[String]) -> &str {
    module.first().map_or("", String::as_str)
}

fn layer_violations(krate: &Crate) -> Vec<String> {
    let mut found = Vec::new();
    for (from, to, line, path) in krate.edges() {
        let (a, b) = (&krate.files[from], &krate.files[to]);
        let (Some(la), Some(lb)) = (layer(top(&a.module)), layer(top(&b.module))) else {
            continue;
        };
        if lb > la {
            found.push(format!(
                "{}:{line}: `{}` (layer {la}) imports crate::{path} from `{}` (layer {lb}): a layer may import only from itself and the layers below",
                a.shown,
                top(&a.module),
                top(&b.module),
            ));
        }
    }
    found
}

/// Groups of files that import each other through some path (Tarjan's
/// strongly connected components), each with the edges inside it.
fn cycles(krate: &Crate) -> Vec<String> {
    let n = krate.files.len();
    let edges = krate.edges();
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (from, to, _, _) in &edges {
        next[*from].push(*to);
    }
    struct Tarjan<'a> {
        next: &'a [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        counter: usize,
        groups: Vec<Vec<usize>>,
    }
    impl Tarjan<'_> {
        fn visit(&mut self, v: usize) {
            self.index[v] = Some(self.counter);
            self.low[v] = self.counter;
            self.counter += 1;
            self.stack.push(v);
            self.on_stack[v] = true;
            for &w in &self.next[v] {
                match self.index[w] {
                    None => {
                        self.visit(w);
                        self.low[v] = self.low[v].min(self.low[w]);
                    }
                    Some(iw) if self.on_stack[w] => self.low[v] = self.low[v].min(iw),
                    _ => {}
                }
            }
            if Some(self.low[v]) == self.index[v] {
                let mut group = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack[w] = false;
                    group.push(w);
                    if w == v {
                        break;
                    }
                }
                if group.len() > 1 {
                    self.groups.push(group);
                }
            }
        }
    }
    let mut t = Tarjan {
        next: &next,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        counter: 0,
        groups: Vec::new(),
    };
    for v in 0..n {
        if t.index[v].is_none() {
            t.visit(v);
        }
    }
    t.groups
        .into_iter()
        .map(|group| {
            let members: BTreeSet<usize> = group.iter().copied().collect();
            let mut lines: Vec<String> = edges
                .iter()
                .filter(|(f, to, _, _)| members.contains(f) && members.contains(to))
                .map(|(f, to, line, path)| {
                    format!(
                        "    {}:{line} imports crate::{path} ({})",
                        krate.files[*f].shown, krate.files[*to].shown
                    )
                })
                .collect();
            lines.sort();
            lines.dedup();
            format!(
                "{} files import each other through some path:\n{}",
                members.len(),
                lines.join("\n")
            )
        })
        .collect()
}

fn this_crate() -> Crate {
    Crate::read(Path::new(env!("CARGO_MANIFEST_DIR")))
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let krate = this_crate();
    assert!(krate.files.len() > 50, "src/ was read");
    let found = layer_violations(&krate);
    assert!(
        found.is_empty(),
        "imports that climb the layers (domain, private_files ← config, db ← ops ← auth ← state, notices ← web ← startup, cli, main):\n{}",
        found.join("\n")
    );
}

#[test]
fn no_two_files_import_each_other_through_any_path() {
    let found = cycles(&this_crate());
    assert!(
        found.is_empty(),
        "import cycles between files (when two files need each other, one of them holds the wrong thing):\n\n{}",
        found.join("\n\n")
    );
}

/// The checker itself, on a small crate written here.
mod checker {
    use super::*;

    fn write(root: &Path, files: &[(&str, &str)]) {
        for (path, text) in files {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let root =
            std::env::temp_dir().join(format!("whm-architecture-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        root
    }

    #[test]
    fn an_ops_file_importing_from_web_is_named_with_its_line() {
        let root = scratch("climb");
        write(
            &root,
            &[
                ("src/lib.rs", "pub mod ops;\npub mod web;\n"),
                ("src/ops/mod.rs", "pub mod tokens;\n"),
                (
                    "src/ops/tokens.rs",
                    "// use crate::web::nothing; (a comment)\nuse crate::web::request::current_id;\n",
                ),
                ("src/web/mod.rs", "pub mod request;\n"),
                ("src/web/request.rs", "pub fn current_id() {}\n"),
            ],
        );
        let found = layer_violations(&Crate::read(&root));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with(
                "src/ops/tokens.rs:2: `ops` (layer 2) imports crate::web::request::current_id"
            ),
            "{}",
            found[0]
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_cycle_through_a_third_file_and_a_re_export_is_found() {
        let root = scratch("cycle");
        write(
            &root,
            &[
                ("src/lib.rs", "pub mod ops;\n"),
                ("src/ops/mod.rs", "pub mod a;\npub mod b;\npub mod c;\npub use c::Thing;\n"),
                ("src/ops/a.rs", "use super::b::B;\npub struct A;\n"),
                ("src/ops/b.rs", "pub struct B;\nfn f() { let _ = super::Thing; }\n"),
                (
                    "src/ops/c.rs",
                    "pub struct Thing;\nfn g() -> crate::ops::a::A { todo!() }\nconst S: &str = \"crate::ops::b::B\";\n",
                ),
            ],
        );
        let found = cycles(&Crate::read(&root));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("3 files"), "{}", found[0]);
        for file in ["src/ops/a.rs", "src/ops/b.rs", "src/ops/c.rs"] {
            assert!(found[0].contains(file), "{}", found[0]);
        }
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn use_trees_expand_to_every_path_they_name() {
        let paths = expand_use_tree("crate::{a::{b, c::D as E}, f::self, g}");
        let joined: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
        assert_eq!(
            joined,
            ["crate::a::b", "crate::a::c::D", "crate::f", "crate::g"]
        );
    }
}
