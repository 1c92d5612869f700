//! What a load balancer, systemd or Prometheus sees of a node: plain HTTP
//! GETs on its HTTP listener (`/healthz`, `/readyz`, `/metrics`), and the
//! metrics parsed as Prometheus text exposition.

use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;

/// GET `url`: its status code and body.
pub async fn http_get(url: &str) -> (u16, String) {
    let (status, _, body) = http_answer(url).await;
    (status, body)
}

/// GET `url`: its status code, headers and body (as text).
pub async fn http_answer(url: &str) -> (u16, http::HeaderMap, String) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, Empty<bytes::Bytes>>(HttpConnector::new());
    let response = client
        .get(url.parse().expect("a URL"))
        .await
        .expect("the node's HTTP listener answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// `/readyz` of the console at `console` (its URL, with or without the
/// trailing slash): status and body.
pub async fn readyz(console: &str) -> (u16, String) {
    http_get(&format!("{}/readyz", console.trim_end_matches('/'))).await
}

/// `/metrics` of the console at `console`, parsed (a failure to parse fails the test).
pub async fn scrape(console: &str) -> prometheus_parse::Scrape {
    let (status, body) = http_get(&format!("{}/metrics", console.trim_end_matches('/'))).await;
    assert_eq!(status, 200, "{body}");
    let lines = body.lines().map(|line| Ok(line.to_owned()));
    prometheus_parse::Scrape::parse(lines).expect("Prometheus text exposition")
}

/// The value of sample `name` (with `label` = value, if given), if there is one.
pub fn sample(
    scrape: &prometheus_parse::Scrape,
    name: &str,
    label: Option<(&str, &str)>,
) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|sample| {
            sample.metric == name
                && label.is_none_or(|(key, value)| sample.labels.get(key) == Some(value))
        })
        .map(|sample| match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

/// Every sample named `name`, with the value of its label `label`.
pub fn labelled(scrape: &prometheus_parse::Scrape, name: &str, label: &str) -> Vec<(String, f64)> {
    scrape
        .samples
        .iter()
        .filter(|sample| sample.metric == name)
        .filter_map(|sample| {
            let value = match sample.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
                _ => return None,
            };
            Some((sample.labels.get(label)?.to_owned(), value))
        })
        .collect()
}
