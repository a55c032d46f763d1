//! The pages a learner sees, and the files they load.

use crate::common::browser::signed_in;
use crate::common::{TestApp, course_copy, edit, module_dir};

const MODULE: &str = "/modules/cluster-architecture";

#[tokio::test]
async fn home_lists_modules_with_duration_and_objectives() {
    let app = TestApp::spawn().await;
    let html = app.get_ok_text("/").await;
    assert!(html.contains("<h1>Kubernetes in Practice</h1>"), "{html}");
    assert!(
        html.contains(
            r#"<a href="/modules/cluster-architecture">Cluster architecture deep-dive</a>"#
        )
    );
    assert!(html.contains("5 h · lab in 12 steps (11 checked) · 15 questions"));
    assert!(html.contains("Explain how etcd keeps consistent state with Raft"));
}

#[tokio::test]
async fn module_page_shows_reading_lab_and_questions_in_place() {
    let app = TestApp::spawn().await;
    let html = app.get_ok_text(MODULE).await;
    assert!(html.contains("<h1>Cluster architecture deep-dive</h1>"));
    let reading = html.find("id=\"why-it-matters\"").expect("reading");
    let lab = html
        .find("data-lab=\"ha-control-plane\"")
        .expect("lab section");
    let troubleshooting = html
        .find("id=\"troubleshooting-the-control-plane\"")
        .expect("troubleshooting");
    let questions = html.find("class=\"assessment\"").expect("assessment");
    assert!(
        reading < lab && lab < troubleshooting && troubleshooting < questions,
        "sections out of order"
    );
    assert_eq!(html.matches("class=\"lab-step\"").count(), 12);
    assert!(html.contains(r#"data-step="create-ha-cluster""#));
    assert_eq!(html.matches("class=\"question\"").count(), 15);
    // Model answers and rubrics are for instructors only.
    assert!(!html.contains("The API server is the control plane's only entry point"));
    assert!(!html.contains("Request pipeline in order"));
}

#[tokio::test]
async fn code_is_highlighted_on_the_server_and_diagrams_are_left_to_mermaid() {
    let app = TestApp::spawn().await;
    let html = app.get_ok_text(MODULE).await;
    assert!(
        html.contains(r#"<code class="language-bash"><span class="hl-function">docker</span>"#),
        "bash not highlighted"
    );
    assert!(
        html.contains(r#"<span class="hl-tag">apiVersion</span>: <span class="hl-string">rbac.authorization.k8s.io/v1"#),
        "yaml not highlighted"
    );
    assert!(html.contains(r#"<button type="button" class="copy" hidden>Copy</button>"#));
    let diagram = html
        .split("<pre class=\"mermaid\">")
        .nth(1)
        .expect("mermaid block");
    assert!(diagram.starts_with("sequenceDiagram"));
    assert!(
        diagram.contains("S-&gt;&gt;API: POST pods/binding"),
        "diagram source must be escaped text"
    );
    assert!(
        html.contains("/static/vendor/mermaid/mermaid."),
        "mermaid.js not loaded on a page with a diagram"
    );
}

#[tokio::test]
async fn every_table_of_contents_entry_points_at_a_heading() {
    let app = TestApp::spawn().await;
    let html = app.get_ok_text(MODULE).await;
    let toc = html
        .split(r#"<ol class="toc""#)
        .nth(1)
        .and_then(|t| t.split("</ol>").next())
        .expect("toc");
    let targets: Vec<&str> = toc
        .split("href=\"#")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect();
    assert!(targets.len() > 20, "toc too short: {targets:?}");
    for target in &targets {
        assert_eq!(
            html.matches(&format!("id=\"{target}\"")).count(),
            1,
            "#{target} must exist exactly once"
        );
    }
    assert!(targets.contains(&"step-2-create-ha-cluster"));
    assert!(targets.contains(&"assessment"));
}

#[tokio::test]
async fn github_flavoured_markdown_renders() {
    let course = course_copy();
    let md = module_dir(course.path()).join("module.md");
    edit(
        &md,
        "## Why it matters\n",
        "## Why it matters\n\n- [x] done\n- [ ] todo\n\n~~old~~ new[^n]\n\n[^n]: A footnote.\n\n```go\nfunc main() {}\n```\n\n```rust\nfn main() {}\n```\n\n```json\n{\"a\": 1}\n```\n",
    );
    let app = TestApp::spawn_with_content(course.path(), false).await;
    let html = app.get_ok_text(MODULE).await;
    assert!(
        html.contains(r#"<input disabled="" type="checkbox" checked=""/>"#),
        "task list"
    );
    assert!(html.contains("<del>old</del>"), "strikethrough");
    assert!(html.contains("footnote-definition"), "footnotes");
    assert!(html.contains("<table>"), "tables");
    for lang in ["go", "rust", "json"] {
        let block = html
            .split(&format!("<code class=\"language-{lang}\">"))
            .nth(1)
            .expect(lang);
        assert!(
            block
                .split("</code>")
                .next()
                .is_some_and(|code| code.contains("<span class=\"hl-")),
            "{lang} not highlighted"
        );
    }
}

#[tokio::test]
async fn unknown_pages_get_a_helpful_404() {
    let app = TestApp::spawn().await;
    let response = app.get("/modules/no-such-module").await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    let html = response.text().await.unwrap();
    assert!(html.contains("There is no module “no-such-module” in this course."));
    assert!(html.contains(r#"<a href="/">Back to the course home</a>"#));
    let response = app.get("/nothing/here").await;
    assert_eq!(response.status(), 404);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("There is nothing at /nothing/here.")
    );
}

#[tokio::test]
async fn pages_revalidate_with_etags() {
    let app = TestApp::spawn().await;
    let first = app.get(MODULE).await;
    assert_eq!(first.headers()["cache-control"], "no-cache");
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let again = app
        .client
        .get(app.url(MODULE))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.unwrap().is_empty());
    let other = app
        .client
        .get(app.url(MODULE))
        .header("if-none-match", "\"stale\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
}

#[tokio::test]
async fn static_assets_are_fingerprinted_and_cached_forever() {
    let app = TestApp::spawn().await;
    let html = app.get_ok_text(MODULE).await;
    let css = html
        .split("<link rel=\"stylesheet\" href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap();
    assert!(
        css.starts_with("/static/css/lectern.")
            && css.ends_with(".css")
            && css.len() > "/static/css/lectern.css".len()
    );
    let response = app.get(css).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(
        response.headers()["content-type"],
        "text/css; charset=utf-8"
    );
    let mermaid = html
        .split("<script src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap();
    assert!(mermaid.contains("/vendor/mermaid/"), "{mermaid}");
    let response = app.get(mermaid).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert!(
        response.bytes().await.unwrap().len() > 1_000_000,
        "the real mermaid bundle is served"
    );
    assert_eq!(
        app.get("/static/css/lectern.0000000000.css").await.status(),
        404
    );
}

#[tokio::test]
async fn pages_load_nothing_from_other_hosts() {
    let app = TestApp::spawn().await;
    for path in ["/", MODULE] {
        let html = app.get_ok_text(path).await;
        for tag in html
            .split('<')
            .filter(|t| t.starts_with("script") || t.starts_with("link"))
        {
            assert!(
                !tag.contains("http:") && !tag.contains("https:") && !tag.contains("//"),
                "{path}: external asset in <{tag}"
            );
        }
    }
}

#[tokio::test]
async fn responses_are_compressed_when_the_client_accepts_it() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url(MODULE))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let plain = app.get(MODULE).await;
    assert!(plain.headers().get("content-encoding").is_none());
}

#[tokio::test]
async fn static_files_are_sent_as_compressed_at_build_time() {
    use std::io::Read;
    let app = TestApp::spawn().await;
    let html = app.get_ok_text(MODULE).await;
    let mermaid = html
        .split("<script src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let get = |accept: &'static str, etag: Option<String>| {
        let mut request = app
            .client
            .get(app.url(&mermaid))
            .header("accept-encoding", accept);
        if let Some(etag) = etag {
            request = request.header("if-none-match", etag);
        }
        request.send()
    };
    let plain = get("identity", None).await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain_etag = plain.headers()["etag"].to_str().unwrap().to_owned();
    let original = plain.bytes().await.unwrap();

    // Chromium's header: brotli, made by build.rs at quality 11 (tagged as its own representation).
    let response = get("gzip, deflate, br, zstd", None).await.unwrap();
    assert_eq!(response.headers()["content-encoding"], "br");
    assert_eq!(response.headers()["vary"], "accept-encoding");
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("{}-br\"", plain_etag.trim_end_matches('"')));
    let brotli = response.bytes().await.unwrap();
    assert!(
        brotli.len() * 4 < original.len(),
        "quality 11: {} of {} bytes",
        brotli.len(),
        original.len()
    );
    let mut decoded = Vec::new();
    brotli::BrotliDecompress(&mut &brotli[..], &mut decoded).unwrap();
    assert!(decoded == original, "brotli decodes to the file");

    // gzip for clients without brotli, and refusals honoured.
    let response = get("gzip;q=1, br;q=0", None).await.unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&response.bytes().await.unwrap()[..])
        .read_to_end(&mut decoded)
        .unwrap();
    assert!(decoded == original, "gzip decodes to the file");

    // Revalidation is per representation.
    let fresh = get("br", Some(etag.clone())).await.unwrap();
    assert_eq!(fresh.status(), 304);
    let stale = get("gzip", Some(etag)).await.unwrap();
    assert_eq!(
        stale.status(),
        200,
        "the gzip copy is another representation"
    );
}

#[tokio::test]
async fn course_assets_are_served_but_course_sources_are_not() {
    let course = course_copy();
    let module = module_dir(course.path());
    std::fs::create_dir_all(module.join("img")).unwrap();
    std::fs::write(
        module.join("img/ha.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
    )
    .unwrap();
    edit(
        &module.join("module.md"),
        "## Why it matters\n",
        "## Why it matters\n\n![HA topology](img/ha.svg)\n",
    );
    let app = TestApp::spawn_with_content(course.path(), false).await;
    let html = app.get_ok_text(MODULE).await;
    assert!(
        html.contains(
            r#"<img src="/files/modules/01-cluster-architecture/img/ha.svg" alt="HA topology" />"#
        ),
        "image link rewritten"
    );
    let image = app
        .get("/files/modules/01-cluster-architecture/img/ha.svg")
        .await;
    assert_eq!(image.status(), 200);
    assert_eq!(image.headers()["content-type"], "image/svg+xml");
    for source in ["questions.toml", "module.md", "module.toml"] {
        let response = app
            .get(&format!("/files/modules/01-cluster-architecture/{source}"))
            .await;
        assert_eq!(
            response.status(),
            404,
            "{source} must not be served (it may hold model answers)"
        );
    }
}

#[tokio::test]
async fn only_files_the_course_links_to_are_served_never_backups_or_other_spellings() {
    let course = course_copy();
    let module = module_dir(course.path());
    let questions = std::fs::read(module.join("questions.toml")).unwrap();
    for copy in [
        "questions.toml~",
        "questions.toml.bak",
        "questions.TOML",
        "#questions.toml#",
    ] {
        std::fs::write(module.join(copy), &questions).unwrap();
    }
    std::fs::write(module.join("solution.sh"), "kubectl apply -f answer.yaml\n").unwrap();
    std::fs::write(module.join("pod.yaml"), "apiVersion: v1\nkind: Pod\n").unwrap();
    edit(
        &module.join("module.md"),
        "## Why it matters\n",
        "## Why it matters\n\n[A manifest](pod.yaml)\n",
    );
    let app = TestApp::spawn_with_content(course.path(), false).await;
    let linked = app
        .get("/files/modules/01-cluster-architecture/pod.yaml")
        .await;
    assert_eq!(linked.status(), 200, "a linked file is served");
    for unlinked in [
        "questions.toml~",
        "questions.toml.bak",
        "questions.TOML",
        "%23questions.toml%23",
        "solution.sh",
        "../../course.toml",
    ] {
        let response = app
            .get(&format!(
                "/files/modules/01-cluster-architecture/{unlinked}"
            ))
            .await;
        assert_eq!(response.status(), 404, "{unlinked} must not be served");
        assert!(!response.text().await.unwrap().contains("model_answer"));
    }
}

#[tokio::test]
async fn files_only_a_model_answer_links_to_are_for_staff() {
    let course = course_copy();
    let module = module_dir(course.path());
    std::fs::write(
        module.join("solution-key.sh"),
        "kubectl apply -f answer.yaml\n",
    )
    .unwrap();
    std::fs::write(
        module.join("shared.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
    )
    .unwrap();
    edit(
        &module.join("questions.toml"),
        "model_answer = \"\"\"\nThe API server is the control plane's only entry point",
        "model_answer = \"\"\"\n[The key](solution-key.sh) and ![a picture](shared.svg).\n\nThe API server is the control plane's only entry point",
    );
    edit(
        &module.join("module.md"),
        "## Why it matters\n",
        "## Why it matters\n\n![A picture](shared.svg)\n",
    );
    let app = crate::common::grading::portal(
        TestApp::spawn_with_config(|c| {
            c.portal = true;
            c.content = Some(course.path().to_owned());
        })
        .await,
    )
    .await;
    let key = "/files/modules/01-cluster-architecture/solution-key.sh";
    let shared = "/files/modules/01-cluster-architecture/shared.svg";
    let ada = signed_in(&app, "ada").await;
    let ines = signed_in(&app, "ines").await;
    let refused = ada.get(key).await;
    assert_eq!(
        refused.status(),
        404,
        "a learner never gets a model answer's file"
    );
    assert!(refused.text().await.unwrap().contains("There is no file"));
    assert_eq!(
        ada.get(shared).await.status(),
        200,
        "the module links it too"
    );
    assert_eq!(
        ines.get(key).await.status(),
        200,
        "instructors grade with it"
    );
    let personal = TestApp::spawn_with_content(course.path(), false).await;
    assert_eq!(
        personal.get(key).await.status(),
        200,
        "in personal mode the learner scores their own answer against the model answer"
    );
}

#[test]
fn linking_a_copy_of_a_source_is_a_content_error() {
    let course = course_copy();
    let module = module_dir(course.path());
    std::fs::copy(
        module.join("questions.toml"),
        module.join("questions.toml.bak"),
    )
    .unwrap();
    edit(
        &module.join("module.md"),
        "## Why it matters\n",
        "## Why it matters\n\n[Answers](questions.toml.bak)\n",
    );
    let output = crate::common::lectern_cmd()
        .arg("validate")
        .arg(course.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("modules/01-cluster-architecture/module.md:")
            && stdout.contains("link to `modules/01-cluster-architecture/questions.toml.bak`"),
        "{stdout}"
    );
}

#[tokio::test]
async fn search_finds_sections_of_the_reading_the_lab_and_the_questions_and_never_model_answers() {
    let app = TestApp::spawn().await;
    let page = app.get_ok_text("/search?q=etcdutl+restore").await;
    assert!(
        page.contains(r#"<a href="/modules/cluster-architecture#step-7-"#),
        "step 7 is found: {page}"
    );
    assert!(page.contains("<mark>etcdutl</mark>"), "{page}");
    // The last word may be unfinished, as people type.
    let typing = app.get_ok_text("/search?q=etcdut").await;
    assert!(typing.contains("<mark>etcdutl</mark>"), "{typing}");
    // A question's prompt is found; its model answer (staff only) is not.
    let prompt = app.get_ok_text("/search?q=between+its+arrival").await;
    assert!(
        prompt.contains("/modules/cluster-architecture#question-api-server-role"),
        "{prompt}"
    );
    let model = app
        .get_ok_text("/search?q=stateless+optimistic+horizontally")
        .await;
    assert!(
        model.contains(
            "Nothing in this course has every word of “stateless optimistic horizontally”."
        ),
        "{model}"
    );
    // Every page has the box.
    let home = app.get_ok_text("/").await;
    assert!(
        home.contains(
            r#"<form class="header-search" method="get" action="/search" role="search">"#
        )
    );
    let long = "x".repeat(201);
    let refused = app.get(&format!("/search?q={long}")).await;
    assert_eq!(refused.status(), 400);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("a search is at most 200 characters")
    );
}

#[tokio::test]
async fn a_portal_searches_for_people_signed_in_only() {
    let app = TestApp::spawn_portal().await;
    let anonymous = app.get("/search?q=etcd").await;
    assert_eq!(
        anonymous.url().path(),
        "/sign-in",
        "the course is not public on a portal"
    );
    app.add_account("ada", lectern::auth::Role::Learner, None)
        .await;
    let ada = signed_in(&app, "ada").await;
    let page = ada.get("/search?q=etcd").await.text().await.unwrap();
    assert!(page.contains("<mark>etcd</mark>"), "{page}");
}
