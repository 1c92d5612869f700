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
use http_body_util::{BodyExt, Empty};
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
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
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
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, Empty<bytes::Bytes>>(HttpConnector::new());
    let response = client.get(url.parse().unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let policy = response
        .headers()
        .get("content-security-policy")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        policy,
        body: String::from_utf8_lossy(&body).into_owned(),
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
        .gaps(pb::GapsRequest { scope: scope() })
        .await
        .unwrap()
        .into_inner()
        .gaps
        .len();
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
        // Nothing from another host, and no script at all.
        for other_host in [
            "src=\"http",
            "href=\"http",
            "src=\"//",
            "href=\"//",
            "<script",
        ] {
            assert!(!answer.body.contains(other_host), "{path}: {other_host}");
        }
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

    // Arabic, by the language link (a cookie): right to left, Arabic names,
    // and it stays Arabic on the next page.
    browser.click("#lang-switch").await;
    browser.wait_for_direction("rtl").await;
    browser
        .wait_for_address("/p/usaid-ghadames-governance")
        .await;
    assert_eq!(browser.attribute("html", "lang").await, "ar");
    assert!(browser.text("h1").await.contains("إدارة بلدية غدامس"));
    browser.open(&format!("{console}/m/LY0305")).await;
    assert_eq!(browser.attribute("html", "dir").await, "rtl");
    assert!(browser.text("h1").await.contains("غدامس"));
    assert!(
        browser.text("main").await.contains("Ghadames"),
        "both scripts"
    );
    assert_eq!(page_supports(&browser).await, rows);
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

/// A `--dev` node refuses to serve its console beyond loopback, saying why.
#[test]
fn the_console_is_refused_beyond_loopback() {
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
        stderr.contains("needs TLS and an access rule, not built yet"),
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
