//! Every Corefile shown to users loads: the ```` ```corefile ```` blocks of README.md and
//! docs/*.md, Corefile.example, and the Corefile in deploy/configmap.yaml.
use std::path::{Path, PathBuf};

use kdns::config::load_str;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The ```` ```corefile ```` blocks of a Markdown file, with the line each starts on.
fn blocks(md: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(usize, String)> = None;
    for (i, line) in md.lines().enumerate() {
        match &mut cur {
            None if line.trim_start().starts_with("```corefile") => {
                cur = Some((i + 2, String::new()))
            }
            Some(_) if line.trim_start().starts_with("```") => out.extend(cur.take()),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    out
}

fn check(file: &Path, line: usize, text: &str) -> Result<(), String> {
    // Examples name ports that may be taken and files like /etc/resolv.conf: only loading is
    // checked, nothing is served.
    load_str(text, file, 53).map(|_| ()).map_err(|e| {
        format!(
            "{}:{line}: example does not load: {e}\n{text}",
            file.display()
        )
    })
}

#[test]
fn every_corefile_example_loads() {
    let mut files = vec![root().join("README.md")];
    if let Ok(d) = std::fs::read_dir(root().join("docs")) {
        let mut docs: Vec<PathBuf> = d
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "md"))
            .collect();
        docs.sort();
        files.extend(docs);
    }
    let mut errors = Vec::new();
    let mut count = 0;
    for f in &files {
        let md = std::fs::read_to_string(f).unwrap();
        for (line, text) in blocks(&md) {
            count += 1;
            if let Err(e) = check(f, line, &text) {
                errors.push(e);
            }
        }
    }
    // Corefile.example names its manifests relative to the repository root.
    let example = root().join("Corefile.example");
    if let Err(e) = check(&example, 1, &std::fs::read_to_string(&example).unwrap()) {
        errors.push(e);
    }
    // The ConfigMap's Corefile: the YAML block under `Corefile: |`.
    let cm = root().join("deploy/configmap.yaml");
    if let Ok(yaml) = std::fs::read_to_string(&cm) {
        let body: String = yaml
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("Corefile: |"))
            .skip(1)
            .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
            .collect();
        assert!(
            body.contains("kubernetes"),
            "no Corefile in {}",
            cm.display()
        );
        count += 1;
        if let Err(e) = check(&cm, 1, &body) {
            errors.push(e);
        }
    }
    println!("{count} Corefile examples checked");
    assert!(
        count >= 7,
        "the README shows at least seven Corefiles, found {count}"
    );
    assert!(errors.is_empty(), "{}", errors.join("\n\n"));
}

#[test]
fn a_broken_example_would_be_caught() {
    let md = "x\n```corefile\n.:53 {\n    forward .\n}\n```\n";
    let b = blocks(md);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].0, 3);
    let e = check(Path::new("README.md"), b[0].0, &b[0].1).unwrap_err();
    assert!(e.contains("forward: expects at least one upstream"), "{e}");
}
