//! The dashboard in a real headless Chromium, driven over WebDriver (chromedriver), against the
//! real gateway with real Docker containers. Screenshots of every main view are saved to
//! `target/ui-screenshots/`.

mod browser;
mod dashboard;
mod gateway;
mod metrics;
mod namespaces;
mod tokens;
