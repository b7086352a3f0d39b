//! The search page in a real browser: Debian's headless chromium, driven
//! through chromedriver, types a query into the page `hypencoder serve`
//! embeds, submits it and must show the API's hits; a link with `?q=`
//! must show them too. `HYPENCODER_SCREENSHOT=FILE` keeps a screenshot.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hypencoder_test_support::Scratch;
use serde_json::{json, Value};

use crate::serve::{tiny_index, Served};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a free loopback port; killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Self {
        for program in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(program).exists(),
                "{program} is missing: install Debian's chromium and chromium-driver \
                 (scripts/test does)"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not listen within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless chromium session (no network but loopback, a fresh profile).
async fn browser(driver: &Driver, profile: &Scratch) -> Client {
    let args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1100,900",
    ]
    .iter()
    .map(|a| a.to_string())
    .chain([format!("--user-data-dir={}", profile.path().display())])
    .collect::<Vec<_>>();
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
    });
    let Value::Object(capabilities) = capabilities else {
        unreachable!("an object")
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a chromium session starts")
}

/// The hits the page shows once `#status` reports them: (rank, id, text).
async fn shown_hits(client: &Client) -> Vec<(String, String, String)> {
    let wait = client.wait().at_most(Duration::from_secs(30));
    wait.for_element(Locator::Css("li.hit"))
        .await
        .expect("results appear");
    let started = Instant::now();
    loop {
        let status = client.find(Locator::Id("status")).await.unwrap();
        if status.text().await.unwrap().contains("results in") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no status line"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut hits = Vec::new();
    for li in client.find_all(Locator::Css("li.hit")).await.unwrap() {
        let text_of = |css: &'static str| {
            let li = li.clone();
            async move {
                li.find(Locator::Css(css))
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap()
            }
        };
        hits.push((
            text_of(".rank").await,
            text_of(".id").await,
            text_of(".text").await,
        ));
    }
    hits
}

/// The API's ids and texts for `query` in `mode`.
fn api_hits(served: &Served, query: &str, mode: &str) -> Vec<(String, String)> {
    let answer = served.post_ok(
        "/v1/indexes/idx/search",
        &json!({"query": query, "k": 10, "mode": mode, "include_text": true}),
    );
    answer["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let text = h["text"].as_str().unwrap();
            (h["id"].as_str().unwrap().to_string(), text.to_string())
        })
        .collect()
}

/// The page's hits must be the API's, in order, ranked 1.., each with the
/// start of its text.
fn check_same(shown: &[(String, String, String)], api: &[(String, String)]) {
    assert_eq!(shown.len(), api.len(), "{shown:?}");
    for (i, ((rank, id, snippet), (api_id, api_text))) in shown.iter().zip(api).enumerate() {
        assert_eq!(rank, &format!("{}.", i + 1));
        assert_eq!(id, api_id);
        let start: String = api_text
            .split_whitespace()
            .take(4)
            .collect::<Vec<_>>()
            .join(" ");
        assert!(snippet.starts_with(&start), "{snippet:?} / {start:?}");
    }
}

/// Runs `test` on the served page in a fresh chromium, once the index
/// list has loaded.
fn on_page<F, Fut>(url: String, test: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let driver = Driver::start();
    let profile = Scratch::new("chromium-profile");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = browser(&driver, &profile).await;
        client.goto(&format!("{url}/")).await.unwrap();
        let wait = client.wait().at_most(Duration::from_secs(30));
        wait.for_element(Locator::Css("#index option"))
            .await
            .expect("the index list loads");
        test(client).await;
    });
}

#[test]
fn search_page_shows_the_apis_results_in_chromium() {
    let s = Scratch::new("serve-page");
    let index = tiny_index(&s, "idx", false);
    let served = Served::start(&["--index", &index]);
    on_page(served.url.clone(), |client| async move {
        let query = "capital of Australia";
        client
            .find(Locator::Id("q"))
            .await
            .unwrap()
            .send_keys(query)
            .await
            .unwrap();
        client
            .find(Locator::Id("go"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let shown = shown_hits(&client).await;
        check_same(&shown, &api_hits(&served, query, "hybrid"));
        let url = client.current_url().await.unwrap();
        assert_eq!(
            url.query(),
            Some("q=capital+of+Australia&index=idx&mode=hybrid")
        );

        // A link opens straight onto its results.
        let link = format!("{}/?q=capital+of+Australia&index=idx&mode=bm25", served.url);
        client.goto(&link).await.unwrap();
        let shown = shown_hits(&client).await;
        check_same(&shown, &api_hits(&served, query, "bm25"));
        let png = client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        if let Some(path) = std::env::var_os("HYPENCODER_SCREENSHOT") {
            std::fs::write(path, &png).unwrap();
        }
        client.close().await.unwrap();
    });
}

/// The tiny passages with a field each: `section` "a" for even ones, "b"
/// for odd ones, and a year.
fn fielded_index(s: &Scratch) -> String {
    let model = hypencoder_test_support::fixture("tiny-2layer")
        .display()
        .to_string();
    let passages = hypencoder_test_support::fixture_texts("tiny-2layer", "passages");
    let lines: Vec<String> = passages
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let section = if i % 2 == 0 { "a" } else { "b" };
            json!({"id": format!("d{i}"), "text": text, "section": section, "year": 2000 + i})
                .to_string()
        })
        .collect();
    let corpus = s.write_arg("fielded.jsonl", lines.join("\n") + "\n");
    let index = s.arg("idx");
    crate::HYPENCODER.ok(&[
        "index", "--model", &model, "--corpus", &corpus, "--index", &index,
    ]);
    index
}

/// Types `query` and `filter` into the page and submits them.
async fn submit(client: &Client, query: &str, filter: &str) {
    let q = client.find(Locator::Id("q")).await.unwrap();
    q.clear().await.unwrap();
    q.send_keys(query).await.unwrap();
    let filter_box = client.find(Locator::Id("filter")).await.unwrap();
    filter_box.clear().await.unwrap();
    filter_box.send_keys(filter).await.unwrap();
    client
        .find(Locator::Id("go"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Waits (at most 30 s) for the page's error line to contain `part`.
async fn error_shown(client: &Client, part: &str) {
    let started = Instant::now();
    loop {
        let text = client
            .find(Locator::Id("error"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains(part) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no error with {part:?}: {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn search_page_filters_on_fields_and_shows_them_in_chromium() {
    let s = Scratch::new("serve-page-fields");
    let index = fielded_index(&s);
    let served = Served::start(&["--index", &index]);
    on_page(served.url.clone(), |client| async move {
        let filter_box = client.find(Locator::Id("filter")).await.unwrap();
        assert!(
            filter_box.is_displayed().await.unwrap(),
            "the filter box shows for fields"
        );
        let placeholder = filter_box.attr("placeholder").await.unwrap().unwrap();
        assert!(placeholder.contains("section, year"), "{placeholder}");
        let query = "capital of Australia";
        submit(&client, query, r#"{"section": "b"}"#).await;
        let shown = shown_hits(&client).await;
        let api = served.post_ok(
            "/v1/indexes/idx/search",
            &json!({"query": query, "k": 10, "mode": "hybrid", "include_text": true,
                    "filter": {"section": "b"}}),
        );
        let api: Vec<(String, String)> = api["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["id"].as_str().unwrap().into(),
                    h["text"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert!(!api.is_empty());
        check_same(&shown, &api);
        // Each hit shows its fields, and the link holds the filter.
        let chips = client
            .find_all(Locator::Css("li.hit .field"))
            .await
            .unwrap();
        assert_eq!(chips.len(), 2 * api.len());
        assert_eq!(chips[0].text().await.unwrap(), "section b");
        let url = client.current_url().await.unwrap();
        assert!(
            url.query()
                .unwrap()
                .contains("filter=%7B%22section%22%3A+%22b%22%7D"),
            "{url}"
        );

        // A filter that is not JSON is reported, not sent; one the index
        // refuses shows the server's message.
        submit(&client, query, "{section: b").await;
        error_shown(&client, "the filter is not JSON").await;
        submit(&client, query, r#"{"section": {"gt": 1}}"#).await;
        error_shown(&client, "a range needs a number field").await;

        submit(&client, query, r#"{"year": {"gte": 2003}}"#).await;
        assert!(!shown_hits(&client).await.is_empty());
        let png = client.screenshot().await.unwrap();
        if let Some(path) = std::env::var_os("HYPENCODER_SCREENSHOT_FIELDS") {
            std::fs::write(path, &png).unwrap();
        }
        client.close().await.unwrap();
    });
}
