//! The analyst console of a real `tansiq-node --dev --demo --http`, in
//! Debian's Chromium driven headless through chromedriver (WebDriver), and
//! over plain HTTP for status codes and headers: every page answers, the
//! figures are the gRPC Coverage answers for the same scope, the links lead
//! from the matrix to a municipality to a project's signed history, Arabic
//! pages are right to left, an early as-of date shows the empty ledger, a
//! hostile title is text, and a bad P-code is a 404 page. Screenshots of
//! the overview and a municipality in both languages go to
//! `<target>/console-screenshots/`.

// Test code: a panic with its location is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use http_body_util::Empty;
use hyper_util::client::legacy::connect::HttpConnector;
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::coverage_client::CoverageClient;
use tansiq_proto::v1::event_body::Kind;
use tansiq_tests::{author, Node};
use tonic::transport::Channel;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Every wait polls until this long has passed: generous, the machine may
/// be busy with other tests.
const DEADLINE: Duration = Duration::from_secs(90);
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'";
const LIVE_SCRIPT: &str = "<script src=\"/static/live.js\" defer></script>";
const HOSTILE_TITLE: &str = "<img src=x onerror=alert(1)>";
const HOSTILE_ARABIC: &str = "</script><script>alert(2)</script> عنوان";

/// A headless Chromium session; chromedriver is killed when dropped.
struct Browser {
    client: Client,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    async fn start() -> Browser {
        for program in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(program).exists(),
                "{program} is missing: install Debian's chromium and chromium-driver (scripts/test.sh does)"
            );
        }
        let port = tansiq_tests::ports::unclaimed_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1000",
                         "--lang=en-US", "--no-first-run"],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(error) if started.elapsed() < DEADLINE => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("chromedriver did not start a session: {error}"),
            }
        };
        Browser { client, driver }
    }

    async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("{css}: {error}"))
            .text()
            .await
            .unwrap()
    }

    async fn attribute(&self, css: &str, name: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("{css}: {error}"))
            .attr(name)
            .await
            .unwrap()
            .unwrap_or_default()
    }

    /// The `name` attribute of every element `css` selects, in order.
    async fn attributes(&self, css: &str, name: &str) -> Vec<String> {
        let mut values = Vec::new();
        for element in self.client.find_all(Locator::Css(css)).await.unwrap() {
            values.push(element.attr(name).await.unwrap().unwrap_or_default());
        }
        values
    }

    async fn count(&self, css: &str) -> usize {
        self.client.find_all(Locator::Css(css)).await.unwrap().len()
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("{css}: {error}"))
            .click()
            .await
            .unwrap();
    }

    /// Waits until the page's address contains `part`.
    async fn wait_for_address(&self, part: &str) {
        let started = Instant::now();
        loop {
            let url = self.client.current_url().await.unwrap();
            if url.as_str().contains(part) {
                return;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "the browser stayed on {url}, not {part}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `<html dir>` is `dir`.
    async fn wait_for_direction(&self, dir: &str) {
        let started = Instant::now();
        while self.attribute("html", "dir").await != dir {
            assert!(started.elapsed() < DEADLINE, "the page never turned {dir}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

/// `<target>/console-screenshots`, beside the profile holding the binaries.
fn screenshot_dir() -> PathBuf {
    let bin_dir = tansiq_tests::bin_dir();
    bin_dir
        .parent()
        .unwrap_or(&bin_dir)
        .join("console-screenshots")
}

/// An answer over plain HTTP: status, Content-Security-Policy, body.
struct Answer {
    status: u16,
    policy: String,
    body: String,
}

async fn get(url: &str) -> Answer {
    let (status, headers, body) = tansiq_tests::probes::http_answer(url).await;
    let policy = headers
        .get("content-security-policy")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    Answer {
        status,
        policy,
        body,
    }
}

/// How many items a listing holds, every page walked.
async fn listed<F, Fut>(mut page: F) -> usize
where
    F: FnMut(pb::PageRequest) -> Fut,
    Fut: std::future::Future<Output = (usize, String)>,
{
    let (mut total, mut token) = (0, String::new());
    loop {
        let (items, next) = page(pb::PageRequest {
            page_size: 1000,
            page_token: token,
        })
        .await;
        total += items;
        if next.is_empty() {
            return total;
        }
        token = next;
    }
}

/// The overview's figures, as a gRPC client counts them.
async fn grpc_counts(coverage: &mut CoverageClient<Channel>, as_of: &str) -> [(String, usize); 5] {
    let scope = || {
        Some(pb::Scope {
            as_of: as_of.to_owned(),
            ..Default::default()
        })
    };
    let organisations = listed(|page| {
        let mut coverage = coverage.clone();
        async move {
            let answer = coverage
                .list_organisations(pb::ListOrganisationsRequest {
                    page: Some(page),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            (answer.organisations.len(), answer.next_page_token)
        }
    })
    .await;
    let municipalities = listed(|page| {
        let mut coverage = coverage.clone();
        async move {
            let answer = coverage
                .list_municipalities(pb::ListMunicipalitiesRequest {
                    page: Some(page),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            (answer.municipalities.len(), answer.next_page_token)
        }
    })
    .await;
    let projects = listed(|page| {
        let mut coverage = coverage.clone();
        let scope = scope();
        async move {
            let answer = coverage
                .list_projects(pb::ListProjectsRequest {
                    scope,
                    page: Some(page),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            (answer.projects.len(), answer.next_page_token)
        }
    })
    .await;
    let overlaps = coverage
        .overlaps(pb::OverlapsRequest {
            scope: scope(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .overlaps
        .len();
    let gaps = coverage
        .gaps(pb::GapsRequest {
            scope: scope(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .gaps
        .len();
    // Totals counts what the two lists hold.
    let totals = coverage
        .totals(pb::TotalsRequest { scope: scope() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (totals.open_overlaps, totals.uncovered_needs),
        (overlaps as u64, gaps as u64)
    );
    [
        ("organisations".into(), organisations),
        ("municipalities".into(), municipalities),
        ("projects".into(), projects),
        ("overlaps".into(), overlaps),
        ("gaps".into(), gaps),
    ]
}

/// The overview's figures as the page shows them.
async fn page_counts(browser: &Browser) -> [(String, usize); 5] {
    let mut counts: [(String, usize); 5] = Default::default();
    for (slot, name) in counts.iter_mut().zip([
        "organisations",
        "municipalities",
        "projects",
        "overlaps",
        "gaps",
    ]) {
        let figure = browser
            .attribute(&format!("#count-{name}"), "data-count")
            .await;
        *slot = (
            name.to_owned(),
            figure
                .parse()
                .unwrap_or_else(|_| panic!("{name}: {figure}")),
        );
    }
    counts
}

async fn who_supports(
    coverage: &mut CoverageClient<Channel>,
    pcode: &str,
    as_of: &str,
) -> Vec<(String, String)> {
    coverage
        .who_supports(pb::WhoSupportsRequest {
            scope: Some(pb::Scope {
                pcode: pcode.to_owned(),
                as_of: as_of.to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .supports
        .into_iter()
        .map(|support| (support.project_id, support.sector))
        .collect()
}

/// The municipality page's rows: (project id, sector).
async fn page_supports(browser: &Browser) -> Vec<(String, String)> {
    let projects = browser.attributes("tr.support", "data-project").await;
    let sectors = browser.attributes("tr.support", "data-sector").await;
    projects.into_iter().zip(sectors).collect()
}

/// Registers, as the demo's EU, a project in Nalut whose titles are markup.
async fn register_hostile_project(node: &Node) {
    let mut ledger = node.client().await;
    let mut eu = author(&mut ledger, &node.data_dir.join("demo-keys").join("eu.key")).await;
    let details = pb::ProjectDetails {
        iati_identifier: "XI-IATI-EC_NEAR-eu-hostile-title".into(),
        title: Some(pb::Names {
            latin: HOSTILE_TITLE.into(),
            arabic: HOSTILE_ARABIC.into(),
        }),
        locations: vec![pb::ProjectLocation {
            pcode: "LY0301".into(),
            percentage: 0,
        }],
        sectors: vec![pb::ProjectSector {
            code: "21020".into(),
            percentage: 0,
        }],
        status: 1,
        planned_start: "2026-02-01".into(),
        planned_end: "2026-12-31".into(),
        budget: Some(pb::Money {
            value: "50000".into(),
            currency: "EUR".into(),
        }),
        ..Default::default()
    };
    let (event, _) = eu.sign(
        Kind::ProjectRegistered(pb::ProjectRegistered {
            project_id: "eu-hostile-title".into(),
            details: Some(details),
        }),
        tansiq_ledger::author::now_ms(),
    );
    ledger
        .submit(pb::SubmitRequest { event: Some(event) })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_reads_coverage_in_a_browser_in_english_and_arabic() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_with(dir.path(), &["--demo", "--http", "127.0.0.1:0"]);
    let console = node
        .console_url
        .clone()
        .expect("the node names its console");
    let console = console.trim_end_matches('/');
    let mut coverage = CoverageClient::new(node.channel().await);

    // Every page answers, with the policy; what a reader gets wrong is a
    // 4xx page saying so, never a 5xx.
    for path in [
        "/",
        "/matrix",
        "/matrix?pcode=LY&show=budget",
        "/gaps",
        "/gaps?pcode=LY03",
        "/overlaps",
        "/overlaps?all=1",
        "/m/LY0305",
        "/m/LY?sector=151",
        "/p/usaid-ghadames-governance",
        "/o/usaid",
        "/municipalities",
        "/municipalities?pcode=MA",
        "/organisations",
        "/projects?pcode=SY",
        "/?lang=ar",
        "/m/LY0305?as_of=2026-01-31",
        "/static/console.css",
    ] {
        let answer = get(&format!("{console}{path}")).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        assert_eq!(answer.policy, POLICY, "{path}");
        // Nothing from another host, and no script but the node's own
        // live-update file.
        for other_host in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
            assert!(!answer.body.contains(other_host), "{path}: {other_host}");
        }
        assert_eq!(
            answer.body.matches("<script").count(),
            answer.body.matches(LIVE_SCRIPT).count(),
            "{path}: a script other than the console's own"
        );
    }
    let long = "L".repeat(300);
    for (path, status, says) in [
        ("/m/XX99".to_owned(), 404, "XX99"),
        ("/p/no-such-project".to_owned(), 404, "no-such-project"),
        ("/o/nobody".to_owned(), 404, "nobody"),
        ("/no/such/page".to_owned(), 404, "no page"),
        ("/?as_of=2026-13-45".to_owned(), 400, "YYYY-MM-DD"),
        ("/m/LY0305?as_of=yesterday".to_owned(), 400, "YYYY-MM-DD"),
        (
            "/organisations?as_of=2026-02-30".to_owned(),
            400,
            "YYYY-MM-DD",
        ),
        ("/m/LY0305?sector=999".to_owned(), 400, "sector"),
        ("/gaps?pcode=XK".to_owned(), 404, "XK"),
        (format!("/matrix?pcode={long}"), 400, "at most 256"),
        (format!("/m/{long}"), 400, "at most 256"),
        ("/m/%FF%FE".to_owned(), 400, "not valid"),
        ("/?lang=fr".to_owned(), 400, "en or ar"),
        (
            "/matrix?show=everything".to_owned(),
            400,
            "donors or budget",
        ),
        ("/projects?after=%01".to_owned(), 400, "page_token"),
    ] {
        let answer = get(&format!("{console}{path}")).await;
        assert_eq!(answer.status, status, "{path}: {}", answer.body);
        assert!(answer.body.contains(says), "{path}: {}", answer.body);
        assert!(
            answer.body.contains("id=\"error-message\""),
            "{path}: {}",
            answer.body
        );
        assert_eq!(answer.policy, POLICY, "{path}");
    }
    // On an Arabic page, what was wrong is said in Arabic, the node's
    // detail after it marked as English.
    for (path, status, says) in [
        ("/gaps?as_of=yesterday&lang=ar", 400, "التاريخ غير صالح"),
        ("/m/XX99?lang=ar", 404, "لا يحمل السجل شيئاً"),
        ("/gaps?level=two&lang=ar", 400, "المستوى الإداري"),
    ] {
        let answer = get(&format!("{console}{path}")).await;
        assert_eq!(answer.status, status, "{path}: {}", answer.body);
        assert!(
            answer.body.contains("dir=\"rtl\""),
            "{path}: {}",
            answer.body
        );
        assert!(answer.body.contains(says), "{path}: {}", answer.body);
        assert!(
            answer
                .body
                .contains("id=\"error-message\" lang=\"en\" dir=\"ltr\""),
            "{path}: {}",
            answer.body
        );
    }

    let browser = Browser::start().await;

    // The overview's figures are the gRPC answers for the same scope.
    browser.open(&format!("{console}/")).await;
    assert_eq!(browser.attribute("html", "dir").await, "ltr");
    assert_eq!(
        page_counts(&browser).await,
        grpc_counts(&mut coverage, "").await
    );
    let head = tansiq_tests::head(&mut node.client().await).await;
    assert_eq!(browser.text("#chain-id").await, head.chain_id);
    browser.screenshot("overview-en").await;

    // A municipality's rows are WhoSupports' answer, in its order.
    browser.open(&format!("{console}/m/LY0305")).await;
    let rows = page_supports(&browser).await;
    assert_eq!(rows, who_supports(&mut coverage, "LY0305", "").await);
    assert!(rows.len() >= 2, "{rows:?}");
    assert_eq!(
        browser.count("tr.support.held").await,
        1,
        "UNDP's held project"
    );
    browser.screenshot("municipality-en").await;

    // Matrix cell → municipality → project → its signed history.
    browser.open(&format!("{console}/matrix")).await;
    assert!(
        browser.count("td.overlap a.cell span.mark.overlap").await > 0,
        "the matrix marks the demo's overlapping cells"
    );
    browser
        .click("a.cell[data-pcode=\"LY0305\"][data-category=\"151\"]")
        .await;
    browser.wait_for_address("/m/LY0305?sector=151").await;
    assert!(browser.text("h1").await.contains("Ghadames"));
    let in_sector = page_supports(&browser).await;
    assert!(
        in_sector
            .iter()
            .all(|(_, sector)| sector.starts_with("151"))
            && !in_sector.is_empty(),
        "{in_sector:?}"
    );
    browser
        .click("tr.support a.project[data-project=\"usaid-ghadames-governance\"]")
        .await;
    browser
        .wait_for_address("/p/usaid-ghadames-governance")
        .await;
    let history = coverage
        .project_history(pb::ProjectHistoryRequest {
            project_id: "usaid-ghadames-governance".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let expected: Vec<String> = history
        .entries
        .iter()
        .map(|e| hex::encode(&e.event_id))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(
        browser
            .attributes("tr.history-entry", "data-event-id")
            .await,
        expected
    );
    let positions: Vec<String> = history
        .entries
        .iter()
        .map(|e| e.position.to_string())
        .collect();
    assert_eq!(
        browser
            .attributes("tr.history-entry", "data-position")
            .await,
        positions
    );
    // What the project delivered, and what Ghadames' council said of it:
    // the output's target, reported and confirmed actual; its word on the
    // project's activity, the output and a disbursement it disputes.
    let period = "tr.result-period[data-result=\"staff-trained\"]";
    assert_eq!(browser.text(&format!("{period} td.target")).await, "60");
    assert_eq!(browser.text(&format!("{period} td.reported")).await, "45");
    assert_eq!(browser.text(&format!("{period} td.confirmed")).await, "45");
    assert_eq!(
        browser.attributes("tr.attestation", "data-verdict").await,
        ["confirmed", "confirmed", "disputed"]
    );
    assert!(browser
        .text("#attestations")
        .await
        .contains("The council's account received 240,000 USD"));

    // Arabic, by the language link (a cookie): right to left, Arabic names,
    // and it stays Arabic on the next page.
    browser.click("#lang-switch").await;
    browser.wait_for_direction("rtl").await;
    browser
        .wait_for_address("/p/usaid-ghadames-governance")
        .await;
    assert_eq!(browser.attribute("html", "lang").await, "ar");
    assert!(browser.text("h1").await.contains("إدارة بلدية غدامس"));
    assert!(browser.text("#results").await.contains("مؤكَّد"));
    browser.open(&format!("{console}/m/LY0305")).await;
    assert_eq!(browser.attribute("html", "dir").await, "rtl");
    assert!(browser.text("h1").await.contains("غدامس"));
    assert!(
        browser.text("main").await.contains("Ghadames"),
        "both scripts"
    );
    assert_eq!(page_supports(&browser).await, rows);
    // The council confirmed USAID's programme there; UNDP's nobody has.
    assert_eq!(
        browser
            .text("tr.support[data-project=\"usaid-ghadames-governance\"] .badge.activity")
            .await,
        "أكدته البلدية"
    );
    assert!(browser
        .attributes(
            "tr.support[data-project=\"undp-ghadames-local-governance\"] .badge.activity",
            "class"
        )
        .await
        .is_empty());
    browser.screenshot("municipality-ar").await;
    browser.open(&format!("{console}/")).await;
    assert_eq!(browser.attribute("html", "dir").await, "rtl");
    browser.screenshot("overview-ar").await;
    browser.click("#lang-switch").await;
    browser.wait_for_direction("ltr").await;

    // As of a day before the demo: nothing was there yet.
    browser.open(&format!("{console}/?as_of=2000-01-01")).await;
    let before = page_counts(&browser).await;
    assert_eq!(before, grpc_counts(&mut coverage, "2000-01-01").await);
    for (name, count) in &before[2..] {
        assert_eq!(*count, 0, "{name} as of 2000-01-01");
    }
    assert_eq!(browser.text("#answer-as-of").await, "2000-01-01");
    browser
        .open(&format!("{console}/m/LY0305?as_of=2000-01-01"))
        .await;
    assert_eq!(browser.count("tr.support").await, 0);
    assert!(who_supports(&mut coverage, "LY0305", "2000-01-01")
        .await
        .is_empty());
    assert_eq!(browser.count("#nobody").await, 1);
    // Links keep the date.
    assert!(browser
        .attribute("a[href^=\"/matrix\"]", "href")
        .await
        .contains("as_of=2000-01-01"));

    // A title that is markup is shown as text, and nothing runs.
    register_hostile_project(&node).await;
    browser.open(&format!("{console}/m/LY0301")).await;
    let link = "a.project[data-project=\"eu-hostile-title\"]";
    assert!(browser.text(link).await.contains(HOSTILE_TITLE));
    browser.open(&format!("{console}/p/eu-hostile-title")).await;
    assert!(browser.text("#project-title").await.contains(HOSTILE_TITLE));
    assert!(browser.text("h1").await.contains(HOSTILE_TITLE));
    assert_eq!(browser.count("img").await, 0);
    assert_eq!(browser.count("script").await, 0);
    assert!(
        browser.client.get_alert_text().await.is_err(),
        "no alert is open"
    );
    browser.click("#lang-switch").await;
    browser.wait_for_direction("rtl").await;
    assert!(browser.text("h1").await.contains(HOSTILE_ARABIC));
    assert_eq!(browser.count("script").await, 0);
    assert!(browser.client.get_alert_text().await.is_err());
    browser.click("#lang-switch").await;
    browser.wait_for_direction("ltr").await;
    let raw = get(&format!("{console}/p/eu-hostile-title")).await;
    assert!(
        raw.body.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{}",
        raw.body
    );
    assert!(!raw.body.contains("<img") && !raw.body.contains("<script"));

    // A P-code the ledger does not hold: a 404 page saying so.
    browser.open(&format!("{console}/m/XX99")).await;
    assert!(browser.text("h1").await.contains("404"));
    let message = browser.text("#error-message").await;
    assert!(
        message.contains("XX99") && message.contains("ListMunicipalities"),
        "{message}"
    );

    browser.client.clone().close().await.unwrap();
    drop(browser);
    // A node serving its console still stops cleanly on SIGTERM.
    assert!(node.terminate(), "tansiq-node exits with success");
    for name in [
        "overview-en",
        "overview-ar",
        "municipality-en",
        "municipality-ar",
    ] {
        let shot = screenshot_dir().join(format!("{name}.png"));
        assert!(
            std::fs::metadata(&shot).unwrap().len() > 1000,
            "{}",
            shot.display()
        );
    }
}

/// Registers, signed by `org`'s demo key, a project in `pcode` and
/// `sector` for 2026.
async fn register_project(node: &Node, org: &str, project_id: &str, pcode: &str, sector: &str) {
    let mut ledger = node.client().await;
    let key = node.data_dir.join("demo-keys").join(format!("{org}.key"));
    let mut author = author(&mut ledger, &key).await;
    // An activity identifier begins with its reporting organisation's.
    let organisations = CoverageClient::new(node.channel().await)
        .list_organisations(pb::ListOrganisationsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .organisations;
    let own = &organisations
        .iter()
        .find(|o| o.org_id == org)
        .unwrap()
        .iati_identifier;
    let details = pb::ProjectDetails {
        iati_identifier: format!("{own}-{project_id}"),
        title: Some(pb::Names {
            latin: format!("Water network for {pcode} ({org})"),
            arabic: String::new(),
        }),
        locations: vec![pb::ProjectLocation {
            pcode: pcode.into(),
            percentage: 0,
        }],
        sectors: vec![pb::ProjectSector {
            code: sector.into(),
            percentage: 0,
        }],
        status: 2,
        planned_start: "2026-01-01".into(),
        planned_end: "2027-12-31".into(),
        ..Default::default()
    };
    let (event, _) = author.sign(
        Kind::ProjectRegistered(pb::ProjectRegistered {
            project_id: project_id.into(),
            details: Some(details),
        }),
        tansiq_ledger::author::now_ms(),
    );
    ledger
        .submit(pb::SubmitRequest { event: Some(event) })
        .await
        .unwrap();
}

/// Polls until `check` holds, or fails saying `what` after [`DEADLINE`].
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < DEADLINE, "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_searches_filters_downloads_and_sees_new_events_live() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_with(dir.path(), &["--demo", "--http", "127.0.0.1:0"]);
    let console = node
        .console_url
        .clone()
        .expect("the node names its console");
    let console = console.trim_end_matches('/');
    let mut coverage = CoverageClient::new(node.channel().await);

    // Search: a name without its hamza finds the names written with it
    // (Aourir, أورير), in the page as in the gRPC answer.
    let answer = coverage
        .search(pb::SearchRequest {
            query: "اورير".into(),
            page: None,
        })
        .await
        .unwrap()
        .into_inner();
    let found: Vec<String> = answer
        .hits
        .iter()
        .map(|hit| format!("{}:{}", hit.kind, hit.id))
        .collect();
    assert!(
        found.contains(&"municipality:MA0901".to_owned()),
        "{found:?}"
    );
    assert!(
        found.contains(&"project:undp-aourir-desalination-solar".to_owned()),
        "{found:?}"
    );
    let browser = Browser::start().await;
    browser.open(&format!("{console}/search")).await;
    let field = browser.client.find(Locator::Css("#q")).await.unwrap();
    field.send_keys("اورير").await.unwrap();
    browser.click("form.search button").await;
    browser.wait_for_address("q=").await;
    let shown: Vec<String> = browser
        .attributes("tr.hit", "data-kind")
        .await
        .into_iter()
        .zip(browser.attributes("tr.hit", "data-id").await)
        .map(|(kind, id)| format!("{kind}:{id}"))
        .collect();
    assert_eq!(shown, found);
    browser.click("tr.hit[data-id=\"MA0901\"] a").await;
    browser.wait_for_address("/m/MA0901").await;
    // By project id and by IATI identifier: that one project.
    for query in [
        "usaid-ghadames-governance",
        "usaid-ghadames-governance".to_uppercase().as_str(),
    ] {
        let answer = get(&format!("{console}/search?q={query}")).await;
        assert_eq!(answer.status, 200, "{query}");
        assert!(
            answer
                .body
                .contains("data-id=\"usaid-ghadames-governance\""),
            "{query}: {}",
            answer.body
        );
    }
    let refused = coverage
        .search(pb::SearchRequest {
            query: " ،؟ ".into(),
            page: None,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    let bad_token = get(&format!("{console}/search?q=water&after=nothing")).await;
    assert_eq!(bad_token.status, 400, "{}", bad_token.body);

    // Gaps, filtered by sector and administrative level: the page's rows
    // are the gRPC answer for the same filters.
    let filtered = coverage
        .gaps(pb::GapsRequest {
            count: 0,
            scope: None,
            sector: "140".into(),
            admin_level: 2,
            limit: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!filtered.gaps.is_empty());
    // A limit keeps the highest ranked.
    let first = coverage
        .gaps(pb::GapsRequest {
            count: 0,
            scope: None,
            sector: "140".into(),
            admin_level: 2,
            limit: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.gaps, filtered.gaps[..1]);
    assert_eq!(first.total, filtered.gaps.len() as u64);
    // Overlaps: held pairs first; a limit keeps the first, the total counts all.
    let every = coverage
        .overlaps(pb::OverlapsRequest {
            include_complementary: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(every.overlaps.len() > 1, "{every:?}");
    assert_eq!(every.total, every.overlaps.len() as u64);
    let held = |overlap: &pb::Overlap| {
        [&overlap.a, &overlap.b]
            .into_iter()
            .flatten()
            .any(|side| side.pending_review)
    };
    // The demo holds a pair with a held project, and one without.
    assert!(every.overlaps.iter().any(held) && !every.overlaps.iter().all(held));
    assert!(
        every.overlaps.is_sorted_by_key(|overlap| !held(overlap)),
        "held pairs first: {every:?}"
    );
    let one = coverage
        .overlaps(pb::OverlapsRequest {
            include_complementary: true,
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one.overlaps, every.overlaps[..1]);
    assert_eq!(one.total, every.total);
    assert!(filtered
        .gaps
        .iter()
        .all(|gap| gap.sector.starts_with("140")));
    browser
        .open(&format!("{console}/gaps?sector=140&level=2"))
        .await;
    let rows: Vec<String> = browser.attributes("tr.gap", "data-pcode").await;
    let expected: Vec<String> = filtered.gaps.iter().map(|gap| gap.pcode.clone()).collect();
    assert_eq!(rows, expected);
    assert_eq!(get(&format!("{console}/gaps?level=9")).await.status, 400);
    assert_eq!(get(&format!("{console}/gaps?level=two")).await.status, 400);

    // Downloads are the CLI's export, byte for byte.
    for (format, suffix) in [("csv", ""), ("hxl", "&format=hxl")] {
        let download = get(&format!("{console}/download/coverage?pcode=LY{suffix}")).await;
        assert_eq!(download.status, 200, "{}", download.body);
        let exported = tansiq_tests::cli(&node, &["export", format, "LY"]);
        assert!(
            exported.status.success(),
            "{}",
            tansiq_tests::stderr(&exported)
        );
        assert_eq!(download.body, tansiq_tests::stdout(&exported), "{format}");
        assert!(download.body.lines().count() > 2, "{}", download.body);
    }
    let gaps_csv = get(&format!("{console}/download/gaps?format=hxl")).await;
    let all_gaps = coverage
        .gaps(pb::GapsRequest::default())
        .await
        .unwrap()
        .into_inner();
    // The header, the hashtags, a line per gap.
    assert_eq!(gaps_csv.body.lines().count(), 2 + all_gaps.gaps.len());
    assert!(gaps_csv
        .body
        .lines()
        .nth(1)
        .unwrap()
        .starts_with("#meta+rank"));
    let matrix_csv = get(&format!("{console}/download/matrix?pcode=LY")).await;
    let matrix = coverage
        .matrix(pb::MatrixRequest {
            scope: Some(pb::Scope {
                pcode: "LY".into(),
                ..Default::default()
            }),
            count: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!matrix.cells.is_empty());
    assert_eq!(matrix_csv.body.lines().count(), 1 + matrix.cells.len());
    // Each cell counts the open pairs Overlaps lists in its municipality
    // and category.
    let open = coverage
        .overlaps(pb::OverlapsRequest {
            scope: Some(pb::Scope {
                pcode: "LY".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut listed = std::collections::BTreeMap::new();
    for overlap in &open.overlaps {
        *listed
            .entry((overlap.pcode.clone(), overlap.sector[..3].to_owned()))
            .or_insert(0u64) += 1;
    }
    let counted: std::collections::BTreeMap<_, _> = matrix
        .cells
        .iter()
        .filter(|cell| cell.open_overlaps > 0)
        .map(|cell| {
            (
                (cell.pcode.clone(), cell.category.clone()),
                cell.open_overlaps,
            )
        })
        .collect();
    assert!(!counted.is_empty(), "the demo has overlaps");
    assert_eq!(counted, listed);
    assert_eq!(
        get(&format!("{console}/download/secrets")).await.status,
        404
    );
    assert_eq!(
        get(&format!("{console}/download/gaps?format=xlsx"))
            .await
            .status,
        400
    );
    // The page's download link leads there.
    browser.open(&format!("{console}/m/LY0305")).await;
    assert!(browser
        .attribute("#download-coverage", "href")
        .await
        .starts_with("/download/coverage?pcode=LY0305"));

    // The overview lists the latest events, newest first.
    let head = tansiq_tests::head(&mut node.client().await).await;
    browser.open(&format!("{console}/")).await;
    let positions = browser.attributes("tr.event", "data-position").await;
    assert_eq!(positions.first(), Some(&head.position.to_string()));
    assert_eq!(positions.len(), 10);

    // Live: Nalut's water need is a gap; a project there closes it, and
    // the open gaps page drops the row without a reload.
    let nalut_water = "tr.gap[data-pcode=\"LY0301\"][data-sector=\"14030\"]";
    browser.open(&format!("{console}/gaps")).await;
    assert_eq!(browser.count(nalut_water).await, 1);
    register_project(&node, "eu", "eu-nalut-water", "LY0301", "14030").await;
    eventually("the gaps page drops Nalut's water need", || async {
        browser.count(nalut_water).await == 0
    })
    .await;
    assert_eq!(browser.count("#live-note").await, 1);
    // A second donor there: a new overlap appears on the open overlaps
    // page, and the overview's latest event is its registration.
    let nalut_overlap = "article.overlap[data-pcode=\"LY0301\"][data-sector=\"14030\"]";
    browser.open(&format!("{console}/overlaps")).await;
    assert_eq!(browser.count(nalut_overlap).await, 0);
    register_project(&node, "undp", "undp-nalut-water", "LY0301", "14030").await;
    eventually(
        "the overlaps page shows the new overlap in Nalut",
        || async { browser.count(nalut_overlap).await == 1 },
    )
    .await;
    let head = tansiq_tests::head(&mut node.client().await).await;
    assert_eq!(
        browser.text("#answer-position").await,
        head.position.to_string(),
        "the footer is the new answer's"
    );
    browser.screenshot("overlaps-live-en").await;

    browser.client.clone().close().await.unwrap();
    drop(browser);
    assert!(node.terminate(), "tansiq-node exits with success");
}

/// One HTTP/1.1 request over TLS to the console at `address`, trusting
/// `ca`, presenting `client` (certificate, key) if given: the status, the
/// headers and the body, or the TLS error.
async fn https(
    address: &str,
    ca: &Path,
    client: Option<(&Path, &Path)>,
    request: &str,
) -> Result<(u16, String), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(certificate.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(cert)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_file(key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector
        .connect(name, stream)
        .await
        .map_err(|error| error.to_string())?;
    tls.write_all(request.as_bytes())
        .await
        .map_err(|error| error.to_string())?;
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer)
        .await
        .map_err(|error| error.to_string())?;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("no HTTP answer: {answer:?}"))?;
    Ok((status, answer))
}

fn get_request(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: console\r\n{extra}Connection: close\r\n\r\n")
}

/// Beyond loopback the console is TLS with the node's certificate, and
/// opens only for an access token (by header or by the sign-in form's
/// cookie) or, on another node, only for a client certificate of the CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_loopback_the_console_is_tls_behind_a_token_or_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("console-tokens");
    let made = Command::new(tansiq_tests::binary("tansiq"))
        .args(["--output", "json", "console-token", "--hash-file"])
        .arg(&tokens)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", tansiq_tests::stderr(&made));
    let made: serde_json::Value = serde_json::from_slice(&made.stdout).unwrap();
    let token = made["token"].as_str().unwrap().to_owned();
    let stored = std::fs::read_to_string(&tokens).unwrap();
    assert!(
        !stored.contains(&token),
        "the file holds the hash, not the token"
    );

    let data = dir.path().join("node");
    let ca = data.join("tls").join("ca.pem");
    let tokens_arg = tokens.display().to_string();
    let node = Node::start_tls(
        &data,
        &[
            "--dev",
            "--listen",
            "127.0.0.1:0",
            "--http",
            "0.0.0.0:0",
            "--http-token-file",
            &tokens_arg,
        ],
        &ca,
    );
    let url = node.console_url.clone().unwrap();
    assert!(url.starts_with("https://0.0.0.0:"), "{url}");
    let port = url.trim_end_matches('/').rsplit(':').next().unwrap();
    let address = format!("127.0.0.1:{port}");

    let (status, answer) = https(&address, &ca, None, &get_request("/", ""))
        .await
        .unwrap();
    assert_eq!(status, 401, "{answer}");
    assert!(answer.contains("form class=\"sign-in\""), "{answer}");
    assert!(
        !answer.contains("count-projects"),
        "no figure without a token"
    );
    let wrong = get_request("/", "Authorization: Bearer 0000\r\n");
    assert_eq!(https(&address, &ca, None, &wrong).await.unwrap().0, 401);
    let bearer = get_request("/", &format!("Authorization: Bearer {token}\r\n"));
    let (status, answer) = https(&address, &ca, None, &bearer).await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("count-projects"), "{answer}");

    // The sign-in form sets a cookie that opens the pages.
    let form = format!("token={token}");
    let sign_in = format!(
        "POST /access HTTP/1.1\r\nHost: console\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    let (status, answer) = https(&address, &ca, None, &sign_in).await.unwrap();
    assert_eq!(status, 303, "{answer}");
    let cookie = answer
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: "))
        .unwrap_or_else(|| panic!("no cookie: {answer}"));
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let value = cookie.split(';').next().unwrap();
    let with_cookie = get_request("/gaps", &format!("Cookie: {value}\r\n"));
    assert_eq!(
        https(&address, &ca, None, &with_cookie).await.unwrap().0,
        200
    );
    // A form over 1 KiB is refused without being read whole.
    let big = format!(
        "POST /access HTTP/1.1\r\nHost: console\r\nContent-Length: 4000\r\nConnection: close\r\n\r\ntoken={}",
        "a".repeat(3994)
    );
    let (status, _) = https(&address, &ca, None, &big).await.unwrap();
    assert!(status == 400 || status == 413, "{status}");
    let bad_form = "POST /access HTTP/1.1\r\nHost: console\r\nContent-Length: 11\r\nConnection: close\r\n\r\ntoken=nope!";
    assert_eq!(https(&address, &ca, None, bad_form).await.unwrap().0, 401);

    // Plain HTTP to the TLS port gets no page.
    let plain = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, Empty<bytes::Bytes>>(HttpConnector::new())
        .get(format!("http://{address}/").parse().unwrap())
        .await;
    assert!(
        plain.as_ref().map_or(true, |answer| answer.status() != 200),
        "{plain:?}"
    );
    drop(node);

    // Client certificates: the handshake needs one of the node's CA.
    let data = dir.path().join("node-certs");
    let ca = data.join("tls").join("ca.pem");
    let node = Node::start_tls(
        &data,
        &[
            "--dev",
            "--listen",
            "127.0.0.1:0",
            "--http",
            "0.0.0.0:0",
            "--http-client-certs",
        ],
        &ca,
    );
    let url = node.console_url.clone().unwrap();
    let port = url.trim_end_matches('/').rsplit(':').next().unwrap();
    let address = format!("127.0.0.1:{port}");
    let refused = https(&address, &ca, None, &get_request("/", "")).await;
    assert!(refused.is_err(), "{refused:?}");
    let admin = (
        data.join("tls").join("admin.pem"),
        data.join("tls").join("admin.key"),
    );
    let (status, answer) = https(
        &address,
        &ca,
        Some((&admin.0, &admin.1)),
        &get_request("/", ""),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{answer}");
}

/// A node refuses to serve its console beyond loopback without an access
/// rule, saying what to add.
#[test]
fn the_console_is_refused_beyond_loopback_without_an_access_rule() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(tansiq_tests::binary("tansiq-node"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--dev", "--listen", "127.0.0.1:0", "--http", "0.0.0.0:8080"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("needs an access rule") && stderr.contains("--http-token-file"),
        "{stderr}"
    );
}

/// A console address already taken stops the node at once, naming --http.
#[test]
fn a_taken_console_address_names_the_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(tansiq_tests::binary("tansiq-node"))
        .arg("--data-dir")
        .arg(dir.path().join("node"))
        .args([
            "--dev",
            "--plaintext",
            "--listen",
            "127.0.0.1:0",
            "--http",
            &address,
        ])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot serve the console on {address}"))
            && stderr.contains("--http"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("node").join("db").exists(),
        "nothing written"
    );
}

/// The organisations (donors) supporting `pcode` or a place under it, as a
/// gRPC client counts them from WhoSupports and, the same, from Matrix.
async fn organisations_supporting(coverage: &mut CoverageClient<Channel>, pcode: &str) -> usize {
    let scope = Some(pb::Scope {
        pcode: pcode.to_owned(),
        ..Default::default()
    });
    let donors: std::collections::BTreeSet<String> = coverage
        .who_supports(pb::WhoSupportsRequest {
            scope: scope.clone(),
            include_children: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .supports
        .into_iter()
        .map(|support| support.donor)
        .collect();
    let in_matrix: std::collections::BTreeSet<String> = coverage
        .matrix(pb::MatrixRequest { scope, count: 0 })
        .await
        .unwrap()
        .into_inner()
        .cells
        .into_iter()
        .flat_map(|cell| cell.donors)
        .collect();
    assert_eq!(donors, in_matrix, "{pcode}: WhoSupports and Matrix agree");
    donors.len()
}

/// `/map` of the demo (its illustrative boundaries): a shape a place, each
/// coloured as the gRPC answers for it say and as the legend reads, each a
/// link to its page; by uncovered needs too, in Arabic too. Screenshots
/// `map-en`, `map-gaps-en` and `map-ar`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_looks_at_the_map() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_with(dir.path(), &["--demo", "--http", "127.0.0.1:0"]);
    let console = node
        .console_url
        .clone()
        .expect("the node names its console");
    let console = console.trim_end_matches('/');
    let mut coverage = CoverageClient::new(node.channel().await);

    // Over HTTP: the map answers with the policy, colours without a style
    // attribute, nothing from another host; what is wrong is a 4xx page.
    for path in [
        "/map",
        "/map?by=gaps",
        "/map?lang=ar",
        "/map?pcode=LY03&by=gaps",
        "/map?sector=140",
        "/map?as_of=2000-01-01",
    ] {
        let answer = get(&format!("{console}{path}")).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        assert_eq!(answer.policy, POLICY, "{path}");
        assert!(!answer.body.contains("style="), "{path}: an inline style");
        for other_host in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
            assert!(!answer.body.contains(other_host), "{path}: {other_host}");
        }
        assert!(answer.body.contains("id=\"illustrative\""), "{path}");
    }
    for (path, status, says) in [
        ("/map?by=colour", 400, "coverage or gaps"),
        ("/map?pcode=XK", 404, "XK"),
        ("/map?sector=999", 400, "sector"),
    ] {
        let answer = get(&format!("{console}{path}")).await;
        assert_eq!(answer.status, status, "{path}: {}", answer.body);
        assert!(answer.body.contains(says), "{path}: {}", answer.body);
    }
    // Before the demo: nobody anywhere, and links keep the date.
    let before = get(&format!("{console}/map?as_of=2000-01-01")).await.body;
    assert_eq!(
        before.matches("data-figure=\"0\"").count(),
        before.matches("<path").count()
    );
    assert!(before.contains("href=\"/m/LY0305?as_of=2000-01-01\""));

    // A shape for each municipality of the ledger below the countries (the
    // demo draws no border between states), and nothing missing.
    let mut places = Vec::new();
    let mut token = String::new();
    loop {
        let page = coverage
            .list_municipalities(pb::ListMunicipalitiesRequest {
                page: Some(pb::PageRequest {
                    page_size: 1000,
                    page_token: token,
                }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        places.extend(
            page.municipalities
                .into_iter()
                .filter(|m| m.admin_level > 0)
                .map(|m| m.pcode),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    places.sort();
    assert_eq!(places.len(), 9, "{places:?}");
    let browser = Browser::start().await;
    browser.open(&format!("{console}/map")).await;
    assert_eq!(browser.attribute("html", "dir").await, "ltr");
    assert_eq!(browser.count("svg.map path").await, places.len());
    let mut drawn = browser.attributes("svg.map path", "data-pcode").await;
    drawn.sort();
    assert_eq!(drawn, places);
    assert_eq!(browser.attribute("#without-shape", "data-count").await, "0");
    assert_eq!(
        browser.count("svg.map a[href^=\"/m/\"]").await,
        places.len()
    );

    // Each place's colour is the legend's for the number of organisations
    // gRPC says support it; a place whose places are drawn is uncoloured.
    let legend = browser.attributes("#legend svg.swatch rect", "fill").await;
    assert_eq!(legend.len(), 6, "{legend:?}");
    for pcode in &places {
        let path = format!("svg.map path[data-pcode=\"{pcode}\"]");
        let organisations = organisations_supporting(&mut coverage, pcode).await;
        assert_eq!(
            browser.attribute(&path, "data-figure").await,
            organisations.to_string(),
            "{pcode}"
        );
        let (fill, class) = (
            browser.attribute(&path, "fill").await,
            browser.attribute(&path, "class").await,
        );
        let has_places_under = places
            .iter()
            .any(|other| other != pcode && other.starts_with(pcode.as_str()));
        if has_places_under {
            assert_eq!(
                (fill.as_str(), class.as_str()),
                (legend[4].as_str(), "shape context")
            );
        } else {
            let step = organisations.min(3);
            assert_eq!(fill, legend[step], "{pcode}: {organisations}");
            assert_eq!(class, format!("shape c{step}"), "{pcode}");
        }
    }
    // Aourir: four donors (UNDP, the EU, WWF, the Red Cross).
    assert_eq!(
        browser
            .attribute("svg.map path[data-pcode=\"MA0901\"]", "class")
            .await,
        "shape c3"
    );
    browser.screenshot("map-en").await;

    // A shape opens its place's page.
    browser.click("svg.map path[data-pcode=\"LY0305\"]").await;
    browser.wait_for_address("/m/LY0305").await;
    assert!(browser.text("h1").await.contains("Ghadames"));

    // By uncovered needs: the largest need of each place, as Gaps says.
    browser.open(&format!("{console}/map")).await;
    browser.click("#by-gaps").await;
    browser.wait_for_address("/map?by=gaps").await;
    assert_eq!(browser.count("strong#by-gaps").await, 1);
    let legend = browser.attributes("#legend svg.swatch rect", "fill").await;
    let gaps = coverage
        .gaps(pb::GapsRequest {
            scope: Some(pb::Scope::default()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .gaps;
    assert!(!gaps.is_empty());
    for pcode in &places {
        let here: Vec<&pb::Gap> = gaps
            .iter()
            .filter(|gap| gap.pcode.starts_with(pcode.as_str()))
            .collect();
        let largest = here.iter().map(|gap| gap.people_in_need).max().unwrap_or(0);
        let path = format!("svg.map path[data-pcode=\"{pcode}\"]");
        assert_eq!(
            browser.attribute(&path, "data-figure").await,
            largest.to_string(),
            "{pcode}"
        );
        assert_eq!(
            browser.attribute(&path, "data-needs").await,
            here.len().to_string(),
            "{pcode}"
        );
        if !places
            .iter()
            .any(|other| other != pcode && other.starts_with(pcode.as_str()))
        {
            let step = match largest {
                _ if here.is_empty() => 0,
                0..10_000 => 1,
                10_000..100_000 => 2,
                _ => 3,
            };
            assert_eq!(
                browser.attribute(&path, "fill").await,
                legend[step],
                "{pcode}"
            );
            assert_eq!(
                browser.attribute(&path, "class").await,
                format!("shape g{step}"),
                "{pcode}"
            );
        }
    }
    browser.screenshot("map-gaps-en").await;

    // Arabic: right to left, Arabic names in the shapes' titles.
    browser.open(&format!("{console}/map?lang=ar")).await;
    browser.wait_for_direction("rtl").await;
    assert_eq!(browser.attribute("html", "lang").await, "ar");
    assert_eq!(browser.count("svg.map path").await, places.len());
    assert!(browser
        .attribute("svg.map a[data-pcode=\"LY0305\"]", "href")
        .await
        .contains("lang=ar"));
    browser.screenshot("map-ar").await;
    let arabic = get(&format!("{console}/map?lang=ar")).await.body;
    assert!(arabic.contains("<title>غدامس (LY0305)"), "{arabic}");

    browser.client.clone().close().await.unwrap();
    drop(browser);
    assert!(node.terminate(), "tansiq-node exits with success");
    for name in ["map-en", "map-gaps-en", "map-ar"] {
        let shot = screenshot_dir().join(format!("{name}.png"));
        assert!(
            std::fs::metadata(&shot).unwrap().len() > 1000,
            "{}",
            shot.display()
        );
    }
}

/// A boundaries file that cannot be drawn stops the node at start, before
/// its storage opens, saying what to fix.
#[test]
fn a_bad_boundaries_file_stops_the_node_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("boundaries.geojson");
    std::fs::write(
        &file,
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"Nalut"},
            "geometry":{"type":"Polygon","coordinates":[[[10,31],[11,31],[11,32],[10,31]]]}}]}"#,
    )
    .unwrap();
    let output = Command::new(tansiq_tests::binary("tansiq-node"))
        .arg("--data-dir")
        .arg(dir.path().join("node"))
        .args([
            "--dev",
            "--plaintext",
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--boundaries",
        ])
        .arg(&file)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "--boundaries {}: feature 1 (.features[0]) has no P-code property (looked for pcode, PCODE",
            file.display()
        )) && stderr.contains("ADM2_PCODE"),
        "{stderr}"
    );
    assert!(!dir.path().join("node").join("db").exists());
}
