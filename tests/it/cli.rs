//! The `lectern` command as users run it.

use std::time::{Duration, Instant};

use crate::common::{course_copy, default_course_dir, edit, free_port, lectern_cmd, module_dir};

fn run(args: &[&str]) -> (i32, String, String) {
    let output = lectern_cmd().args(args).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn version_and_help_work() {
    let (code, out, _) = run(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), format!("lectern {}", env!("CARGO_PKG_VERSION")));
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("serve") && out.contains("validate"), "{out}");
    let (code, out, _) = run(&["serve", "--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--addr",
        "--content",
        "--watch",
        "--db",
        "LECTERN_ADDR",
        "LECTERN_DB",
        "LECTERN_CONTENT",
    ] {
        assert!(out.contains(flag), "serve --help lacks {flag}: {out}");
    }
}

#[test]
fn validate_accepts_the_default_course() {
    let dir = default_course_dir();
    let (code, out, _) = run(&["validate", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("is valid: 1 module, 12 lab steps, 15 questions"),
        "{out}"
    );
}

#[test]
fn validate_prints_every_error_with_file_and_line_and_fails() {
    let course = course_copy();
    let module = module_dir(course.path());
    edit(
        &course.path().join("course.toml"),
        "description =",
        "descripton =",
    );
    edit(
        &module.join("module.md"),
        "## Why it matters\n",
        "## Why it matters\n\nSee [the missing page](../02-next/module.md).\n",
    );
    let (code, out, _) = run(&["validate", course.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    let root = course.path().display();
    assert!(out.contains(&format!("{root}/modules/01-cluster-architecture/module.md:3:5: link to missing file `modules/02-next/module.md`")), "{out}");
    assert!(
        out.contains(&format!(
            "{root}/course.toml:3:1: unknown field `descripton`"
        )),
        "{out}"
    );
    assert!(out.trim_end().ends_with("2 errors"), "{out}");
}

#[test]
fn validate_in_a_folder_that_is_no_course_says_so_in_one_line() {
    let scratch = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(scratch.path().join("target/debug")).unwrap();
    std::fs::write(
        scratch.path().join("target/debug/lib.rcgu.o"),
        [0xff, 0xfe, 0],
    )
    .unwrap();
    std::fs::write(scratch.path().join("notes.md"), "# notes").unwrap();
    let (code, out, _) = run(&["validate", scratch.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("course.toml:1:1: file is missing: ")
            && out.contains("is not a course folder")
            && !out.contains("rcgu.o"),
        "one clear answer, no walk through unrelated files: {out}"
    );
    assert!(out.trim_end().ends_with("1 error"), "{out}");
}

#[test]
fn serve_refuses_invalid_content_with_the_same_list() {
    let course = course_copy();
    edit(&course.path().join("course.toml"), "title =", "titel =");
    let (code, _, err) = run(&[
        "serve",
        "--content",
        course.path().to_str().unwrap(),
        "--db",
        course.path().join("x.db").to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("course.toml:2:1: unknown field `titel`"),
        "{err}"
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    let (code, _, err) = run(&["serve", "--addr", "not-an-address"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("invalid value 'not-an-address' for '--addr <ADDR>'"),
        "{err}"
    );
}

#[tokio::test]
async fn environment_variables_configure_serve() {
    let course = course_copy();
    edit(
        &course.path().join("course.toml"),
        "Kubernetes in Practice",
        "Env Course",
    );
    let db = course.path().join("env.db");
    let port = free_port();
    let mut child = lectern_cmd()
        .arg("serve")
        .env("LECTERN_ADDR", format!("127.0.0.1:{port}"))
        .env("LECTERN_CONTENT", course.path())
        .env("LECTERN_DB", &db)
        .env("LECTERN_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/");
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        if let Ok(response) = reqwest::get(&url).await {
            break response.text().await.unwrap();
        }
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(body.contains("<h1>Env Course</h1>"));
    assert!(db.exists());
}
