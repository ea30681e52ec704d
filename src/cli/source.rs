//! A function's source for `deploy`: one handler file, or the text files of a folder; the
//! runtime they imply and the callback path their name suggests.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::error::CliError;
use crate::model::Runtime;

/// Most files one deploy may carry (the contract's limit, SPEC 2.1).
pub const MAX_FILES: usize = 64;
/// The settings file read beside the code; it is never sent as source.
pub const SETTINGS_FILE: &str = "faas.json";
/// Folders never sent: installed dependencies and bytecode caches (the image builds its own).
const SKIPPED_DIRS: [&str; 2] = ["node_modules", "__pycache__"];

/// What was read from disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// Relative path (with `/`) → text.
    pub files: BTreeMap<String, String>,
    /// One file was named (not a folder); `files` holds exactly that file.
    pub single_file: bool,
    /// The name the default path derives from: the folder's, or the file's stem (the folder's
    /// for a file named `handler.*`).
    pub name: String,
    /// Where `faas.json` is looked for.
    pub settings_dir: PathBuf,
    /// Files left out because they are not UTF-8 text, or are links to folders.
    pub skipped: Vec<String>,
}

/// Reads a handler file or a folder.
pub fn read(path: &Path) -> Result<Source, CliError> {
    let meta = fs::metadata(path).map_err(|e| unreadable(path, &e))?;
    if meta.is_dir() {
        read_dir(path)
    } else {
        read_file(path)
    }
}

fn read_file(path: &Path) -> Result<Source, CliError> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| CliError::Usage(format!("{} names no file", path.display())))?;
    let bytes = fs::read(path).map_err(|e| unreadable(path, &e))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| CliError::Usage(format!("{} is not UTF-8 text", path.display())))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let stem = file_stem(&file_name);
    let name = if stem == "handler" {
        folder_name(&parent)
    } else {
        stem.to_owned()
    };
    Ok(Source {
        files: BTreeMap::from([(file_name, text)]),
        single_file: true,
        name,
        settings_dir: parent,
        skipped: Vec::new(),
    })
}

fn read_dir(root: &Path) -> Result<Source, CliError> {
    let mut source = Source {
        files: BTreeMap::new(),
        single_file: false,
        name: folder_name(root),
        settings_dir: root.to_path_buf(),
        skipped: Vec::new(),
    };
    walk(root, "", &mut source)?;
    Ok(source)
}

/// Adds the text files under `dir` (relative prefix `rel`), in name order; dot-entries,
/// `node_modules` and `__pycache__` are left out, and links to folders are not followed.
fn walk(dir: &Path, rel: &str, source: &mut Source) -> Result<(), CliError> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(|e| unreadable(dir, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| unreadable(dir, &e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel_path = format!("{rel}{name}");
        let path = entry.path();
        if name.starts_with('.') || (rel.is_empty() && name == SETTINGS_FILE) {
            continue;
        }
        let file_type = entry.file_type().map_err(|e| unreadable(&path, &e))?;
        let is_link = file_type.is_symlink();
        let meta = fs::metadata(&path).map_err(|e| unreadable(&path, &e))?;
        if meta.is_dir() {
            if is_link {
                source
                    .skipped
                    .push(format!("{rel_path}/ (a link to a folder)"));
            } else if !SKIPPED_DIRS.contains(&name.as_str()) {
                walk(&path, &format!("{rel_path}/"), source)?;
            }
            continue;
        }
        let bytes = fs::read(&path).map_err(|e| unreadable(&path, &e))?;
        match String::from_utf8(bytes) {
            Ok(text) => {
                source.files.insert(rel_path, text);
            }
            Err(_) => source.skipped.push(format!("{rel_path} (not UTF-8 text)")),
        }
        if source.files.len() > MAX_FILES {
            return Err(CliError::Usage(format!(
                "{} holds more than {MAX_FILES} files, the most one deploy takes \
                 (dot-entries, node_modules and __pycache__ are already left out)",
                source.settings_dir.display()
            )));
        }
    }
    Ok(())
}

fn unreadable(path: &Path, e: &std::io::Error) -> CliError {
    CliError::Usage(format!("cannot read {}: {e}", path.display()))
}

/// A folder's own name, also for `.` and `..` (resolved against the working directory).
fn folder_name(dir: &Path) -> String {
    let resolved = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    resolved
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `handler.py` → `handler`.
pub fn file_stem(file_name: &str) -> &str {
    file_name
        .rsplit_once('.')
        .map_or(file_name, |(stem, _)| stem)
}

/// The runtime a handler file's extension names.
pub fn runtime_of_file(file_name: &str) -> Option<Runtime> {
    let ext = file_name.rsplit_once('.')?.1;
    Runtime::ALL.into_iter().find(|rt| rt.extension() == ext)
}

/// The runtime of a folder's files: the one whose handler module exists (`handler` names it,
/// default `handler.handle`), else the one whose dependency manifest exists, else the only
/// language among the files. `None` when that does not single one out.
pub fn infer_runtime(files: &BTreeMap<String, String>, handler: Option<&str>) -> Option<Runtime> {
    let module = handler
        .and_then(|h| h.rsplit_once('.'))
        .map_or_else(|| "handler".to_owned(), |(m, _)| m.replace('.', "/"));
    let only = |has: &dyn Fn(Runtime) -> bool| -> Option<Runtime> {
        let found: Vec<Runtime> = Runtime::ALL.into_iter().filter(|rt| has(*rt)).collect();
        match found.as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    };
    only(&|rt| files.contains_key(&format!("{module}.{}", rt.extension())))
        .or_else(|| only(&|rt| files.contains_key(rt.manifest())))
        .or_else(|| only(&|rt| files.keys().any(|f| runtime_of_file(f) == Some(rt))))
}

/// A name turned into a callback path (a DNS label): lower case, runs of other characters as
/// one `-`, starting with a letter (`fn-` before a leading digit), at most 63 characters.
pub fn dns_label(name: &str) -> Option<String> {
    let mut label = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            label.push(c);
        } else if !label.is_empty() && !label.ends_with('-') {
            label.push('-');
        }
    }
    if label.starts_with(|c: char| c.is_ascii_digit()) {
        label.insert_str(0, "fn-");
    }
    label.truncate(63);
    let label = label.trim_end_matches('-');
    (!label.is_empty()).then(|| label.to_owned())
}

/// Whether `s` can be a Python / Node module name in a handler (`[A-Za-z_][A-Za-z0-9_]*`).
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, bytes: &[u8]) {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(path, bytes).expect("write");
    }

    fn files(names: &[&str]) -> BTreeMap<String, String> {
        names
            .iter()
            .map(|n| ((*n).to_owned(), String::new()))
            .collect()
    }

    #[test]
    fn a_folder_gives_its_text_files_but_not_hidden_dependency_or_cache_folders() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("My_Stats");
        write(&dir, "handler.py", b"def handle(e, c): pass\n");
        write(&dir, "requirements.txt", b"six\n");
        write(&dir, "app/util.py", b"X = 1\n");
        write(&dir, "faas.json", b"{}");
        write(&dir, ".git/config", b"x");
        write(&dir, ".env", b"SECRET=1");
        write(&dir, "node_modules/x/index.js", b"x");
        write(&dir, "app/__pycache__/util.pyc", b"x");
        write(&dir, "logo.png", &[0x89, b'P', b'N', b'G', 0xff, 0]);
        let source = read(&dir).expect("read");
        let names: Vec<&str> = source.files.keys().map(String::as_str).collect();
        assert_eq!(names, ["app/util.py", "handler.py", "requirements.txt"]);
        assert_eq!(source.files["app/util.py"], "X = 1\n");
        assert_eq!(source.skipped, ["logo.png (not UTF-8 text)"]);
        assert!(!source.single_file);
        assert_eq!(source.name, "My_Stats");
        assert_eq!(source.settings_dir, dir);
    }

    #[test]
    fn a_folder_over_the_file_limit_is_refused() {
        let tmp = tempfile::tempdir().expect("tmp");
        for i in 0..=MAX_FILES {
            write(tmp.path(), &format!("m{i}.py"), b"");
        }
        let e = read(tmp.path()).expect_err("too many");
        assert!(e.to_string().contains("more than 64 files"), "{e}");
        write(tmp.path(), "m0.py", b"");
        fs::remove_file(tmp.path().join("m1.py")).expect("rm");
        assert_eq!(read(tmp.path()).expect("64 is fine").files.len(), MAX_FILES);
    }

    #[test]
    fn a_file_is_named_by_its_stem_or_for_handler_files_by_its_folder() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("greeter");
        write(&dir, "handler.js", b"exports.handle = () => 1;\n");
        write(&dir, "resize_image.py", b"def handle(e, c): pass\n");
        let handler = read(&dir.join("handler.js")).expect("read");
        assert!(handler.single_file);
        assert_eq!(handler.name, "greeter");
        assert_eq!(handler.settings_dir, dir);
        let named = read(&dir.join("resize_image.py")).expect("read");
        assert_eq!(named.name, "resize_image");
        let only: Vec<&str> = named.files.keys().map(String::as_str).collect();
        assert_eq!(only, ["resize_image.py"]);
    }

    #[test]
    fn a_missing_source_is_a_usage_error() {
        let e = read(Path::new("/nonexistent/fn")).expect_err("missing");
        assert!(matches!(e, CliError::Usage(_)), "{e:?}");
    }

    #[test]
    fn the_runtime_follows_the_handler_then_the_manifest_then_the_only_language() {
        assert_eq!(
            infer_runtime(&files(&["handler.py", "x.js"]), None),
            Some(Runtime::Python)
        );
        assert_eq!(
            infer_runtime(&files(&["handler.js", "package.json"]), None),
            Some(Runtime::Node)
        );
        assert_eq!(
            infer_runtime(
                &files(&["app/main.js", "handler.py"]),
                Some("app.main.handle")
            ),
            Some(Runtime::Node)
        );
        assert_eq!(
            infer_runtime(
                &files(&["handler.py", "handler.js", "requirements.txt"]),
                None
            ),
            Some(Runtime::Python)
        );
        assert_eq!(
            infer_runtime(&files(&["main.js", "lib.js"]), None),
            Some(Runtime::Node)
        );
        assert_eq!(infer_runtime(&files(&["a.py", "b.js"]), None), None);
        assert_eq!(infer_runtime(&files(&["README.md"]), None), None);
    }

    #[test]
    fn names_become_dns_labels() {
        assert_eq!(dns_label("hello").as_deref(), Some("hello"));
        assert_eq!(dns_label("My_Stats.v2").as_deref(), Some("my-stats-v2"));
        assert_eq!(dns_label("--a  b--").as_deref(), Some("a-b"));
        assert_eq!(dns_label("2fa").as_deref(), Some("fn-2fa"));
        assert_eq!(dns_label("___"), None);
        let long = dns_label(&"ab-".repeat(40)).expect("label");
        assert!(long.len() <= 63 && !long.ends_with('-'), "{long}");
    }

    #[test]
    fn identifiers_and_extensions() {
        assert!(is_identifier("resize_image"));
        assert!(!is_identifier("my-func"));
        assert!(!is_identifier("2x"));
        assert_eq!(runtime_of_file("a.py"), Some(Runtime::Python));
        assert_eq!(runtime_of_file("a.js"), Some(Runtime::Node));
        assert_eq!(runtime_of_file("a.rb"), None);
        assert_eq!(file_stem("handler.py"), "handler");
    }
}
