//! The files of a course, read once from a folder or from the binary, so loading works the same on both.

use std::collections::BTreeMap;
use std::path::Path;

use super::Diagnostic;

/// The default course, compiled into the binary so `lectern serve` works with no files beside it.
#[derive(rust_embed::Embed)]
#[folder = "content/"]
#[exclude = "modules/*/lab/tests/*"]
struct EmbeddedCourse;

/// Every file of a course, keyed by its `/`-separated path relative to the course folder.
#[derive(Debug, Clone, Default)]
pub struct CourseFiles {
    files: BTreeMap<String, Vec<u8>>,
}

impl CourseFiles {
    /// The course embedded in the binary.
    pub fn embedded() -> Self {
        let files = EmbeddedCourse::iter()
            .filter_map(|path| {
                let file = EmbeddedCourse::get(&path)?;
                Some((path.into_owned(), file.data.into_owned()))
            })
            .collect();
        Self { files }
    }

    /// Reads every file below `dir`, skipping hidden files and folders (editor swap files, `.git`).
    /// A folder without `course.toml` is not read at all: it is not a course (a build folder, a
    /// home directory), and its files would only bury that one fact under unrelated errors.
    pub fn from_dir(dir: &Path) -> Result<Self, Diagnostic> {
        if dir.is_dir() && !dir.join("course.toml").exists() {
            return Err(Diagnostic::in_file(
                "course.toml",
                format!(
                    "file is missing: {} is not a course folder (a course folder has course.toml with `title` and `description`, and modules/); give the course folder's path",
                    dir.display()
                ),
            ));
        }
        let mut files = BTreeMap::new();
        read_dir_into(dir, dir, &mut files)?;
        Ok(Self { files })
    }

    /// Builds a course from in-memory files (tests, tools).
    pub fn from_map(files: BTreeMap<String, Vec<u8>>) -> Self {
        Self { files }
    }

    /// The raw bytes of a file.
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    /// Whether the course has this file.
    pub fn contains(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }

    /// All paths, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// A file as UTF-8 text, or a diagnostic saying why it is not.
    pub fn text(&self, path: &str) -> Result<&str, Diagnostic> {
        let bytes = self
            .get(path)
            .ok_or_else(|| Diagnostic::in_file(path, "file is missing"))?;
        std::str::from_utf8(bytes).map_err(|e| {
            let text = String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned();
            Diagnostic::at(path, &text, text.len(), "file is not valid UTF-8")
        })
    }
}

fn read_dir_into(
    root: &Path,
    dir: &Path,
    files: &mut BTreeMap<String, Vec<u8>>,
) -> Result<(), Diagnostic> {
    let label = |p: &Path| {
        p.strip_prefix(root)
            .unwrap_or(p)
            .to_string_lossy()
            .replace('\\', "/")
    };
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Diagnostic::in_file(
            &dir.display().to_string(),
            format!("cannot read course folder: {e}"),
        )
    })?;
    for entry in entries {
        let entry = entry.map_err(|e| {
            Diagnostic::in_file(&dir.display().to_string(), format!("cannot read: {e}"))
        })?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            read_dir_into(root, &path, files)?;
        } else {
            match std::fs::read(&path) {
                Ok(bytes) => {
                    files.insert(label(&path), bytes);
                }
                // Gone between listing and reading (a database journal, an editor's swap file):
                // it is not part of the course.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Diagnostic::in_file(
                        &label(&path),
                        format!("cannot read: {e}"),
                    ));
                }
            }
        }
    }
    Ok(())
}
