//! The course as the server shows it: every page rendered to bytes once, and swapped whole when the
//! content is reloaded, so a request only looks a page up.

pub mod search;

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
    /// Every section of every module page, for `/search`.
    pub search: search::SearchIndex,
    pages: HashMap<String, Page>,
    assets: AssetUrls,
    banner: Vec<String>,
    live_reload: bool,
    build: u64,
}

/// Numbers each [`Site`] built by this process, so an open page can tell whether it is current.
static BUILDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Site {
    /// The loaded course behind the pages: modules, labs, questions.
    pub fn course(&self) -> &crate::content::Course {
        &self.rendered.course
    }

    /// Renders every page of `course`; `errors` (from a failed reload) are shown on each page.
    /// `live_reload`: pages reload themselves when the course changes (`--watch`).
    pub fn new(
        course: Arc<RenderedCourse>,
        assets: AssetUrls,
        errors: &[Diagnostic],
        live_reload: bool,
    ) -> Self {
        let banner: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let build = BUILDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let live_reload = live_reload.then_some(build);
        let mut pages = HashMap::new();
        let chrome = Chrome {
            course_title: &course.title,
            assets: &assets,
            banner: &banner,
            version: env!("CARGO_PKG_VERSION"),
            account: ACCOUNT_MARKER,
            live_reload,
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
            search: search::SearchIndex::build(&course.modules),
            rendered: course,
            pages,
            assets,
            banner,
            live_reload: live_reload.is_some(),
            build,
        }
    }

    /// The same course, re-rendered to show why the latest edit could not be loaded.
    pub fn with_errors(&self, errors: &[Diagnostic]) -> Self {
        Self::new(
            self.rendered.clone(),
            self.assets.clone(),
            errors,
            self.live_reload,
        )
    }

    /// The page at a path (`/`, `/modules/{id}`).
    pub fn page(&self, path: &str) -> Option<&Page> {
        self.pages.get(path)
    }

    /// The site's header and footer for a page rendered now, with `account` in the header.
    fn chrome<'a>(&'a self, account: &'a str) -> Chrome<'a> {
        Chrome {
            course_title: &self.rendered.title,
            assets: &self.assets,
            banner: &self.banner,
            version: env!("CARGO_PKG_VERSION"),
            account,
            live_reload: self.live_reload.then_some(self.build),
        }
    }

    /// A page of the site around `body` (already-escaped HTML), with `account` in the header.
    pub fn wrap(&self, title: &str, body: &str, account: &str) -> String {
        let chrome = self.chrome(account);
        render(&StandalonePage {
            chrome: &chrome,
            title,
            body,
        })
    }

    /// A page in the site's chrome that says what went wrong with a request (`heading`) and why,
    /// with the visitor's account area.
    pub fn problem(&self, heading: &str, message: &str, account: &str) -> String {
        let chrome = self.chrome(account);
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
    /// Under `--watch`, the site's build number, which the page's live-reload script compares.
    live_reload: Option<u64>,
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

/// The current site, replaced whole on reload; readers never see a half-built one. Every
/// replacement is a new version that subscribers (pages open under `--watch`) are told about.
#[derive(Debug)]
pub struct LiveSite {
    site: RwLock<Arc<Site>>,
    versions: tokio::sync::watch::Sender<SiteVersion>,
}

/// What subscribers to a [`LiveSite`] see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteVersion {
    /// The current site's [`Site::build`].
    Current(u64),
    /// The server is shutting down: subscriptions end.
    Closing,
}

impl LiveSite {
    /// Starts with `site`.
    pub fn new(site: Site) -> Self {
        let versions = tokio::sync::watch::Sender::new(SiteVersion::Current(site.build));
        Self {
            site: RwLock::new(Arc::new(site)),
            versions,
        }
    }

    /// The site as of now; cheap (an `Arc` clone).
    pub fn current(&self) -> Arc<Site> {
        self.site.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Swaps in a new version and tells subscribers.
    pub fn replace(&self, site: Site) {
        let build = site.build;
        *self.site.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(site);
        self.versions.send_if_modified(|v| {
            let open = *v != SiteVersion::Closing;
            if open {
                *v = SiteVersion::Current(build);
            }
            open
        });
    }

    /// Follows the current build from now on.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<SiteVersion> {
        self.versions.subscribe()
    }

    /// Ends every subscription, so open event streams do not hold up a graceful shutdown.
    pub fn close_subscriptions(&self) {
        self.versions.send_replace(SiteVersion::Closing);
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
