//! Assessment questions: their kinds, and how `questions.toml` is read and checked. A new question
//! kind starts here (its variant and [`QuestionKind::is_instructor_graded`]), then its answering
//! and grading in `assess`, its partial in `templates/partials/` and its script.

use std::collections::HashMap;

use serde::Deserialize;
use toml::Spanned;

use super::schema::{QuestionToml, QuestionsToml};
use super::{Loader, MarkdownSource, QuestionId};

/// How a question is answered and graded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QuestionKind {
    /// Free text, graded by an instructor against a rubric.
    Open,
    /// Exactly one correct choice, graded automatically.
    Single,
    /// One or more correct choices, all of which must be selected.
    Multiple,
}

impl QuestionKind {
    /// Whether an instructor grades it against a rubric (open questions); otherwise it is graded
    /// the moment it is submitted, and answered once.
    pub fn is_instructor_graded(self) -> bool {
        self == QuestionKind::Open
    }
}

/// An assessment question.
#[derive(Debug, Clone)]
pub struct Question {
    /// Unique within the module.
    pub id: QuestionId,
    /// How it is answered and graded.
    pub kind: QuestionKind,
    /// The most a learner can score.
    pub points: u32,
    /// The question itself (Markdown).
    pub prompt: MarkdownSource,
    /// For instructors: what a full-marks answer says (open questions).
    pub model_answer: Option<MarkdownSource>,
    /// Whether a learner whose answer was graded sees the model answer once grades are released
    /// (`show_model_answer = true`); by default it stays with staff, so it can be reused.
    pub show_model_answer: bool,
    /// For instructors: how the points are earned (open questions); sums to `points`.
    pub rubric: Vec<Criterion>,
    /// The options (choice questions).
    pub choices: Vec<Choice>,
}

impl Question {
    /// The prompt as one short line of plain text (emphasis and code marks dropped, cut at a word
    /// near 90 characters): how staff pages name a question instead of by its id.
    pub fn summary(&self) -> String {
        const MAX: usize = 90;
        let plain: String = self
            .prompt
            .text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .filter(|c| !matches!(c, '*' | '`'))
            .collect();
        if plain.chars().count() <= MAX {
            return plain;
        }
        let cut: String = plain.chars().take(MAX).collect();
        let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
        format!("{}…", cut.trim_end_matches([',', ';', ':', '.']))
    }
}

/// One rubric line: what earns how many points.
#[derive(Debug, Clone)]
pub struct Criterion {
    /// Stable key across rubric corrections; the criterion text when the author gave none.
    pub key: String,
    /// What the answer must show.
    pub criterion: String,
    /// Points for meeting it.
    pub points: u32,
}

/// One option of a choice question.
#[derive(Debug, Clone)]
pub struct Choice {
    /// The option as shown.
    pub text: String,
    /// Whether selecting it is right.
    pub correct: bool,
    /// Shown after answering: why it is right or wrong.
    pub explanation: String,
}

impl Loader<'_> {
    /// The module's questions (those that are valid), and whether it has a `questions.toml` at all.
    pub(super) fn questions(&mut self, dir: &str) -> (Vec<Question>, bool) {
        let path = format!("{dir}/questions.toml");
        if !self.files.contains(&path) {
            return (Vec::new(), false);
        }
        (self.questions_in(&path), true)
    }

    fn questions_in(&mut self, path: &str) -> Vec<Question> {
        let path = path.to_owned();
        let Some(text) = self.text(&path) else {
            return Vec::new();
        };
        let Some(parsed): Option<QuestionsToml> = self.toml(&path, &text, &text, 0) else {
            return Vec::new();
        };
        let mut seen = HashMap::new();
        parsed
            .questions
            .into_iter()
            .filter_map(|q| {
                let id = q.get_ref().id.clone();
                if seen.insert(id.get_ref().clone(), ()).is_some() {
                    self.error(
                        &path,
                        &text,
                        id.span().start,
                        format!("duplicate question id `{}`", id.get_ref()),
                    );
                }
                self.question(&path, &text, q)
            })
            .collect()
    }

    fn question(
        &mut self,
        path: &str,
        text: &str,
        spanned: Spanned<QuestionToml>,
    ) -> Option<Question> {
        let at = spanned.span().start;
        let q = spanned.into_inner();
        let id = match QuestionId::parse(q.id.get_ref()) {
            Ok(id) => Some(id),
            Err(e) => {
                self.error(path, text, q.id.span().start, e);
                None
            }
        };
        let points = *q.points.get_ref();
        let points_at = q.points.span().start;
        // A choice question may be worth nothing: practice (a "predict first" question, say),
        // answered and explained but counted in no score. An open one is graded, so it has points.
        if points == 0 && q.kind == QuestionKind::Open {
            self.error(
                path,
                text,
                points_at,
                "an open question is graded, so its points must be more than 0 (only a choice question may be practice, with points = 0)",
            );
        }
        let name = q.id.get_ref().clone();
        match q.kind {
            QuestionKind::Open => {
                if q.model_answer.is_none() {
                    self.error(
                        path,
                        text,
                        at,
                        format!("open question `{name}` needs a `model_answer` for instructors"),
                    );
                }
                if q.rubric.is_empty() {
                    self.error(path, text, at, format!("open question `{name}` needs a `rubric`: [[questions.rubric]] criterion = \"…\", points = N"));
                }
                let sum: u32 = q.rubric.iter().map(|c| c.points).sum();
                if !q.rubric.is_empty() && sum != points {
                    self.error(path, text, points_at, format!("rubric points of `{name}` add up to {sum}, but the question is worth {points}"));
                }
                let mut keys = std::collections::HashSet::new();
                for c in &q.rubric {
                    let key = c.id.as_deref().unwrap_or(&c.criterion);
                    if !keys.insert(key) {
                        self.error(path, text, at, format!("rubric of `{name}` has two criteria keyed `{key}`: give each a different `id` or wording"));
                    }
                }
                if !q.choices.is_empty() {
                    self.error(path, text, at, format!("open question `{name}` cannot have choices; use kind = \"single\" or \"multiple\""));
                }
            }
            QuestionKind::Single | QuestionKind::Multiple => {
                let correct = q.choices.iter().filter(|c| c.correct).count();
                if q.choices.len() < 2 {
                    self.error(
                        path,
                        text,
                        at,
                        format!(
                            "choice question `{name}` needs at least two [[questions.choices]]"
                        ),
                    );
                } else if correct == 0 {
                    self.error(path, text, at, format!("choice question `{name}` has no correct choice: mark one with correct = true"));
                } else if q.kind == QuestionKind::Single && correct > 1 {
                    self.error(path, text, at, format!("single-choice question `{name}` has {correct} correct choices; use kind = \"multiple\" or mark only one"));
                }
                if !q.rubric.is_empty() {
                    self.error(path, text, at, format!("choice question `{name}` is graded automatically and cannot have a rubric"));
                }
                if let Some(shown) = q.show_model_answer.as_ref().filter(|s| *s.get_ref()) {
                    self.error(path, text, shown.span().start, format!("choice question `{name}` has no model answer to show: its choices' explanations are shown once it is answered"));
                }
            }
        }
        let prompt = self.toml_markdown(path, text, q.prompt);
        let model_answer = q.model_answer.map(|m| self.toml_markdown(path, text, m));
        Some(Question {
            id: id?,
            kind: q.kind,
            points,
            prompt,
            model_answer,
            show_model_answer: q.show_model_answer.is_some_and(|s| s.into_inner()),
            rubric: q
                .rubric
                .into_iter()
                .map(|c| Criterion {
                    key: c.id.unwrap_or_else(|| c.criterion.clone()),
                    criterion: c.criterion,
                    points: c.points,
                })
                .collect(),
            choices: q
                .choices
                .into_iter()
                .map(|c| Choice {
                    text: c.text,
                    correct: c.correct,
                    explanation: c.explanation,
                })
                .collect(),
        })
    }
}
