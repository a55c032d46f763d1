//! The course as the server shows it: every page rendered to bytes once, and swapped whole when the
//! content is reloaded, so a request only looks a page up.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, RwLock};

use askama::Template;
use bytes::Bytes;

use crate::assets::AssetUrls;
use crate::content::Diagnostic;
use crate::render::{RenderedCourse, RenderedModule};

/// Where a cached page shows who is signed in; filled per request in portal mode.
const ACCOUNT_MARKER: &str = "<!--lectern:account-->";
/// Where the course home shows the learner's progress; filled per request.
const PROGRESS_MARKER: &str = "<!--lectern:progress-->";

/// A per-request part of a cached page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Who is signed in, and sign-out.
    Account,
    /// The learner's progress and where to continue.
    Progress,
}

/// A rendered HTML page with its validator, cut where per-request parts go.
#[derive(Debug, Clone)]
pub struct Page {
    /// The complete document with every slot empty (personal mode, no progress).
    pub body: Bytes,
    /// Strong ETag of `body`.
    pub etag: String,
    /// The document between slots: one more than `slots`.
    pub segments: Vec<Bytes>,
    /// The slots, in document order.
    pub slots: Vec<Slot>,
}

impl Page {
    fn new(html: String) -> Self {
        let mut segments = Vec::new();
        let mut slots = Vec::new();
        let mut rest = html.as_str();
        loop {
            let next = [
                (ACCOUNT_MARKER, Slot::Account),
                (PROGRESS_MARKER, Slot::Progress),
            ]
            .into_iter()
            .filter_map(|(marker, slot)| rest.find(marker).map(|at| (at, marker, slot)))
            .min_by_key(|(at, _, _)| *at);
            let Some((at, marker, slot)) = next else {
                break;
            };
            segments.push(Bytes::copy_from_slice(&rest.as_bytes()[..at]));
            slots.push(slot);
            rest = &rest[at + marker.len()..];
        }
        segments.push(Bytes::copy_from_slice(rest.as_bytes()));
        let body: Vec<u8> = segments.iter().flat_map(|s| s.iter().copied()).collect();
        let mut hasher = DefaultHasher::new();
        body.hash(&mut hasher);
        Self {
            etag: format!("\"{:016x}\"", hasher.finish()),
            body: Bytes::from(body),
            segments,
            slots,
        }
    }
}

/// One consistent version of the site.
#[derive(Debug)]
pub struct Site {
    /// What the pages were rendered from.
    pub rendered: Arc<RenderedCourse>,
    pages: HashMap<String, Page>,
    assets: AssetUrls,
    banner: Vec<String>,
}

impl Site {
    /// The loaded course behind the pages: modules, labs, questions.
    pub fn course(&self) -> &crate::content::Course {
        &self.rendered.course
    }

    /// Renders every page of `course`; `errors` (from a failed reload) are shown on each page.
    pub fn new(course: Arc<RenderedCourse>, assets: AssetUrls, errors: &[Diagnostic]) -> Self {
        let banner: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let mut pages = HashMap::new();
        let chrome = Chrome {
            course_title: &course.title,
            assets: &assets,
            banner: &banner,
            version: env!("CARGO_PKG_VERSION"),
            account: ACCOUNT_MARKER,
        };
        let home = HomePage {
            progress: PROGRESS_MARKER,
            chrome: &chrome,
            description: &course.description,
            modules: &course.modules,
        };
        pages.insert("/".to_owned(), Page::new(render(&home)));
        for (i, module) in course.modules.iter().enumerate() {
            let page = ModulePage {
                chrome: &chrome,
                modules: &course.modules,
                module,
                previous: i.checked_sub(1).and_then(|p| course.modules.get(p)),
                next: course.modules.get(i + 1),
            };
            pages.insert(format!("/modules/{}", module.id), Page::new(render(&page)));
        }
        Self {
            rendered: course,
            pages,
            assets,
            banner,
        }
    }

    /// The same course, re-rendered to show why the latest edit could not be loaded.
    pub fn with_errors(&self, errors: &[Diagnostic]) -> Self {
        Self::new(self.rendered.clone(), self.assets.clone(), errors)
    }

    /// The page at a path (`/`, `/modules/{id}`).
    pub fn page(&self, path: &str) -> Option<&Page> {
        self.pages.get(path)
    }

    /// A page of the site around `body` (already-escaped HTML), with `account` in the header.
    pub fn wrap(&self, title: &str, body: &str, account: &str) -> String {
        let chrome = Chrome {
            course_title: &self.rendered.title,
            assets: &self.assets,
            banner: &self.banner,
            version: env!("CARGO_PKG_VERSION"),
            account,
        };
        render(&StandalonePage {
            chrome: &chrome,
            title,
            body,
        })
    }

    /// A page in the site's chrome that says what went wrong with a request (`heading`) and why,
    /// with the visitor's account area.
    pub fn problem(&self, heading: &str, message: &str, account: &str) -> String {
        let chrome = Chrome {
            course_title: &self.rendered.title,
            assets: &self.assets,
            banner: &self.banner,
            version: env!("CARGO_PKG_VERSION"),
            account,
        };
        render(&ProblemPage {
            chrome: &chrome,
            heading,
            message,
        })
    }
}

/// Templates are checked at compile time; rendering can only fail on a formatting error inside a value.
fn render(template: &impl Template) -> String {
    template.render().unwrap_or_else(|e| {
        format!("<!doctype html><title>Error</title><p>page could not be rendered: {e}</p>")
    })
}

/// What every page around the content shows.
struct Chrome<'a> {
    course_title: &'a str,
    assets: &'a AssetUrls,
    banner: &'a [String],
    version: &'a str,
    account: &'a str,
}

#[derive(Template)]
#[template(path = "page.html")]
struct StandalonePage<'a> {
    chrome: &'a Chrome<'a>,
    title: &'a str,
    body: &'a str,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    chrome: &'a Chrome<'a>,
    progress: &'a str,
    description: &'a str,
    modules: &'a [RenderedModule],
}

#[derive(Template)]
#[template(path = "module.html")]
struct ModulePage<'a> {
    chrome: &'a Chrome<'a>,
    modules: &'a [RenderedModule],
    module: &'a RenderedModule,
    previous: Option<&'a RenderedModule>,
    next: Option<&'a RenderedModule>,
}

#[derive(Template)]
#[template(path = "problem.html")]
struct ProblemPage<'a> {
    chrome: &'a Chrome<'a>,
    heading: &'a str,
    message: &'a str,
}

/// The current site, replaced whole on reload; readers never see a half-built one.
#[derive(Debug)]
pub struct LiveSite(RwLock<Arc<Site>>);

impl LiveSite {
    /// Starts with `site`.
    pub fn new(site: Site) -> Self {
        Self(RwLock::new(Arc::new(site)))
    }

    /// The site as of now; cheap (an `Arc` clone).
    pub fn current(&self) -> Arc<Site> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Swaps in a new version.
    pub fn replace(&self, site: Site) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(site);
    }
}

/// Filters the page templates use.
mod filters {
    /// `95` → `1 h 35 min`.
    pub(super) fn duration(minutes: &u32, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(match (minutes / 60, minutes % 60) {
            (0, m) => format!("{m} min"),
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        })
    }
}
