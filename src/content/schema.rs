//! The authoring format as serde sees it: TOML tables with every key known, so typos are errors.
//!
//! Fields whose values are checked after parsing are `Spanned`, so those errors can point at them.

use serde::Deserialize;
use toml::Spanned;

/// `course.toml`: what the course home shows.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CourseToml {
    pub(super) title: String,
    pub(super) description: String,
}

/// `modules/NN-id/module.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ModuleToml {
    pub(super) title: String,
    pub(super) summary: String,
    pub(super) duration_minutes: Spanned<u32>,
    pub(super) objectives: Spanned<Vec<String>>,
    pub(super) lab: Option<LabToml>,
}

/// The `[lab]` table of `module.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LabToml {
    pub(super) id: Spanned<String>,
    pub(super) title: String,
    pub(super) intro: Option<Spanned<String>>,
}

/// The `+++` front matter of a lab step file `lab/NN-id.md`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StepFrontMatter {
    pub(super) title: String,
    #[serde(default)]
    pub(super) checks: Vec<Spanned<super::checks::CheckToml>>,
}

/// `questions.toml`: a list of `[[questions]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QuestionsToml {
    pub(super) questions: Vec<Spanned<QuestionToml>>,
}

/// One `[[questions]]` entry; which optional fields are required depends on `kind`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QuestionToml {
    pub(super) id: Spanned<String>,
    pub(super) kind: super::QuestionKind,
    pub(super) points: Spanned<u32>,
    pub(super) prompt: Spanned<String>,
    pub(super) model_answer: Option<Spanned<String>>,
    /// Whether learners whose answer was graded see the model answer once grades are released.
    pub(super) show_model_answer: Option<Spanned<bool>>,
    #[serde(default)]
    pub(super) rubric: Vec<CriterionToml>,
    #[serde(default)]
    pub(super) choices: Vec<ChoiceToml>,
}

/// One `[[questions.rubric]]` criterion.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CriterionToml {
    /// Optional stable key, so that rewording a criterion keeps the scores already given for it.
    pub(super) id: Option<String>,
    pub(super) criterion: String,
    pub(super) points: u32,
}

/// One `[[questions.choices]]` option.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChoiceToml {
    pub(super) text: String,
    #[serde(default)]
    pub(super) correct: bool,
    pub(super) explanation: String,
}
