//! Each kind of authoring mistake is caught at load, with the file and line that an author needs.

use std::path::Path;
use std::sync::OnceLock;

use lectern::content::CourseFiles;
use lectern::render::{self, Highlighter};
use tempfile::TempDir;

use crate::common::default_course_dir;

const QUESTIONS: &str = r#"[[questions]]
id = "q1"
kind = "open"
points = 3
prompt = "Why?"
model_answer = "Because."

[[questions.rubric]]
criterion = "Says why"
points = 3

[[questions]]
id = "q2"
kind = "single"
points = 1
prompt = "Pick one"

[[questions.choices]]
text = "A"
correct = true
explanation = "Yes"

[[questions.choices]]
text = "B"
explanation = "No"
"#;

/// A small valid course; each test overwrites one file with a mistake.
fn fixture() -> TempDir {
    let dir = TempDir::new().unwrap();
    let files = [
        (
            "course.toml",
            "title = \"Test course\"\ndescription = \"For tests.\"\n",
        ),
        (
            "modules/01-intro/module.toml",
            "title = \"Intro\"\nsummary = \"First.\"\nduration_minutes = 30\nobjectives = [\"Learn\"]\n\n[lab]\nid = \"intro-lab\"\ntitle = \"Try it\"\n",
        ),
        (
            "modules/01-intro/module.md",
            "## Reading\n\nText.\n\n{{lab}}\n\n{{questions}}\n",
        ),
        (
            "modules/01-intro/lab/01-first.md",
            "+++\ntitle = \"First step\"\n+++\nDo it.\n",
        ),
        ("modules/01-intro/questions.toml", QUESTIONS),
    ];
    for (path, text) in files {
        write(dir.path(), path, text);
    }
    dir
}

fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn errors(root: &Path) -> Vec<String> {
    static HIGHLIGHTER: OnceLock<Highlighter> = OnceLock::new();
    let files = CourseFiles::from_dir(root).unwrap();
    match render::build(files, HIGHLIGHTER.get_or_init(Highlighter::default)) {
        Ok(_) => Vec::new(),
        Err(invalid) => invalid.0.iter().map(ToString::to_string).collect(),
    }
}

#[track_caller]
fn assert_reports(root: &Path, expected: &str) {
    let errors = errors(root);
    assert!(
        errors.iter().any(|e| e == expected),
        "expected {expected:?}\ngot {errors:#?}"
    );
}

#[test]
fn the_fixture_and_the_default_course_are_valid() {
    assert_eq!(errors(fixture().path()), Vec::<String>::new());
    assert_eq!(errors(&default_course_dir()), Vec::<String>::new());
}

#[test]
fn unknown_keys_are_errors() {
    let course = fixture();
    write(
        course.path(),
        "modules/01-intro/module.toml",
        "title = \"Intro\"\nsummary = \"First.\"\nduration = 30\nduration_minutes = 30\nobjectives = [\"Learn\"]\n\n[lab]\nid = \"intro-lab\"\ntitle = \"Try it\"\n",
    );
    let errors = errors(course.path());
    assert!(
        errors[0].starts_with(
            "modules/01-intro/module.toml:3:1: unknown field `duration`, expected one of"
        ),
        "{errors:#?}"
    );
}

#[test]
fn missing_fields_are_errors() {
    let course = fixture();
    write(course.path(), "course.toml", "title = \"Test course\"\n");
    assert_reports(
        course.path(),
        "course.toml:1:1: missing field `description`",
    );
}

#[test]
fn only_a_choice_question_may_be_practice_worth_no_points() {
    let course = fixture();
    write(
        course.path(),
        "modules/01-intro/questions.toml",
        &QUESTIONS.replace("points = 1\n", "points = 0\n"),
    );
    assert_eq!(
        errors(course.path()),
        Vec::<String>::new(),
        "a practice choice question"
    );
    write(
        course.path(),
        "modules/01-intro/questions.toml",
        &QUESTIONS.replacen("points = 3\n", "points = 0\n", 1),
    );
    assert_reports(
        course.path(),
        "modules/01-intro/questions.toml:4:10: an open question is graded, so its points must be more than 0 (only a choice question may be practice, with points = 0)",
    );
}

#[test]
fn toml_syntax_errors_point_at_the_line() {
    let course = fixture();
    write(
        course.path(),
        "modules/01-intro/lab/01-first.md",
        "+++\ntitle = \"First step\n+++\nDo it.\n",
    );
    let errors = errors(course.path());
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("modules/01-intro/lab/01-first.md:2:")),
        "{errors:#?}"
    );
}

#[test]
fn step_files_need_front_matter() {
    let course = fixture();
    write(
        course.path(),
        "modules/01-intro/lab/01-first.md",
        "# First step\nDo it.\n",
    );
    let errors = errors(course.path());
    assert!(
        errors.iter().any(|e| e.starts_with(
            "modules/01-intro/lab/01-first.md:1:1: a step file starts with front matter"
        )),
        "{errors:#?}"
    );
}

#[test]
fn duplicate_ids_are_errors() {
    let course = fixture();
    write(
        course.path(),
        "modules/01-intro/lab/01-again.md",
        "+++\ntitle = \"Again\"\n+++\n",
    );
    write(
        course.path(),
        "modules/01-intro/lab/02-first.md",
        "+++\ntitle = \"First again\"\n+++\n",
    );
    write(
        course.path(),
        "modules/01-intro/questions.toml",
        &QUESTIONS.replace("id = \"q2\"", "id = \"q1\""),
    );
    let errors = errors(course.path());
    assert!(errors.contains(&"modules/01-intro/lab/01-first.md:1:1: duplicate step number `1`: already used by modules/01-intro/lab/01-again.md".to_owned()), "{errors:#?}");
    assert!(errors.contains(&"modules/01-intro/lab/02-first.md:1:1: duplicate step id `first`: already used by modules/01-intro/lab/01-first.md".to_owned()), "{errors:#?}");
    assert!(
        errors.contains(
            &"modules/01-intro/questions.toml:13:6: duplicate question id `q1`".to_owned()
        ),
        "{errors:#?}"
    );
}

#[test]
fn duplicate_module_ids_and_lab_ids_are_errors() {
    let course = fixture();
    for file in [
        "module.toml",
        "module.md",
        "lab/01-first.md",
        "questions.toml",
    ] {
        let text =
            std::fs::read_to_string(course.path().join("modules/01-intro").join(file)).unwrap();
        write(course.path(), &format!("modules/02-intro/{file}"), &text);
    }
    let errors = errors(course.path());
    assert!(
        errors.contains(
            &"modules/02-intro:1:1: duplicate module id `intro`: already used by modules/01-intro"
                .to_owned()
        ),
        "{errors:#?}"
    );
    assert!(errors.contains(&"modules/02-intro/module.toml:1:1: duplicate lab id `intro-lab`: already used by modules/01-intro/module.toml".to_owned()), "{errors:#?}");
}

#[test]
fn invalid_ids_and_folder_names_are_errors() {
    let course = fixture();
    write(course.path(), "modules/intro-two/module.toml", "");
    write(
        course.path(),
        "modules/01-intro/module.toml",
        "title = \"Intro\"\nsummary = \"First.\"\nduration_minutes = 30\nobjectives = [\"Learn\"]\n\n[lab]\nid = \"Intro_Lab\"\ntitle = \"Try it\"\n",
    );
    let errors = errors(course.path());
    assert!(
        errors.iter().any(|e| e.starts_with(
            "modules/intro-two:1:1: module folder `intro-two` should start with its number"
        )),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e
                .starts_with("modules/01-intro/module.toml:7:6: `Intro_Lab` is not a valid id")),
        "{errors:#?}"
    );
}

#[test]
fn broken_internal_links_are_errors() {
    let course = fixture();
    write(
        course.path(),
        "modules/01-intro/module.md",
        "## Reading\n\nSee [next](../02-next/module.md), [here](#nowhere),\nand [a section](#reading).\n\n{{lab}}\n\n{{questions}}\n",
    );
    write(
        course.path(),
        "modules/01-intro/lab/01-first.md",
        "+++\ntitle = \"First step\"\n+++\nDo it, then [read on](../module.md#missing).\n",
    );
    let errors = errors(course.path());
    assert!(
        errors.contains(
            &"modules/01-intro/module.md:3:5: link to missing file `modules/02-next/module.md`"
                .to_owned()
        ),
        "{errors:#?}"
    );
    assert!(errors.contains(&"modules/01-intro/module.md:3:35: link to missing anchor `#nowhere` on the page of module `intro`".to_owned()), "{errors:#?}");
    assert!(errors.contains(&"modules/01-intro/lab/01-first.md:4:13: link to missing anchor `#missing` on the page of module `intro`".to_owned()), "{errors:#?}");
    assert_eq!(
        errors.len(),
        3,
        "the valid #reading link is not reported: {errors:#?}"
    );
}

#[test]
fn references_to_missing_files_are_errors() {
    let course = fixture();
    write(
        course.path(),
        "modules/01-intro/module.md",
        "## Reading\n\n![topology](img/topology.png)\n\n{{lab}}\n\n{{questions}}\n",
    );
    assert_reports(
        course.path(),
        "modules/01-intro/module.md:3:1: link to missing file `modules/01-intro/img/topology.png`",
    );
    write(course.path(), "modules/01-intro/img/topology.png", "png");
    assert_eq!(errors(course.path()), Vec::<String>::new());
}

#[test]
fn missing_module_files_are_errors() {
    let course = fixture();
    std::fs::remove_file(course.path().join("modules/01-intro/module.md")).unwrap();
    assert_reports(
        course.path(),
        "modules/01-intro/module.md:1:1: file is missing: every module folder needs module.toml and module.md",
    );
}

#[test]
fn misspelled_files_are_errors() {
    let course = fixture();
    std::fs::rename(
        course.path().join("modules/01-intro/questions.toml"),
        course.path().join("modules/01-intro/question.toml"),
    )
    .unwrap();
    let errors = errors(course.path());
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("modules/01-intro/question.toml:1:1: unknown file")),
        "{errors:#?}"
    );
}

#[test]
fn directives_must_match_the_module_parts() {
    let course = fixture();
    write(
        course.path(),
        "modules/01-intro/module.md",
        "## Reading\n\n{{questions}}\n\n{{quiz}}\n\n{{questions}}\n",
    );
    let errors = errors(course.path());
    assert!(
        errors.iter().any(|e| e.starts_with(
            "modules/01-intro/module.md:1:1: the module has lab but module.md does not place them"
        )),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("modules/01-intro/module.md:5:1: unknown directive `{{quiz}}`")),
        "{errors:#?}"
    );
    assert!(
        errors.contains(
            &"modules/01-intro/module.md:7:1: {{questions}} appears more than once".to_owned()
        ),
        "{errors:#?}"
    );
}

#[test]
fn top_level_headings_are_errors_in_module_text() {
    let course = fixture();
    write(
        course.path(),
        "modules/01-intro/module.md",
        "## Reading\n\n# Another title\n\n{{lab}}\n\n{{questions}}\n",
    );
    let errors = errors(course.path());
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("modules/01-intro/module.md:3:1: top-level heading")),
        "{errors:#?}"
    );
}

#[test]
fn choice_questions_need_a_correct_answer_and_rubrics_must_add_up() {
    let course = fixture();
    let broken = QUESTIONS
        .replace("correct = true\n", "")
        .replace("kind = \"open\"\npoints = 3", "kind = \"open\"\npoints = 4");
    write(course.path(), "modules/01-intro/questions.toml", &broken);
    let errors = errors(course.path());
    assert!(errors.contains(&"modules/01-intro/questions.toml:4:10: rubric points of `q1` add up to 3, but the question is worth 4".to_owned()), "{errors:#?}");
    assert!(errors.contains(&"modules/01-intro/questions.toml:12:1: choice question `q2` has no correct choice: mark one with correct = true".to_owned()), "{errors:#?}");
}

#[test]
fn open_questions_need_a_model_answer_and_a_rubric() {
    let course = fixture();
    let broken = QUESTIONS
        .replace("model_answer = \"Because.\"\n", "")
        .replace(
            "[[questions.rubric]]\ncriterion = \"Says why\"\npoints = 3\n",
            "",
        );
    write(course.path(), "modules/01-intro/questions.toml", &broken);
    let errors = errors(course.path());
    assert!(
        errors.iter().any(|e| e.starts_with(
            "modules/01-intro/questions.toml:1:1: open question `q1` needs a `model_answer`"
        )),
        "{errors:#?}"
    );
    assert!(
        errors.iter().any(|e| e.starts_with(
            "modules/01-intro/questions.toml:1:1: open question `q1` needs a `rubric`"
        )),
        "{errors:#?}"
    );
}

#[test]
fn single_choice_questions_have_exactly_one_correct_choice() {
    let course = fixture();
    write(
        course.path(),
        "modules/01-intro/questions.toml",
        &QUESTIONS.replace(
            "explanation = \"No\"",
            "correct = true\nexplanation = \"No\"",
        ),
    );
    assert_reports(
        course.path(),
        "modules/01-intro/questions.toml:12:1: single-choice question `q2` has 2 correct choices; use kind = \"multiple\" or mark only one",
    );
}

#[test]
fn files_that_are_not_utf8_are_errors() {
    let course = fixture();
    std::fs::write(
        course.path().join("modules/01-intro/module.md"),
        b"## Reading\n\n\xff\xfe\n",
    )
    .unwrap();
    assert_reports(
        course.path(),
        "modules/01-intro/module.md:3:1: file is not valid UTF-8",
    );
}

#[test]
fn every_error_is_reported_at_once() {
    let course = fixture();
    write(course.path(), "course.toml", "title = \"Test course\"\n");
    write(
        course.path(),
        "modules/01-intro/module.md",
        "## Reading\n\n[x](#nope)\n\n{{lab}}\n",
    );
    write(
        course.path(),
        "modules/01-intro/lab/01-first.md",
        "no front matter\n",
    );
    let errors = errors(course.path());
    assert!(errors.len() >= 4, "{errors:#?}");
    let mut sorted = errors.clone();
    sorted.sort_by_key(|e| e.split(':').next().unwrap().to_owned());
    assert_eq!(
        errors
            .iter()
            .map(|e| e.split(':').next().unwrap())
            .collect::<Vec<_>>(),
        sorted
            .iter()
            .map(|e| e.split(':').next().unwrap())
            .collect::<Vec<_>>(),
        "sorted by file"
    );
}

fn step_with_checks(checks: &str) -> TempDir {
    let course = fixture();
    write(
        course.path(),
        "modules/01-intro/lab/01-first.md",
        &format!("+++\ntitle = \"First step\"\n{checks}+++\nDo it.\n"),
    );
    course
}

#[test]
fn a_misspelt_check_kind_gets_a_suggestion() {
    let course = step_with_checks(
        "\n[[checks]]\nid = \"role\"\ncheck = \"resouce\"\ntitle = \"t\"\nhint = \"h\"\n",
    );
    let errors = errors(course.path());
    assert!(errors.contains(&"modules/01-intro/lab/01-first.md:6:9: unknown check `resouce` (did you mean `resource`?): the checks are resource, count, access, event, health and version".to_owned()), "{errors:#?}");
}

#[test]
fn checks_are_validated_with_file_and_line() {
    let course = step_with_checks(
        "\n[[checks]]\nid = \"nodes\"\ncheck = \"nodes\"\ntitle = \"t\"\nhint = \"h\"\n\
         \n[[checks]]\nid = \"pods\"\ncheck = \"count\"\ntitle = \"t\"\nhint = \"h\"\napi_version = \"v1\"\nkind = \"Pod\"\nlabel_selector = \"tier in control-plane\"\nmin = 1\n\
         \n[[checks]]\nid = \"role\"\ncheck = \"resource\"\ntitle = \"t\"\nhint = \"h\"\napi_version = \"rbac.authorization.k8s.io/v1\"\nkind = \"ClusterRole\"\nname = \"x\"\n\
         \n[[checks.fields]]\npath = \"rules[x].verbs\"\nequals = \"get\"\n",
    );
    let errors = errors(course.path());
    assert!(errors.contains(&"modules/01-intro/lab/01-first.md:6:9: unknown check `nodes`: the checks are resource, count, access, event, health and version".to_owned()), "{errors:#?}");
    assert!(errors.contains(&"modules/01-intro/lab/01-first.md:17:18: invalid label selector `tier in control-plane`: cannot read `tier in control-plane`".to_owned()), "{errors:#?}");
    assert!(
        errors.iter().any(|e| e.starts_with(
            "modules/01-intro/lab/01-first.md:30:8: invalid field path `rules[x].verbs`"
        )),
        "{errors:#?}"
    );
}

#[test]
fn checks_need_the_keys_of_their_kind_and_unique_ids() {
    let course = step_with_checks(
        "\n[[checks]]\nid = \"sa\"\ncheck = \"resource\"\ntitle = \"t\"\nhint = \"h\"\napi_version = \"v1\"\nkind = \"ServiceAccount\"\n\
         \n[[checks]]\nid = \"sa\"\ncheck = \"access\"\ntitle = \"t\"\nhint = \"h\"\nsubject = { service_account = \"monitor\" }\nverb = \"list\"\nresource = \"pods\"\nallowed = true\n\
         \n[[checks]]\nid = \"secret\"\ncheck = \"resource\"\ntitle = \"t\"\nhint = \"h\"\napi_version = \"v1\"\nkind = \"Secret\"\nnamespace = \"x\"\nname = \"y\"\n\
         \n[[checks.fields]]\npath = \"data.password\"\nequals = \"hunter2\"\n",
    );
    let errors = errors(course.path());
    assert!(
        errors
            .contains(&"modules/01-intro/lab/01-first.md:4:1: check `sa` needs `name`".to_owned()),
        "{errors:#?}"
    );
    assert!(errors.contains(&"modules/01-intro/lab/01-first.md:17:11: service_account `monitor` should be NAMESPACE/NAME".to_owned()), "{errors:#?}");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("Lectern never reads Secret data")),
        "{errors:#?}"
    );
}

#[test]
fn duplicate_check_ids_in_a_lab_are_errors() {
    let check = "\n[[checks]]\nid = \"up\"\ncheck = \"version\"\ntitle = \"t\"\nhint = \"h\"\nat_least = \"1.28\"\n";
    let course = step_with_checks(check);
    write(
        course.path(),
        "modules/01-intro/lab/02-second.md",
        &format!("+++\ntitle = \"Second\"\n{check}+++\n"),
    );
    assert_reports(
        course.path(),
        "modules/01-intro/lab/02-second.md:1:1: duplicate check id `up`: already used by modules/01-intro/lab/01-first.md",
    );
}

#[test]
fn rubric_criteria_need_distinct_keys() {
    let course = fixture();
    let broken = QUESTIONS.replace(
        "[[questions.rubric]]\ncriterion = \"Says why\"\npoints = 3\n",
        "[[questions.rubric]]\nid = \"why\"\ncriterion = \"Says why\"\npoints = 1\n\n[[questions.rubric]]\nid = \"why\"\ncriterion = \"Says why well\"\npoints = 2\n",
    );
    write(course.path(), "modules/01-intro/questions.toml", &broken);
    let errors = errors(course.path());
    assert_eq!(
        errors,
        vec!["modules/01-intro/questions.toml:1:1: rubric of `q1` has two criteria keyed `why`: give each a different `id` or wording".to_owned()]
    );
}

/// The line (1-based) of the first occurrence of `needle` in a step file built by
/// [`step_with_checks`] (two lines of front matter come before the checks).
fn line_in_step(checks: &str, needle: &str) -> usize {
    let offset = checks
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in checks"));
    checks[..offset].matches('\n').count() + 1 + 2
}

#[test]
fn new_check_features_are_validated_with_file_and_line() {
    let checks = r#"
[[checks]]
id = "bounds"
check = "resource"
title = "t"
hint = "h"
api_version = "apps/v1"
kind = "Deployment"
namespace = "default"
name = "probe"
reason = "Scheduled"

[[checks.fields]]
path = "status.readyReplicas"
at_least = 5
at_most = 2

[[checks.fields]]
path = "subjects"
some = []

[[checks.fields]]
path = "rules"
some = [ { path = "a..b", equals = 1 } ]

[[checks.fields]]
path = "status.replicas"
equals = 2
at_least = 1

[[checks]]
id = "metrics"
check = "access"
title = "t"
hint = "h"
subject = { user = "u" }
verb = "get"
namespace = "default"
non_resource_url = "metrics"
allowed = true

[[checks]]
id = "nothing"
check = "access"
title = "t"
hint = "h"
subject = { user = "u" }
verb = "get"
allowed = true

[[checks]]
id = "ev"
check = "event"
title = "t"
hint = "h"
kind = "Node"
message_matches = "(unclosed"
context = ""
after = ["later"]
held = "sometimes"

[[checks]]
id = "later"
check = "version"
title = "t"
hint = "h"
at_least = "1.34"
"#;
    let course = step_with_checks(checks);
    let errors = errors(course.path());
    let file = "modules/01-intro/lab/01-first.md";
    let at = |needle: &str| format!("{file}:{}:", line_in_step(checks, needle));
    let expect = |needle: &str, message: &str| {
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with(&at(needle)) && e.ends_with(message)),
            "no `{message}` at {}\n{errors:#?}",
            at(needle)
        );
    };
    expect(
        "[[checks]]\nid = \"bounds\"",
        "check `bounds`: `reason` does not apply to resource checks",
    );
    expect(
        "path = \"status.readyReplicas\"",
        "field `status.readyReplicas`: at_least 5 is greater than at_most 2",
    );
    expect(
        "some = []",
        "field `subjects`: `some` needs at least one assertion",
    );
    expect(
        "some = [ { path = \"a..b\"",
        "invalid field path `a..b`: empty key between dots",
    );
    expect(
        "path = \"status.replicas\"",
        "field `status.replicas` needs exactly one of equals, contains, matches, one_of, at_least/at_most or some",
    );
    expect(
        "non_resource_url = \"metrics\"",
        "check `metrics`: a non-resource URL has no `group` or `namespace`",
    );
    expect(
        "non_resource_url = \"metrics\"",
        "non_resource_url `metrics` should be a path such as \"/metrics\"",
    );
    expect(
        "[[checks]]\nid = \"nothing\"",
        "check `nothing` needs `resource` or `non_resource_url`",
    );
    expect("[[checks]]\nid = \"ev\"", "check `ev` needs `reason`");
    expect(
        "message_matches",
        "invalid regular expression: regex parse error:\n    (unclosed\n    ^\nerror: unclosed group",
    );
    expect(
        "after = [\"later\"]",
        "check `ev`: `after` names `later`, which is not a check earlier in this step",
    );
    expect(
        "context = \"\"",
        "check `ev`: `context` must name a kubeconfig context, e.g. \"kind-solo\"",
    );
    expect(
        "held = \"sometimes\"",
        "check `ev`: `held` is \"now\" (the default) or \"once-since-start\", not \"sometimes\"",
    );
}

#[test]
fn the_new_check_features_parse_into_what_the_runner_needs() {
    use lectern::content::{
        AccessCheck, AccessTarget, CheckSpec, EventCheck, FieldTest, ResourceCheck,
    };
    let course = step_with_checks(
        "\n[[checks]]\nid = \"metrics\"\ncheck = \"access\"\ntitle = \"t\"\nhint = \"h\"\ncontext = \"kind-solo\"\nsubject = { service_account = \"monitoring/m\" }\nverb = \"get\"\nnon_resource_url = \"/metrics\"\nallowed = true\n\
         \n[[checks]]\nid = \"ev\"\ncheck = \"event\"\ntitle = \"t\"\nhint = \"h\"\nafter = [\"metrics\"]\nheld = \"once-since-start\"\nkind = \"Node\"\nreason = \"NodeNotReady\"\n\
         \n[[checks]]\nid = \"lease\"\ncheck = \"resource\"\ntitle = \"t\"\nhint = \"h\"\napi_version = \"coordination.k8s.io/v1\"\nkind = \"Lease\"\nnamespace = \"kube-system\"\nname = \"kube-scheduler\"\n\
         \n[[checks.fields]]\npath = \"spec.leaseTransitions\"\nat_least = 1\n\
         \n[[checks.fields]]\npath = \"metadata.ownerReferences\"\nsome = [ { path = \"kind\", equals = \"Node\" } ]\n",
    );
    let files = lectern::content::CourseFiles::from_dir(course.path()).expect("readable");
    let loaded = lectern::content::load(files).expect("valid");
    let step = &loaded.modules[0].lab.as_ref().unwrap().steps[0];
    assert_eq!(step.checks[0].context.as_deref(), Some("kind-solo"));
    assert!(matches!(
        &step.checks[0].spec,
        CheckSpec::Access(AccessCheck { on: AccessTarget::NonResource { path }, .. }) if path == "/metrics"
    ));
    assert_eq!(step.checks[1].after, ["metrics"]);
    assert_eq!(step.checks[1].held, lectern::content::Held::OnceSinceStart);
    assert_eq!(
        step.checks[0].held,
        lectern::content::Held::Now,
        "the default"
    );
    assert!(matches!(
        &step.checks[1].spec,
        CheckSpec::Event(EventCheck { kind, name: None, namespace: None, reason, absent: false, .. })
            if kind == "Node" && reason == "NodeNotReady"
    ));
    let CheckSpec::Resource(ResourceCheck { fields, .. }) = &step.checks[2].spec else {
        panic!("resource check")
    };
    assert!(matches!(
        fields[0].test,
        FieldTest::Between { at_least: Some(n), at_most: None } if n == 1.0
    ));
    assert!(matches!(&fields[1].test, FieldTest::Some(inner) if inner.len() == 1));
}

#[test]
fn a_questions_file_that_does_not_parse_is_the_only_error_reported() {
    let course = fixture();
    write(
        course.path(),
        "modules/01-intro/questions.toml",
        "[[questions]]\nid = \"q1\"\nkind = \"open\n",
    );
    let errors = errors(course.path());
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].starts_with("modules/01-intro/questions.toml:3:"),
        "{errors:#?}"
    );
}

#[test]
fn errors_in_multi_line_strings_point_at_their_own_line() {
    let course = fixture();
    // Line 6 opens the model answer; a line-ending backslash joins 7 and 8; the image is on 9
    // (counting value lines would say 8).
    let continued = QUESTIONS.replace(
        "model_answer = \"Because.\"",
        "model_answer = \"\"\"\nBecause the first line \\\n  goes on here,\nand then ![a missing picture](gone.png) on line 9.\n\"\"\"",
    );
    write(course.path(), "modules/01-intro/questions.toml", &continued);
    assert_reports(
        course.path(),
        "modules/01-intro/questions.toml:9:10: link to missing file `modules/01-intro/gone.png`",
    );
    // `\n` escapes make value lines without source lines: still line 5.
    let escaped = QUESTIONS.replace(
        "prompt = \"Why?\"",
        "prompt = \"Why?\\n\\nSee ![this](gone.png).\"",
    );
    write(course.path(), "modules/01-intro/questions.toml", &escaped);
    assert_reports(
        course.path(),
        "modules/01-intro/questions.toml:5:5: link to missing file `modules/01-intro/gone.png`",
    );
}

#[test]
fn a_string_left_open_is_named_on_its_line_and_drags_in_no_second_error() {
    let course = crate::common::course_copy();
    crate::common::edit(
        &crate::common::module_dir(course.path()).join("questions.toml"),
        "A stacked control plane has **four** etcd members.",
        "A stacked control plane has **four** etcd members.\n",
    );
    let errors = errors(course.path());
    assert_eq!(
        errors,
        [
            "modules/01-cluster-architecture/questions.toml:8:61: unterminated string: a quoted string ends on the line it starts on; for several lines use triple quotes (\"\"\" … \"\"\")"
        ],
        "one error, on the line where the string was left open; links to the questions it held are not reported"
    );
}
