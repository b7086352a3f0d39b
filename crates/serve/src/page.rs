//! The search page, embedded in the binary and served at `/`.

use axum::response::Html;

/// The page's HTML (one file: markup, style and script).
const PAGE: &str = include_str!("page.html");

/// `GET /`.
pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}
