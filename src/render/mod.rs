//! Turns a loaded course into HTML once, at load time, so no request parses Markdown.
//!
//! [`build`] is the whole pipeline: load and validate the files ([`crate::content`]), render every
//! module's Markdown ([`markdown`]), insert the lab and the questions where `module.md` places them,
//! then check every internal link against the anchors that now exist. Errors from all stages are
//! returned together.

mod highlight;
mod links;
mod markdown;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use bytes::Bytes;

use askama::Template;

use crate::content::{
    self, Course, CourseFiles, Diagnostic, InvalidCourse, Module, ModuleId, QuestionKind,
};

pub use highlight::Highlighter;
pub use markdown::TocEntry;
pub(crate) use markdown::escape;

use links::LinkResolver;
use markdown::{Directive, PageBuilder, Placement};

/// A course ready to serve: every module's HTML and table of contents.
#[derive(Debug, Clone)]
pub struct RenderedCourse {
    /// The course title.
    pub title: String,
    /// The course description (plain text).
    pub description: String,
    /// In course order.
    pub modules: Vec<RenderedModule>,
    /// The files the course's pages link to or show (images, downloads, linked YAML), by path: the
    /// only files `/files/` serves, so sources, backups and unlinked files never are.
    pub assets: BTreeMap<String, Bytes>,
    /// Those of `assets` that only model answers link to (of questions that keep their model
    /// answer with staff): `/files/` serves them to instructors and admins alone.
    pub staff_assets: BTreeSet<String>,
    /// The loaded course, for the parts later stages need beyond HTML (labs, questions).
    pub course: Course,
}

impl RenderedCourse {
    /// The rendered module with this id.
    pub fn module(&self, id: &str) -> Option<&RenderedModule> {
        self.modules.iter().find(|m| m.id.as_ref() == id)
    }
}

/// One module page's content, rendered.
#[derive(Debug, Clone)]
pub struct RenderedModule {
    /// From the folder name.
    pub number: u32,
    /// URL segment.
    pub id: ModuleId,
    /// Page title.
    pub title: String,
    /// For the course home.
    pub summary: String,
    /// Reading and lab together.
    pub duration_minutes: u32,
    /// Learning objectives.
    pub objectives: Vec<String>,
    /// The article body: reading, lab and questions.
    pub html: String,
    /// Sections for the "On this page" navigation.
    pub toc: Vec<TocEntry>,
    /// Whether the page needs mermaid.js.
    pub has_diagram: bool,
    /// Number of lab steps (0 without a lab).
    pub lab_steps: usize,
    /// Of those, the steps Lectern checks (what progress counts).
    pub checked_steps: usize,
    /// Number of assessment questions.
    pub questions: usize,
    /// What instructors see beside an answer they grade, per question.
    pub grading: Vec<GradingMaterial>,
}

/// A question's prompt and model answer, rendered for the grading page (never shown to learners).
#[derive(Debug, Clone)]
pub struct GradingMaterial {
    /// The question.
    pub question_id: String,
    /// The prompt, as on the module page.
    pub prompt: String,
    /// The model answer (empty for choice questions).
    pub model_answer: String,
}

/// Loads, validates and renders a course, reporting every error in it.
pub fn build(
    files: CourseFiles,
    highlighter: &Highlighter,
) -> Result<RenderedCourse, InvalidCourse> {
    let (course, mut diagnostics) = content::load_collecting(files);
    // A questions.toml that did not load takes its questions' anchors with it: links to them
    // are not mistakes of their own.
    let unloaded: HashSet<ModuleId> = course
        .modules
        .iter()
        .filter(|m| {
            let questions = format!("{}/questions.toml", m.dir);
            diagnostics.iter().any(|d| d.file == questions)
        })
        .map(|m| m.id.clone())
        .collect();
    let (modules, assets, staff_assets, render_diagnostics) =
        render_modules(&course, highlighter, &unloaded);
    diagnostics.extend(render_diagnostics);
    if !diagnostics.is_empty() {
        diagnostics.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        diagnostics.dedup();
        return Err(InvalidCourse(diagnostics));
    }
    Ok(RenderedCourse {
        title: course.title.clone(),
        description: course.description.clone(),
        assets: assets
            .into_iter()
            .filter_map(|path| {
                let bytes = Bytes::copy_from_slice(course.files.get(&path)?);
                Some((path, bytes))
            })
            .collect(),
        staff_assets,
        modules,
        course,
    })
}

/// What [`render_modules`] gives: the pages, every linked file, those only staff may fetch, and
/// the mistakes found.
type RenderedModules = (
    Vec<RenderedModule>,
    BTreeSet<String>,
    BTreeSet<String>,
    Vec<Diagnostic>,
);

fn render_modules(
    course: &Course,
    highlighter: &Highlighter,
    questions_unloaded: &HashSet<ModuleId>,
) -> RenderedModules {
    let links = LinkResolver::new(course);
    let mut diagnostics = Vec::new();
    // Files learners' pages (or model answers shown to them) link to, and those that model answers
    // kept with staff link to.
    let mut learner_assets = BTreeSet::new();
    let mut model_answer_assets = BTreeSet::new();
    let mut anchors: HashMap<ModuleId, HashSet<String>> = HashMap::new();
    let mut pending = Vec::new();
    let mut modules = Vec::new();
    for module in &course.modules {
        let mut page = PageBuilder::new(highlighter, &links);
        let mut rendered = render_module(module, &mut page);
        diagnostics.append(&mut page.diagnostics);
        let mut instructor_page = PageBuilder::new(highlighter, &links);
        let mut model_answers = PageBuilder::new(highlighter, &links);
        rendered.grading = module
            .questions
            .iter()
            .map(|q| GradingMaterial {
                question_id: q.id.to_string(),
                prompt: instructor_page.render(&q.prompt, IN_QUESTION),
                model_answer: q
                    .model_answer
                    .as_ref()
                    .map(|m| {
                        // A model answer shown to learners brings its files along.
                        let builder = if q.show_model_answer {
                            &mut instructor_page
                        } else {
                            &mut model_answers
                        };
                        builder.render(m, IN_QUESTION)
                    })
                    .unwrap_or_default(),
            })
            .collect();
        diagnostics.append(&mut instructor_page.diagnostics);
        diagnostics.append(&mut model_answers.diagnostics);
        learner_assets.append(&mut page.assets);
        learner_assets.append(&mut instructor_page.assets);
        model_answer_assets.append(&mut model_answers.assets);
        pending.extend(page.pending.into_iter().map(|p| (module.id.clone(), p)));
        anchors.insert(module.id.clone(), page.anchors);
        modules.push(rendered);
    }
    for (from, link) in pending {
        let target = link.module.unwrap_or(from);
        if link.fragment.starts_with("question-") && questions_unloaded.contains(&target) {
            continue;
        }
        if !anchors
            .get(&target)
            .is_some_and(|a| a.contains(&link.fragment))
        {
            diagnostics.push(Diagnostic {
                message: format!(
                    "link to missing anchor `#{}` on the page of module `{target}`",
                    link.fragment
                ),
                ..link.at
            });
        }
    }
    let staff_assets: BTreeSet<String> = model_answer_assets
        .difference(&learner_assets)
        .cloned()
        .collect();
    let mut assets = learner_assets;
    assets.extend(staff_assets.iter().cloned());
    (modules, assets, staff_assets, diagnostics)
}

const MODULE_TEXT: Placement = Placement {
    heading_shift: 0,
    is_module_text: true,
};
const IN_STEP: Placement = Placement {
    heading_shift: 2,
    is_module_text: false,
};
const IN_QUESTION: Placement = Placement {
    heading_shift: 3,
    is_module_text: false,
};

fn render_module(module: &Module, page: &mut PageBuilder<'_>) -> RenderedModule {
    let text = page.render_with_directives(&module.text, MODULE_TEXT);
    check_directives(module, &text.directives, page);
    let mut html = String::new();
    let mut generated_toc = Vec::new();
    for (i, chunk) in text.html.iter().enumerate() {
        html.push_str(chunk);
        let Some(&(directive, toc_position, _)) = text.directives.get(i) else {
            continue;
        };
        let (section, toc) = match directive {
            Directive::Lab => lab_section(module, page),
            Directive::Questions => questions_section(module, page),
        };
        html.push_str(&section);
        generated_toc.push((toc_position, toc));
    }
    let mut toc = std::mem::take(&mut page.toc);
    for (position, entries) in generated_toc.into_iter().rev() {
        toc.splice(position..position, entries);
    }
    RenderedModule {
        number: module.number,
        id: module.id.clone(),
        title: module.title.clone(),
        summary: module.summary.clone(),
        duration_minutes: module.duration_minutes,
        objectives: module.objectives.clone(),
        html,
        toc,
        has_diagram: page.has_diagram,
        lab_steps: module.lab.as_ref().map_or(0, |l| l.steps.len()),
        checked_steps: module.lab.as_ref().map_or(0, |l| {
            l.steps.iter().filter(|s| !s.checks.is_empty()).count()
        }),
        questions: module.questions.len(),
        grading: Vec::new(),
    }
}

/// Each part the module has must be placed exactly once, and only parts it has may be placed.
fn check_directives(
    module: &Module,
    directives: &[(Directive, usize, usize)],
    page: &mut PageBuilder<'_>,
) {
    for (directive, has_part, name, what) in [
        (
            Directive::Lab,
            module.lab.is_some(),
            "lab",
            "the module has no lab: add a [lab] table to module.toml and lab/NN-step.md files",
        ),
        (
            Directive::Questions,
            !module.questions.is_empty() || module.has_questions_file,
            "questions",
            "the module has no questions: add questions.toml",
        ),
    ] {
        let places: Vec<usize> = directives
            .iter()
            .filter(|d| d.0 == directive)
            .map(|d| d.2)
            .collect();
        match places.as_slice() {
            [] if has_part => page.diagnostics.push(module.text.diagnostic(0, format!("the module has {name} but module.md does not place them: add a line {{{{{name}}}}} where they belong"))),
            [at, ..] if !has_part => page.diagnostics.push(module.text.diagnostic(*at, format!("{{{{{name}}}}} placed, but {what}"))),
            [_, rest @ ..] => {
                for at in rest {
                    page.diagnostics.push(module.text.diagnostic(*at, format!("{{{{{name}}}}} appears more than once")));
                }
            }
            [] => {}
        }
    }
}

/// The lab as a page section: one `<section>` per step, ready for "Check my work" (`data-step`).
#[derive(Template)]
#[template(path = "partials/lab.html")]
struct LabSection<'a> {
    anchor: String,
    lab_id: &'a str,
    title: &'a str,
    intro: Option<String>,
    steps: Vec<StepView<'a>>,
}

struct StepView<'a> {
    number: u32,
    checks: usize,
    id: &'a str,
    anchor: String,
    title: &'a str,
    html: String,
}

fn lab_section(module: &Module, page: &mut PageBuilder<'_>) -> (String, Vec<TocEntry>) {
    let Some(lab) = &module.lab else {
        return (String::new(), Vec::new());
    };
    let anchor = page.claim_anchor("lab");
    let mut toc = vec![TocEntry {
        level: 2,
        id: anchor.clone(),
        title: format!("Lab: {}", lab.title),
    }];
    let intro = lab.intro.as_ref().map(|i| page.render(i, IN_STEP));
    let steps = lab
        .steps
        .iter()
        .map(|step| {
            let anchor = page.claim_anchor(&format!("step {} {}", step.number, step.id));
            toc.push(TocEntry {
                level: 3,
                id: anchor.clone(),
                title: format!("Step {}: {}", step.number, step.title),
            });
            StepView {
                number: step.number,
                checks: step.checks.len(),
                id: step.id.as_ref(),
                anchor,
                title: &step.title,
                html: page.render(&step.text, IN_STEP),
            }
        })
        .collect();
    let section = LabSection {
        anchor,
        lab_id: lab.id.as_ref(),
        title: &lab.title,
        intro,
        steps,
    };
    (page.render_template(&section, &module.dir), toc)
}

/// The assessment as a page section; model answers and rubrics are for instructors and never rendered here.
#[derive(Template)]
#[template(path = "partials/questions.html")]
struct QuestionsSection<'a> {
    anchor: String,
    module_id: &'a str,
    total_points: u32,
    questions: Vec<QuestionView<'a>>,
}

struct QuestionView<'a> {
    number: usize,
    id: &'a str,
    anchor: String,
    kind: QuestionKind,
    points: u32,
    prompt: String,
    choices: Vec<&'a str>,
}

fn questions_section(module: &Module, page: &mut PageBuilder<'_>) -> (String, Vec<TocEntry>) {
    let anchor = page.claim_anchor("assessment");
    let toc = vec![TocEntry {
        level: 2,
        id: anchor.clone(),
        title: "Assessment".to_owned(),
    }];
    let questions = module
        .questions
        .iter()
        .enumerate()
        .map(|(i, q)| QuestionView {
            number: i + 1,
            id: q.id.as_ref(),
            anchor: page.claim_anchor(&format!("question {}", q.id)),
            kind: q.kind,
            points: q.points,
            prompt: page.render(&q.prompt, IN_QUESTION),
            choices: q.choices.iter().map(|c| c.text.as_str()).collect(),
        })
        .collect();
    let total_points = module.questions.iter().map(|q| q.points).sum();
    let section = QuestionsSection {
        anchor,
        module_id: module.id.as_ref(),
        total_points,
        questions,
    };
    (page.render_template(&section, &module.dir), toc)
}
