//! The crate's structure, checked on the text of `src/`: no import cycle between files, the
//! dependency rules of the `lib.rs` Layout, a Layout table that names every file, and size limits.
//! Each rule prints every violation, then fails. The scanner is `tests/architecture/scan.rs`.
//!
//! What counts, for every rule: code outside `#[cfg(test)]` items, in files that are not test
//! modules (a file declared `#[cfg(test)] mod tests;`, and the files below it). An edge is a path
//! the code names, in a `use` tree or inline, that resolves into the crate (`crate::`, `super::`,
//! `self::`, a child module, or a name a `use` bound to one); it points to the file of the deepest
//! module of that path that is a file. `mod x;` is not an edge. `src/main.rs` is its own crate:
//! its `kdns::` paths are outside ones.

#[path = "architecture/scan.rs"]
mod scan;

use scan::{Kind, Target, Token};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

/// Largest file, in code lines (not blank, not only a comment).
const MAX_FILE_LINES: usize = 500;
/// Longest `fn`, in code lines from the `fn` line to its closing brace (blank and comment-only
/// lines inside do not count).
const MAX_FN_LINES: usize = 80;

struct File {
    /// `src/zone/store.rs`
    rel: String,
    test: bool,
    /// Non-test tokens.
    tokens: Vec<Token>,
    /// Every path the file names: line, path as written, where it points, and the file for a
    /// crate path.
    refs: Vec<(usize, String, Target, Option<String>)>,
}

impl File {
    fn under(&self, dir: &str) -> bool {
        self.rel.starts_with(dir)
    }

    /// The crate paths of this file that point to another file: (line, path, target file).
    fn edges(&self) -> impl Iterator<Item = (usize, &str, &str)> {
        self.refs.iter().filter_map(move |(line, path, _, to)| {
            to.as_deref()
                .filter(|to| *to != self.rel)
                .map(|to| (*line, path.as_str(), to))
        })
    }

    /// Lines naming the outside crate `name` (`name::…`, `use name…`).
    fn names_crate(&self, name: &str) -> Vec<usize> {
        let lines = self
            .refs
            .iter()
            .filter(|(_, _, t, _)| *t == Target::Outside(name.into()));
        lines
            .map(|r| r.0)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }
}

fn module_of(rel: &str) -> Option<Vec<String>> {
    let stem = rel.strip_prefix("src/")?.strip_suffix(".rs")?;
    let mut m: Vec<String> = stem.split('/').map(String::from).collect();
    if m.last().is_some_and(|l| l == "mod") || m == ["lib"] {
        m.pop();
    }
    Some(m).filter(|m| m != &["main"])
}

fn rs_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rs_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Reads and scans every `.rs` file under `src/`, sorted by path.
fn load() -> Vec<File> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    rs_files(&root.join("src"), &mut paths);
    paths.sort();
    let mut files = Vec::new();
    let mut test_modules = Vec::new();
    for path in paths {
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let stripped = scan::strip_tests(&scan::tokenize(&std::fs::read_to_string(&path).unwrap()));
        let (tokens, tests) = stripped.clone().unwrap_or_default();
        let m = module_of(&rel).unwrap_or_default();
        test_modules.extend(tests.into_iter().map(|t| [&m[..], &[t]].concat()));
        files.push(File {
            rel,
            test: stripped.is_none(),
            tokens,
            refs: Vec::new(),
        });
    }
    let mut by_module = BTreeMap::new();
    for f in &mut files {
        let Some(m) = module_of(&f.rel) else { continue };
        f.test |= test_modules.iter().any(|t| m.starts_with(t));
        by_module.insert(m, f.rel.clone());
    }
    for f in files.iter_mut().filter(|f| !f.test) {
        let module = module_of(&f.rel);
        let names = scan::names(&f.tokens);
        let resolver = scan::Resolver::new(module.as_deref().unwrap_or_default(), &names);
        for p in &names.paths {
            let target = resolver.resolve(p);
            let file = match (&target, &module) {
                (Target::Crate(_), None) => Some(f.rel.clone()), // main.rs: its own crate
                (Target::Crate(t), Some(_)) => (0..=t.len())
                    .rev()
                    .find_map(|k| by_module.get(&t[..k]).cloned()),
                _ => None,
            };
            f.refs.push((p.line, p.segs.join("::"), target, file));
        }
    }
    files
}

fn report(rule: &str, violations: &[String]) {
    if violations.is_empty() {
        return;
    }
    println!("{rule}: {} violation(s)", violations.len());
    for v in violations {
        println!("  {v}");
    }
    panic!("{rule}: {} violation(s), listed above", violations.len());
}

fn lines(ls: &[usize]) -> String {
    ls.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn no_import_cycle_between_files() {
    let files = load();
    let mut graph: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for f in files.iter().filter(|f| !f.test) {
        let out = graph.entry(&f.rel).or_default();
        for (line, _, to) in f.edges() {
            out.entry(to).or_insert(line);
        }
    }
    let mut violations = Vec::new();
    for scc in strongly_connected(&graph)
        .into_iter()
        .filter(|c| c.len() > 1)
    {
        let short = |f: &str| f.trim_start_matches("src/").to_string();
        let names: Vec<String> = scc.iter().map(|f| short(f)).collect();
        violations.push(format!(
            "{} files import each other in a circle: {}",
            scc.len(),
            names.join(", ")
        ));
        let mut seen = BTreeSet::new();
        for &start in &scc {
            let mut cycle = shortest_cycle(&graph, &scc, start);
            let min = (0..cycle.len()).min_by_key(|&k| cycle[k]).unwrap();
            cycle.rotate_left(min);
            if seen.insert(cycle.clone()) {
                cycle.push(cycle[0]);
                let shown: Vec<String> = cycle.iter().map(|f| short(f)).collect();
                violations.push(format!("  cycle: {}", shown.join(" -> ")));
            }
        }
        for &from in &scc {
            for (to, line) in graph[from].iter().filter(|(to, _)| scc.contains(to)) {
                violations.push(format!(
                    "  edge: {} -> {}  ({from}:{line})",
                    short(from),
                    short(to)
                ));
            }
        }
    }
    report("no_import_cycle_between_files", &violations);
}

/// Tarjan's strongly connected components, each sorted.
fn strongly_connected<'a>(g: &BTreeMap<&'a str, BTreeMap<&'a str, usize>>) -> Vec<Vec<&'a str>> {
    struct State<'a> {
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        out: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(v: &'a str, g: &BTreeMap<&'a str, BTreeMap<&'a str, usize>>, s: &mut State<'a>) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        for &w in g.get(v).into_iter().flat_map(|e| e.keys()) {
            if !s.index.contains_key(w) {
                visit(w, g, s);
                s.low.insert(v, s.low[v].min(s.low[w]));
            } else if s.stack.contains(&w) {
                s.low.insert(v, s.low[v].min(s.index[w]));
            }
        }
        if s.low[v] == s.index[v] {
            let at = s.stack.iter().rposition(|&x| x == v).unwrap();
            let mut scc = s.stack.split_off(at);
            scc.sort();
            s.out.push(scc);
        }
    }
    let mut s = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        out: Vec::new(),
    };
    for &v in g.keys() {
        if !s.index.contains_key(v) {
            visit(v, g, &mut s);
        }
    }
    s.out.sort();
    s.out
}

/// A shortest cycle through `start` inside `scc` (breadth first), without the closing repeat.
fn shortest_cycle<'a>(
    g: &BTreeMap<&'a str, BTreeMap<&'a str, usize>>,
    scc: &[&'a str],
    start: &'a str,
) -> Vec<&'a str> {
    let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &w in g[v].keys().filter(|w| scc.contains(w)) {
            if w == start {
                let mut path = vec![v];
                while let Some(&p) = parent.get(path.last().unwrap()) {
                    path.push(p);
                }
                path.reverse();
                return path;
            }
            if !parent.contains_key(w) && w != start {
                parent.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    unreachable!("{start} is in a strongly connected component")
}

#[test]
fn dependency_rules() {
    let files = load();
    let live: Vec<&File> = files.iter().filter(|f| !f.test).collect();
    let mut v = Vec::new();
    for f in live.iter().filter(|f| f.under("src/zone/")) {
        for (line, path, to) in f.edges().filter(|(_, _, to)| !to.starts_with("src/zone/")) {
            v.push(format!(
                "(a) zone imports outside zone: {}:{line} {path} -> {to}",
                f.rel
            ));
        }
    }
    let wire = ["hickory_server", "hickory_proto"];
    for name in ["kube", "k8s_openapi"].into_iter().chain(wire) {
        let kube = !wire.contains(&name);
        for f in &live {
            let ls = f.names_crate(name);
            let allowed = if kube {
                f.under("src/source/")
            } else {
                f.under("src/dns/") || f.under("src/plugin/")
            };
            if !ls.is_empty() && !allowed {
                let rule = if kube {
                    "(b) kube types outside src/source/"
                } else {
                    "(f) wire types outside src/dns/, src/plugin/"
                };
                v.push(format!(
                    "{rule}: {} names {name} at lines {}",
                    f.rel,
                    lines(&ls)
                ));
            }
            if !ls.is_empty() && f.under("src/envvars/") {
                v.push(format!(
                    "(c) envvars names {name}: {} lines {}",
                    f.rel,
                    lines(&ls)
                ));
            }
        }
    }
    let forbidden = ["src/source/", "src/dns/", "src/plugin/", "src/zone/"];
    for f in live.iter().filter(|f| f.under("src/envvars/")) {
        for (line, path, to) in f
            .edges()
            .filter(|(_, _, to)| forbidden.iter().any(|d| to.starts_with(d)))
        {
            v.push(format!("(c) envvars imports {to}: {}:{line} {path}", f.rel));
        }
    }
    for f in live.iter().filter(|f| f.under("src/dns/")) {
        for (line, path, to) in f.edges().filter(|(_, _, to)| to.starts_with("src/plugin/")) {
            v.push(format!(
                "(d) dns names a directive: {}:{line} {path} -> {to}",
                f.rel
            ));
        }
    }
    let leaf = [
        "src/config/lexer.rs",
        "src/config/syntax.rs",
        "src/config/args.rs",
    ];
    let present: Vec<&str> = leaf
        .into_iter()
        .filter(|l| live.iter().any(|f| f.rel == *l))
        .collect();
    println!(
        "(e) Corefile syntax leaf files present: {}",
        present.join(", ")
    );
    for f in live.iter().filter(|f| leaf.contains(&f.rel.as_str())) {
        for (line, path, to) in f.edges().filter(|(_, _, to)| !leaf.contains(to)) {
            v.push(format!(
                "(e) syntax leaf imports outside it: {}:{line} {path} -> {to}",
                f.rel
            ));
        }
    }
    for f in live.iter().filter(|f| f.under("src/zone/")) {
        for (k, t) in f
            .tokens
            .iter()
            .enumerate()
            .filter(|(_, t)| t.kind == Kind::Ident && t.text == "static")
        {
            let next = f.tokens.get(k + 1).map_or("", |t| t.text.as_str());
            if next == "mut" || f.tokens.get(k + 2).is_some_and(|t| t.text == ":") {
                v.push(format!(
                    "(g) static in zone: {}:{} static {next}",
                    f.rel, t.line
                ));
            }
        }
    }
    report("dependency_rules", &v);
}

#[test]
fn layout_table_names_every_file() {
    let files = load();
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let doc: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("//!"))
        .map(str::trim)
        .collect();
    let level = |l: &str| {
        l.starts_with('#')
            .then(|| l.chars().take_while(|&c| c == '#').count())
    };
    let start = doc
        .iter()
        .position(|l| level(l).is_some() && l.trim_start_matches('#').trim() == "Layout");
    let Some(start) = start else {
        return report(
            "layout_table_names_every_file",
            &["src/lib.rs has no `# Layout` section in its //! doc".into()],
        );
    };
    let depth = level(doc[start]).unwrap();
    let end = (start + 1..doc.len())
        .find(|&k| level(doc[k]).is_some_and(|d| d <= depth))
        .unwrap_or(doc.len());
    let path = regex::Regex::new(r"src/[A-Za-z0-9_/]+\.rs").unwrap();
    let named: BTreeSet<&str> = doc[start..end]
        .iter()
        .flat_map(|l| path.find_iter(l).map(|m| m.as_str()))
        .collect();
    let missing: Vec<String> = files
        .iter()
        .filter(|f| !f.test && !named.contains(f.rel.as_str()))
        .map(|f| format!("not named in the lib.rs Layout: {}", f.rel))
        .collect();
    report("layout_table_names_every_file", &missing);
}

#[test]
fn size_limits() {
    let mut v = Vec::new();
    for f in load().iter().filter(|f| !f.test) {
        let code = scan::code_lines(&f.tokens);
        if code.len() > MAX_FILE_LINES {
            v.push(format!(
                "file over {MAX_FILE_LINES} code lines: {} has {}",
                f.rel,
                code.len()
            ));
        }
        for func in scan::functions(&f.tokens) {
            let n = code.range(func.line..=func.end).count();
            if n > MAX_FN_LINES {
                v.push(format!(
                    "fn over {MAX_FN_LINES} code lines: {}:{} {} has {n}",
                    f.rel, func.line, func.name
                ));
            }
        }
    }
    report("size_limits", &v);
}

/// The scanner itself, on small snippets.
mod scanner {
    use super::scan::{self, Target};

    /// Targets of a snippet read as the file of module `module`, with child module `child`.
    fn targets(module: &[&str], src: &str) -> Vec<Target> {
        let module: Vec<String> = module.iter().map(|s| s.to_string()).collect();
        let (tokens, _) = scan::strip_tests(&scan::tokenize(src)).unwrap();
        let names = scan::names(&tokens);
        let r = scan::Resolver::new(&module, &names);
        names.paths.iter().map(|p| r.resolve(p)).collect()
    }

    fn krate(p: &str) -> Target {
        Target::Crate(
            p.split("::")
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
        )
    }

    #[test]
    fn grouped_use_tree_yields_every_leaf() {
        let t = targets(
            &["dns", "handler"],
            "pub(crate) use crate::a::{b, c::{d, self as e}, f::*};\nuse super::wire::{to_wire};",
        );
        let want = ["a::b", "a::c::d", "a::c", "a::f", "dns::wire::to_wire"];
        assert_eq!(t, want.map(krate));
    }

    #[test]
    fn inline_paths_and_bound_names_resolve() {
        let src = "mod child;\nuse crate::zone::store;\nfn f() { crate::zone::store::generation(); super::super::x::y(); store::bump(); child::go(); std::mem::drop(1); a.b::<u8>(); S { ..store::zero() }; }";
        let t = targets(&["dns", "udp"], src);
        let want = [
            krate("zone::store"),
            krate("zone::store::generation"),
            krate("x::y"),
            krate("zone::store::bump"),
            krate("dns::udp::child::go"),
            Target::Outside("std".into()),
            krate("zone::store::zero"),
        ];
        assert_eq!(t, want);
    }

    #[test]
    fn comments_strings_and_pub_in_make_no_paths() {
        let src = "/// see crate::a::b\n/* crate::c::d /* nested */ crate::e::f */\nconst S: &str = \"crate::x::y\";\nconst R: &str = r#\"crate::{ \"z\" }\"#;\npub(in crate::dns) fn f() {}";
        assert_eq!(targets(&[], src), Vec::new());
    }

    #[test]
    fn cfg_test_items_are_cut_and_test_files_named() {
        let src = "use crate::a::b;\n#[cfg(test)]\nmod tests {\n use crate::c::d;\n}\n#[cfg(test)]\nmod more;\n";
        let (tokens, test_mods) = scan::strip_tests(&scan::tokenize(src)).unwrap();
        assert_eq!(test_mods, ["more"]);
        assert!(tokens.iter().all(|t| t.text != "d"));
        assert!(scan::strip_tests(&scan::tokenize("#![cfg(test)]\nfn f() {}")).is_none());
    }

    #[test]
    fn kube_crate_is_told_from_kube_module_and_kube_source() {
        let src = "use crate::source::kube;\nfn f() { kube::spawn(); kube_source::x(); my.kube::<u8>(); }";
        assert!(!targets(&[], src).contains(&Target::Outside("kube".into())));
        assert!(targets(&["app"], "use kube::Client;").contains(&Target::Outside("kube".into())));
        assert!(targets(&["app"], "fn f() -> ::kube::Error { todo!() }")
            .contains(&Target::Outside("kube".into())));
    }

    /// Every file of `src/` (test files too) tokenizes to balanced brackets: a misread char,
    /// lifetime, string or comment would show here first.
    #[test]
    fn every_src_file_has_balanced_brackets() {
        let mut paths = Vec::new();
        super::rs_files(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut paths,
        );
        for path in paths {
            let mut stack = Vec::new();
            for t in scan::tokenize(&std::fs::read_to_string(&path).unwrap()) {
                match t.text.as_str() {
                    "(" | "[" | "{" => stack.push(t.text),
                    ")" | "]" | "}" => {
                        let open = stack.pop().unwrap_or_default();
                        let pair = format!("{open}{}", t.text);
                        assert!(
                            ["()", "[]", "{}"].contains(&pair.as_str()),
                            "{}:{}",
                            path.display(),
                            t.line
                        );
                    }
                    _ => {}
                }
            }
            assert!(stack.is_empty(), "{}: unclosed {stack:?}", path.display());
        }
    }

    #[test]
    fn chars_lifetimes_and_raw_strings_keep_braces_balanced() {
        let src = "fn a<'a>(x: &'a str) -> char {\n    let _ = r#\"}}\"#;\n    let _ = '{';\n    let _ = '\\'';\n    '}'\n}\n\n// }\nfn b() {}\n";
        let f = scan::functions(&scan::tokenize(src));
        assert_eq!(
            f.iter()
                .map(|f| (f.name.as_str(), f.line, f.end))
                .collect::<Vec<_>>(),
            [("a", 1, 6), ("b", 9, 9)]
        );
    }

    #[test]
    fn methods_are_named_by_their_impl_and_code_lines_skip_comments() {
        let src = "impl<T> fmt::Display for Router<T> where T: X {\n    fn run(&self) {\n        // note\n\n        go();\n    }\n}\n";
        let tokens = scan::tokenize(src);
        let f = scan::functions(&tokens);
        assert_eq!(
            (f[0].name.as_str(), f[0].line, f[0].end),
            ("Router::run", 2, 6)
        );
        assert_eq!(
            scan::code_lines(&tokens).into_iter().collect::<Vec<_>>(),
            [1, 2, 5, 6, 7]
        );
    }
}

/// The file graph, for reading: `cargo test --test architecture -- --ignored --nocapture graph`.
#[test]
#[ignore = "prints the graph; no check"]
fn graph() {
    for f in load().iter().filter(|f| !f.test) {
        let to: BTreeSet<&str> = f.edges().map(|e| e.2).collect();
        println!(
            "{} -> {}",
            f.rel,
            to.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
}
