//! Loads and validates a course: metadata, modules, lab steps and questions, from a folder or the binary.
//!
//! A course folder looks like this (the README's authoring guide explains every key):
//!
//! ```text
//! course.toml                         title, description
//! modules/01-cluster-architecture/
//!   module.toml                       title, summary, duration, objectives, [lab]
//!   module.md                         the reading; {{lab}} and {{questions}} mark where those go
//!   lab/01-create-cluster.md          one file per lab step: +++ front matter +++ then Markdown
//!   questions.toml                    [[questions]]: open, single or multiple choice
//! ```
//!
//! Loading never stops at the first mistake: it collects every [`Diagnostic`] it can find. Markdown-level
//! checks (links, anchors, markers) happen in [`crate::render`], which sees the rendered headings.

mod checks;
mod diagnostics;
mod files;
mod ids;
mod questions;
mod schema;

use std::collections::{BTreeSet, HashMap};

use serde::de::DeserializeOwned;
use toml::Spanned;

pub use checks::{
    AccessCheck, AccessTarget, Check, CheckKind, CheckSpec, CountCheck, EventCheck, FieldAssertion,
    FieldTest, HealthCheck, HealthEndpoint, Held, ObjectRef, PathSegment, ResourceCheck, Subject,
    VersionCheck, split_selector_terms,
};
pub use diagnostics::{Diagnostic, InvalidCourse, line_column};
pub use files::CourseFiles;

/// The folder within a lab folder that holds its tests (`lectern lab test`), not steps.
pub const LAB_TESTS: &str = "tests/";
pub use ids::{LabId, ModuleId, QuestionId, StepId};
pub use questions::{Choice, Criterion, Question, QuestionKind};

use schema::{CourseToml, LabToml, ModuleToml, StepFrontMatter};

/// A loaded course: everything the renderer needs, in order.
#[derive(Debug, Clone)]
pub struct Course {
    /// Shown in the header and on the home page.
    pub title: String,
    /// One paragraph for the home page.
    pub description: String,
    /// Ordered by their folder number.
    pub modules: Vec<Module>,
    /// All files, so images and downloads referenced from Markdown can be served.
    pub files: CourseFiles,
}

impl Course {
    /// The module with this id.
    pub fn module(&self, id: &str) -> Option<&Module> {
        self.modules.iter().find(|m| m.id.as_ref() == id)
    }

    /// A question of a module, by their ids.
    pub fn question(&self, module_id: &str, question_id: &str) -> Option<(&Module, &Question)> {
        let module = self.module(module_id)?;
        let question = module
            .questions
            .iter()
            .find(|q| q.id.as_ref() == question_id)?;
        Some((module, question))
    }

    /// A lab (and its module) by the lab's id.
    pub fn lab(&self, lab_id: &str) -> Option<(&Module, &Lab)> {
        self.modules.iter().find_map(|m| {
            m.lab
                .as_ref()
                .filter(|l| l.id.as_ref() == lab_id)
                .map(|l| (m, l))
        })
    }

    /// A step of a lab, by the lab's and the step's ids.
    pub fn lab_step(&self, lab_id: &str, step_id: &str) -> Option<(&Lab, &Step)> {
        let (_, lab) = self.lab(lab_id)?;
        let step = lab.steps.iter().find(|s| s.id.as_ref() == step_id)?;
        Some((lab, step))
    }
}

/// Markdown with the place it came from, so rendering errors can name file and line.
#[derive(Debug, Clone)]
pub struct MarkdownSource {
    /// Course-relative path of the file holding this text.
    pub file: String,
    /// The Markdown itself.
    pub text: String,
    /// Line of the file on which `text` starts (1-based).
    pub first_line: usize,
    /// For text taken from a TOML string whose lines do not follow the file's one for one (a
    /// line-ending backslash joins source lines; a `\n` escape splits one): the file's line of each
    /// of `text`'s lines. Empty when they follow from `first_line`.
    pub line_map: Vec<usize>,
}

impl MarkdownSource {
    /// Locates a byte offset into `text` in the file it came from.
    pub fn diagnostic(&self, offset: usize, message: impl Into<String>) -> Diagnostic {
        let (line, column) = line_column(&self.text, offset);
        Diagnostic {
            file: self.file.clone(),
            line: self
                .line_map
                .get(line - 1)
                .copied()
                .unwrap_or(line + self.first_line - 1),
            column,
            message: message.into(),
        }
    }
}

/// One module: a reading, optionally a lab and assessment questions.
#[derive(Debug, Clone)]
pub struct Module {
    /// From the folder name (`01-…`): orders modules and appears as "Module 01".
    pub number: u32,
    /// From the folder name (`…-cluster-architecture`): the URL segment.
    pub id: ModuleId,
    /// Course-relative folder, e.g. `modules/01-cluster-architecture`.
    pub dir: String,
    /// The module's title.
    pub title: String,
    /// One or two sentences for the course home.
    pub summary: String,
    /// How long the module takes, reading and lab together.
    pub duration_minutes: u32,
    /// What a learner can do afterwards.
    pub objectives: Vec<String>,
    /// `module.md`.
    pub text: MarkdownSource,
    /// The hands-on lab, if the module has one.
    pub lab: Option<Lab>,
    /// Assessment questions, in file order.
    pub questions: Vec<Question>,
    /// Whether the module has a `questions.toml`, even one with errors (which are reported
    /// themselves; `{{questions}}` is then not the mistake).
    pub has_questions_file: bool,
}

/// A hands-on lab: numbered steps a learner carries out on their cluster.
#[derive(Debug, Clone)]
pub struct Lab {
    /// Unique across the course; what `lectern lab check` takes.
    pub id: LabId,
    /// Heading of the lab section.
    pub title: String,
    /// Optional Markdown shown before the first step.
    pub intro: Option<MarkdownSource>,
    /// Ordered by file number.
    pub steps: Vec<Step>,
}

/// One lab step, from `lab/NN-id.md`.
#[derive(Debug, Clone)]
pub struct Step {
    /// From the file name; shown as "Step N".
    pub number: u32,
    /// From the file name; unique within the lab.
    pub id: StepId,
    /// From the front matter.
    pub title: String,
    /// The instructions.
    pub text: MarkdownSource,
    /// What "Check my work" verifies, in order.
    pub checks: Vec<Check>,
}

/// Loads a course and validates its structure; Markdown is checked when it is rendered.
pub fn load(files: CourseFiles) -> Result<Course, InvalidCourse> {
    let (course, diagnostics) = load_collecting(files);
    if diagnostics.is_empty() {
        Ok(course)
    } else {
        Err(InvalidCourse(diagnostics))
    }
}

/// Loads as much of the course as is valid, with every mistake found on the way.
///
/// The renderer continues from the partial course so that `lectern validate` reports all errors at once.
pub fn load_collecting(files: CourseFiles) -> (Course, Vec<Diagnostic>) {
    let mut loader = Loader {
        files: &files,
        diagnostics: Vec::new(),
    };
    let meta = loader.course_toml();
    let modules = loader.modules();
    let mut diagnostics = loader.diagnostics;
    diagnostics.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    let (title, description) = meta.map_or_else(Default::default, |m| (m.title, m.description));
    let course = Course {
        title,
        description,
        modules,
        files,
    };
    (course, diagnostics)
}

const COURSE_TOML: &str = "course.toml";
const MODULES_DIR: &str = "modules/";

struct Loader<'a> {
    files: &'a CourseFiles,
    diagnostics: Vec<Diagnostic>,
}

impl Loader<'_> {
    fn error(&mut self, file: &str, text: &str, offset: usize, message: impl Into<String>) {
        self.diagnostics
            .push(Diagnostic::at(file, text, offset, message));
    }

    fn text(&mut self, path: &str) -> Option<String> {
        match self.files.text(path) {
            Ok(text) => Some(text.to_owned()),
            Err(d) => {
                self.diagnostics.push(d);
                None
            }
        }
    }

    /// Parses TOML that starts at `offset` within `file_text` (non-zero for front matter).
    fn toml<T: DeserializeOwned>(
        &mut self,
        file: &str,
        file_text: &str,
        toml: &str,
        offset: usize,
    ) -> Option<T> {
        match toml::from_str(toml) {
            Ok(value) => Some(value),
            Err(e) => {
                let (at, message) = first_syntax_error(toml)
                    .unwrap_or((e.span().map_or(0, |s| s.start), e.message().to_owned()));
                self.error(file, file_text, offset + at, message.trim_end().to_owned());
                None
            }
        }
    }

    fn course_toml(&mut self) -> Option<CourseToml> {
        if !self.files.contains(COURSE_TOML) {
            self.diagnostics.push(Diagnostic::in_file(
                COURSE_TOML,
                "file is missing: a course folder needs course.toml with `title` and `description`",
            ));
            return None;
        }
        let text = self.text(COURSE_TOML)?;
        self.toml(COURSE_TOML, &text, &text, 0)
    }

    fn modules(&mut self) -> Vec<Module> {
        let dirs: BTreeSet<String> = self
            .files
            .paths()
            .filter_map(|p| p.strip_prefix(MODULES_DIR))
            .filter_map(|rest| rest.split_once('/').map(|(dir, _)| dir.to_owned()))
            .collect();
        if dirs.is_empty() {
            self.diagnostics.push(Diagnostic::in_file(
                MODULES_DIR,
                "the course has no modules: add a folder such as modules/01-introduction/ with module.toml and module.md",
            ));
        }
        let mut modules: Vec<Module> = dirs.iter().filter_map(|d| self.module(d)).collect();
        modules.sort_by_key(|m| m.number);
        self.check_unique(
            modules
                .iter()
                .map(|m| (m.number.to_string(), m.dir.clone())),
            "module number",
        );
        self.check_unique(
            modules.iter().map(|m| (m.id.to_string(), m.dir.clone())),
            "module id",
        );
        let labs: Vec<(String, String)> = modules
            .iter()
            .filter_map(|m| {
                Some((
                    m.lab.as_ref()?.id.to_string(),
                    format!("{}/module.toml", m.dir),
                ))
            })
            .collect();
        self.check_unique(labs.into_iter(), "lab id");
        modules
    }

    /// Reports every value that appears twice, at the place of its second use.
    fn check_unique(&mut self, items: impl Iterator<Item = (String, String)>, what: &str) {
        let mut seen: HashMap<String, String> = HashMap::new();
        for (value, place) in items {
            if let Some(first) = seen.get(&value) {
                self.diagnostics.push(Diagnostic::in_file(
                    &place,
                    format!("duplicate {what} `{value}`: already used by {first}"),
                ));
            } else {
                seen.insert(value, place);
            }
        }
    }

    fn module(&mut self, dir_name: &str) -> Option<Module> {
        let dir = format!("{MODULES_DIR}{dir_name}");
        let (number, id) = match ids::split_numbered(dir_name) {
            Ok(parts) => parts,
            Err(e) => {
                self.diagnostics
                    .push(Diagnostic::in_file(&dir, format!("module folder {e}")));
                return None;
            }
        };
        let id = ModuleId::parse(id).ok()?;
        let toml_path = format!("{dir}/module.toml");
        let md_path = format!("{dir}/module.md");
        for required in [&toml_path, &md_path] {
            if !self.files.contains(required) {
                self.diagnostics.push(Diagnostic::in_file(
                    required,
                    "file is missing: every module folder needs module.toml and module.md",
                ));
            }
        }
        self.unknown_files(&dir);
        let toml_text = self.text(&toml_path)?;
        let meta: ModuleToml = self.toml(&toml_path, &toml_text, &toml_text, 0)?;
        let md_text = self.text(&md_path)?;
        if *meta.duration_minutes.get_ref() == 0 {
            self.error(
                &toml_path,
                &toml_text,
                meta.duration_minutes.span().start,
                "duration_minutes must be more than 0",
            );
        }
        if meta.objectives.get_ref().is_empty() {
            self.error(
                &toml_path,
                &toml_text,
                meta.objectives.span().start,
                "list at least one learning objective",
            );
        }
        let lab = self.lab(&dir, meta.lab, &toml_path, &toml_text);
        let (questions, has_questions_file) = self.questions(&dir);
        Some(Module {
            number,
            id,
            dir,
            title: meta.title,
            summary: meta.summary,
            duration_minutes: meta.duration_minutes.into_inner(),
            objectives: meta.objectives.into_inner(),
            text: MarkdownSource {
                file: md_path,
                text: md_text,
                first_line: 1,
                line_map: Vec::new(),
            },
            lab,
            questions,
            has_questions_file,
        })
    }

    /// TOML files the format does not define are almost always typos (`question.toml`), so they are errors.
    fn unknown_files(&mut self, dir: &str) {
        let prefix = format!("{dir}/");
        let unknown: Vec<String> = self
            .files
            .paths()
            .filter_map(|p| p.strip_prefix(&prefix))
            .filter(|rest| {
                rest.ends_with(".toml")
                    && !matches!(*rest, "module.toml" | "questions.toml")
                    && !rest.starts_with(&format!("lab/{LAB_TESTS}"))
            })
            .map(|rest| format!("{prefix}{rest}"))
            .collect();
        for path in unknown {
            self.diagnostics.push(Diagnostic::in_file(
                &path,
                "unknown file: a module folder has module.toml, module.md, questions.toml and lab/NN-step.md files",
            ));
        }
    }

    fn lab(
        &mut self,
        dir: &str,
        meta: Option<LabToml>,
        toml_path: &str,
        toml_text: &str,
    ) -> Option<Lab> {
        let prefix = format!("{dir}/lab/");
        let step_files: Vec<String> = self
            .files
            .paths()
            .filter(|p| p.starts_with(&prefix) && !p[prefix.len()..].starts_with(LAB_TESTS))
            .map(str::to_owned)
            .collect();
        let Some(meta) = meta else {
            if let Some(first) = step_files.first() {
                self.diagnostics.push(Diagnostic::in_file(
                    first,
                    format!("lab step without a lab: add a [lab] table with `id` and `title` to {toml_path}"),
                ));
            }
            return None;
        };
        let id = match LabId::parse(meta.id.get_ref()) {
            Ok(id) => Some(id),
            Err(e) => {
                self.error(toml_path, toml_text, meta.id.span().start, e);
                None
            }
        };
        let intro = meta
            .intro
            .map(|s| self.toml_markdown(toml_path, toml_text, s));
        let mut steps: Vec<Step> = Vec::new();
        for path in &step_files {
            if let Some(step) = self.step(path) {
                steps.push(step);
            }
        }
        if step_files.is_empty() {
            self.error(
                toml_path,
                toml_text,
                meta.id.span().start,
                format!("the lab has no steps: add files such as {prefix}01-first-step.md"),
            );
        }
        steps.sort_by_key(|s| s.number);
        self.check_unique(
            steps
                .iter()
                .map(|s| (s.number.to_string(), s.text.file.clone())),
            "step number",
        );
        self.check_unique(
            steps
                .iter()
                .map(|s| (s.id.to_string(), s.text.file.clone())),
            "step id",
        );
        let check_ids: Vec<(String, String)> = steps
            .iter()
            .flat_map(|s| s.checks.iter().map(|c| (c.id.clone(), s.text.file.clone())))
            .collect();
        self.check_unique(check_ids.into_iter(), "check id");
        Some(Lab {
            id: id?,
            title: meta.title,
            intro,
            steps,
        })
    }

    fn step(&mut self, path: &str) -> Option<Step> {
        let name = path.rsplit('/').next().unwrap_or(path);
        let Some(stem) = name.strip_suffix(".md") else {
            self.diagnostics.push(Diagnostic::in_file(
                path,
                "lab folders hold only step files named NN-step-id.md",
            ));
            return None;
        };
        let (number, id) = match ids::split_numbered(stem) {
            Ok(parts) => parts,
            Err(e) => {
                self.diagnostics
                    .push(Diagnostic::in_file(path, format!("step file {e}")));
                return None;
            }
        };
        let id = StepId::parse(id).ok()?;
        let text = self.text(path)?;
        let Some((front, front_start, body_start)) = split_front_matter(&text) else {
            self.error(path, &text, 0, "a step file starts with front matter between `+++` lines, e.g. +++\\ntitle = \"Create the cluster\"\\n+++");
            return None;
        };
        let meta: StepFrontMatter = self.toml(path, &text, front, front_start)?;
        let (first_line, _) = line_column(&text, body_start);
        let mut checks = Vec::new();
        let mut earlier = Vec::new();
        for check in meta.checks {
            let at = front_start + check.span().start;
            let check = check.into_inner();
            let id = check.id().to_owned();
            let parsed = check.parse(at, &earlier);
            earlier.push(id);
            match parsed {
                Ok(check) => checks.push(check),
                Err(errors) => {
                    for (offset, message) in errors {
                        let offset = if offset == at {
                            at
                        } else {
                            front_start + offset
                        };
                        self.error(path, &text, offset, message);
                    }
                }
            }
        }
        Some(Step {
            number,
            id,
            checks,
            title: meta.title,
            text: MarkdownSource {
                file: path.to_owned(),
                text: text[body_start..].to_owned(),
                first_line,
                line_map: Vec::new(),
            },
        })
    }

    /// Markdown held in a TOML string: its lines are counted from where the string starts, through
    /// the string's escapes (see [`MarkdownSource::line_map`]).
    fn toml_markdown(&self, path: &str, text: &str, value: Spanned<String>) -> MarkdownSource {
        let start = value.span().start;
        let (string_line, _) = line_column(text, start);
        let line_map = toml_string_lines(&text[start..], string_line);
        MarkdownSource {
            file: path.to_owned(),
            first_line: line_map.first().copied().unwrap_or(string_line),
            text: value.into_inner(),
            line_map,
        }
    }
}

/// The file line of each line of a TOML string's value, given the string's source (from its
/// opening quote) and the line it starts on. Follows TOML's rules: a newline right after an opening
/// `"""` or `'''` is dropped; in basic strings a line-ending backslash removes the newline and the
/// whitespace after it, and a `\n` escape starts a value line without starting a source line.
fn toml_string_lines(source: &str, line: usize) -> Vec<usize> {
    let (delimiter, basic) = if source.starts_with("\"\"\"") {
        ("\"\"\"", true)
    } else if source.starts_with("\'\'\'") {
        ("\'\'\'", false)
    } else if source.starts_with('"') {
        ("\"", true)
    } else {
        ("\'", false)
    };
    let mut rest = &source[delimiter.len()..];
    let mut line = line;
    if delimiter.len() == 3
        && let Some(after) = rest
            .strip_prefix("\r\n")
            .or_else(|| rest.strip_prefix('\n'))
    {
        rest = after;
        line += 1;
    }
    let quote = &delimiter[..1];
    let mut lines = vec![line];
    let mut chars = rest.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let closes =
            rest[at..].starts_with(delimiter) && !rest[at + delimiter.len()..].starts_with(quote);
        match c {
            _ if closes => break,
            '\n' => {
                line += 1;
                lines.push(line);
            }
            '\\' if basic => match chars.peek().map(|&(_, next)| next) {
                Some('n') => {
                    chars.next();
                    lines.push(line);
                }
                Some(' ' | '\t' | '\r' | '\n') => {
                    while let Some(&(_, next)) = chars.peek() {
                        match next {
                            '\n' => line += 1,
                            ' ' | '\t' | '\r' => {}
                            _ => break,
                        }
                        chars.next();
                    }
                }
                _ => {
                    chars.next();
                }
            },
            _ => {}
        }
    }
    lines
}

/// Splits `+++\n<toml>\n+++\n<markdown>` into the TOML, its byte offset, and where the Markdown starts.
fn split_front_matter(text: &str) -> Option<(&str, usize, usize)> {
    let first_end = text.find('\n')?;
    if text[..first_end].trim_end() != "+++" {
        return None;
    }
    let front_start = first_end + 1;
    let mut pos = front_start;
    for line in text[front_start..].split_inclusive('\n') {
        if line.trim_end() == "+++" {
            return Some((&text[front_start..pos], front_start, pos + line.len()));
        }
        pos += line.len();
    }
    None
}

/// The first syntax error of a TOML text, where the parser met it, with the reason said plainly:
/// after a string left open at a line's end the parser goes on and trips over the next line, so
/// the error it reports first is not the author's slip.
fn first_syntax_error(toml: &str) -> Option<(usize, String)> {
    let (_, errors) = toml::de::DeTable::parse_recoverable(toml);
    let first = errors
        .into_iter()
        .min_by_key(|e| e.span().map_or(usize::MAX, |s| s.start))?;
    let at = first.span().map_or(0, |s| s.start);
    let message = if first.message().starts_with("invalid basic string")
        || first.message().starts_with("invalid literal string")
    {
        "unterminated string: a quoted string ends on the line it starts on; for several lines use triple quotes (\"\"\" … \"\"\")".to_owned()
    } else {
        first.message().to_owned()
    };
    Some((at, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_string_lines_follow_escapes_back_to_the_file() {
        // Opening newline dropped; the value's lines are the file's 11, 12, 13.
        assert_eq!(toml_string_lines("\"\"\"\na\nb\nc\"\"\"", 10), [11, 12, 13]);
        // A line-ending backslash joins lines 11 and 12 into one value line.
        assert_eq!(
            toml_string_lines("\"\"\"\none \\\n   two\nthree\"\"\"\nnext = 1", 10),
            [11, 13]
        );
        // `\n` escapes split one source line into several value lines.
        assert_eq!(toml_string_lines("\"a\\nb\\nc\"", 4), [4, 4, 4]);
        // Literal strings have no escapes; a backslash is a backslash.
        assert_eq!(toml_string_lines("\'\'\'\nx \\\ny\'\'\'", 1), [2, 3]);
        // Quotes inside, and a closing delimiter with a quote before it.
        assert_eq!(toml_string_lines("\"\"\"a \"\" b\nc\"\"\"\"", 1), [1, 2]);
        assert_eq!(
            toml_string_lines("\"\"\"a\"\"\"\nb = \"\"\"x\ny\"\"\"", 1),
            [1]
        );
    }

    #[test]
    fn front_matter_is_split_with_offsets() {
        let text = "+++\ntitle = \"x\"\n+++\n# Body\n";
        let (front, start, body) = split_front_matter(text).unwrap();
        assert_eq!(front, "title = \"x\"\n");
        assert_eq!(start, 4);
        assert_eq!(&text[body..], "# Body\n");
        assert!(split_front_matter("title = 1\n").is_none());
        assert!(split_front_matter("+++\ntitle = 1\n").is_none());
    }
}
