//! The docs read where users read them: the README on a repository page
//! (its code blocks are compiled and run as the facade's doctests), and
//! every rustdoc example in the paths of the `memocache` crate users
//! depend on, never those of the crates behind it.

use std::fs;
use std::path::{Path, PathBuf};

/// A fenced code block: where it starts, its info string, its lines.
struct Block {
    start: usize,
    info: String,
    lines: Vec<String>,
}

/// The fenced code blocks of `lines` (Markdown text, doc-comment markers
/// already stripped).
fn blocks(lines: &[String]) -> Vec<Block> {
    let mut found = Vec::new();
    let mut open: Option<Block> = None;
    for (number, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        match (&mut open, trimmed.strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Block {
                    start: number + 1,
                    info: info.trim().to_owned(),
                    lines: Vec::new(),
                });
            }
            (Some(_), Some(_)) => found.extend(open.take()),
            (Some(block), None) => block.lines.push(line.clone()),
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "a code block is not closed");
    found
}

/// Whether a block is Rust that rustdoc compiles (rustdoc's default for
/// an untagged block).
fn is_rust(block: &Block) -> bool {
    let info = block.info.as_str();
    info.is_empty()
        || info
            .split(',')
            .any(|tag| matches!(tag.trim(), "rust" | "no_run" | "should_panic"))
}

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_readme_has_no_hidden_doctest_lines_nor_rustdoc_links() {
    let readme = fs::read_to_string(repository().join("README.md")).expect("README.md");
    let lines: Vec<String> = readme.lines().map(str::to_owned).collect();
    let blocks = blocks(&lines);
    assert!(
        blocks.iter().filter(|b| is_rust(b)).count() >= 10,
        "the README's Rust examples were not found"
    );
    for block in blocks.iter().filter(|b| is_rust(b)) {
        for line in &block.lines {
            let trimmed = line.trim_start();
            assert!(
                !(trimmed == "#" || trimmed.starts_with("# ")),
                "README.md block at line {}: a hidden doctest line shows on a repository page: {line}",
                block.start
            );
        }
    }
    // Outside code: no [`Name`] without a target, no reference definitions.
    let mut in_code = false;
    for (number, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line.as_str();
        while let Some(at) = rest.find("[`") {
            let after = &rest[at..];
            let end = after.find("`]").map(|e| e + 2);
            if let Some(end) = end {
                assert!(
                    after[end..].starts_with('('),
                    "README.md:{}: a rustdoc link shows as brackets on a repository page: {line}",
                    number + 1
                );
                rest = &after[end..];
            } else {
                break;
            }
        }
        assert!(
            !(line.starts_with("[`") && line.contains("]: ")),
            "README.md:{}: a rustdoc link definition: {line}",
            number + 1
        );
    }
}

/// The Rust files under `dir`, recursively.
fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("a source folder") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn rustdoc_examples_use_the_facades_paths() {
    let root = repository();
    let mut files = Vec::new();
    for dir in [
        "src",
        "crates/core/src",
        "crates/backend-memory/src",
        "crates/backend-redis/src",
        "crates/backend-fred/src",
        "crates/redis-plumbing/src",
        "crates/macros/src",
    ] {
        rust_files(&root.join(dir), &mut files);
    }
    let mut examples = 0;
    for file in &files {
        let text = fs::read_to_string(file).expect("a source file");
        let docs: Vec<String> = text
            .lines()
            .map(|line| {
                let trimmed = line.trim_start();
                trimmed
                    .strip_prefix("///")
                    .or_else(|| trimmed.strip_prefix("//!"))
                    .map_or_else(String::new, |doc| {
                        doc.strip_prefix(' ').unwrap_or(doc).to_owned()
                    })
            })
            .collect();
        for block in blocks(&docs).iter().filter(|b| is_rust(b)) {
            examples += 1;
            for line in &block.lines {
                for inner in [
                    "memocache_core",
                    "memocache_memory",
                    "memocache_redis",
                    "memocache_fred",
                    "memocache_macros",
                ] {
                    assert!(
                        !line.contains(inner),
                        "{}: the example at line {} names `{inner}`, which a crate \
                         depending on `memocache` cannot: {line}",
                        file.strip_prefix(&root).unwrap_or(file).display(),
                        block.start
                    );
                }
            }
        }
    }
    assert!(
        examples >= 25,
        "only {examples} rustdoc examples were found"
    );
}

/// The string literals listed in the `const NAME: &[&str] = &[ ... ];`
/// of a source file.
fn listed_strings(source: &str, name: &str) -> Vec<String> {
    let start = source
        .find(&format!("const {name}: &[&str] = &["))
        .unwrap_or_else(|| panic!("no const {name}"));
    let list = &source[start..];
    let list = &list[list.find('[').unwrap() + 1..];
    let list = &list[list.find('[').unwrap() + 1..list.find("];").unwrap()];
    list.split(',')
        .map(|item| item.trim().trim_matches('"').to_owned())
        .filter(|item| !item.is_empty())
        .collect()
}

#[test]
fn the_readme_lists_every_attribute_option_and_environment_variable() {
    let readme = fs::read_to_string(repository().join("README.md")).expect("README.md");
    let options = fs::read_to_string(repository().join("crates/macros/src/options.rs"))
        .expect("the attribute's options");
    let table: Vec<&str> = readme
        .lines()
        .filter(|line| line.starts_with("| `"))
        .collect();
    let options = listed_strings(&options, "OPTIONS");
    assert!(options.len() >= 15, "{options:?}");
    for option in options {
        assert!(
            table.iter().any(|row| row.contains(&format!("`{option}"))),
            "the README's options table lacks `{option}`"
        );
    }

    let config = fs::read_to_string(repository().join("crates/redis-plumbing/src/config/env.rs"))
        .expect("RedisConfig::from_env");
    let mut variables: Vec<&str> = config
        .split('"')
        .filter(|s| {
            s.starts_with("REDIS_") && s.chars().all(|c| c.is_ascii_uppercase() || c == '_')
        })
        .collect();
    variables.sort_unstable();
    variables.dedup();
    assert!(variables.len() >= 10, "{variables:?}");
    for variable in variables {
        assert!(
            readme.contains(&format!("`{variable}`")),
            "the README does not mention `{variable}`, which RedisConfig::from_env reads"
        );
    }
}
