//! Query parameters, read as text and checked here: a wrong value is a 422 naming it.

use serde::Deserialize;

use super::error::ApiError;

/// Most lines `tail` may ask for.
pub const MAX_TAIL: usize = 10_000;

fn wrong(name: &str, reason: &str) -> ApiError {
    ApiError::fields([(name.to_owned(), reason.to_owned())].into())
}

/// A boolean: `true`, `false`, `1`, `0`, or present without a value (`true`).
fn boolean(name: &str, value: Option<&str>, default: bool) -> Result<bool, ApiError> {
    match value {
        None => Ok(default),
        Some("true" | "1" | "") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(_) => Err(wrong(name, "must be true or false")),
    }
}

/// `POST /callback/deploy?wait=`.
#[derive(Debug, Default, Deserialize)]
pub struct DeployParams {
    wait: Option<String>,
}

impl DeployParams {
    /// Whether the deploy answers when done (the default) or at once.
    pub fn wait(&self) -> Result<bool, ApiError> {
        boolean("wait", self.wait.as_deref(), true)
    }
}

/// `GET /callbacks?namespace=`.
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    namespace: Option<String>,
}

impl ListParams {
    /// The one namespace asked for, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref().filter(|n| !n.is_empty())
    }
}

/// `GET /callbacks/<path>/logs?tail=&follow=`.
#[derive(Debug, Default, Deserialize)]
pub struct LogsParams {
    tail: Option<String>,
    follow: Option<String>,
}

impl LogsParams {
    /// How many past lines (default 200).
    pub fn tail(&self) -> Result<usize, ApiError> {
        match self.tail.as_deref().map(str::parse::<usize>) {
            None => Ok(200),
            Some(Ok(n)) if (1..=MAX_TAIL).contains(&n) => Ok(n),
            Some(_) => Err(wrong(
                "tail",
                &format!("must be an integer in 1..={MAX_TAIL}"),
            )),
        }
    }

    /// Whether to keep streaming new lines.
    pub fn follow(&self) -> Result<bool, ApiError> {
        boolean("follow", self.follow.as_deref(), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logs(tail: Option<&str>, follow: Option<&str>) -> LogsParams {
        LogsParams {
            tail: tail.map(str::to_owned),
            follow: follow.map(str::to_owned),
        }
    }

    #[test]
    fn wait_defaults_to_true_and_accepts_false() {
        let wait = |v: Option<&str>| DeployParams {
            wait: v.map(str::to_owned),
        };
        assert!(wait(None).wait().expect("none"));
        assert!(!wait(Some("false")).wait().expect("false"));
        assert!(!wait(Some("0")).wait().expect("0"));
        assert!(wait(Some("maybe")).wait().is_err());
    }

    #[test]
    fn tail_is_1_to_10000_and_defaults_to_200() {
        assert_eq!(logs(None, None).tail().expect("default"), 200);
        assert_eq!(logs(Some("1"), None).tail().expect("1"), 1);
        for bad in ["0", "10001", "-3", "x"] {
            let e = logs(Some(bad), None).tail().expect_err(bad);
            assert!(e.details["fields"]["tail"].is_string());
        }
        assert!(logs(None, Some("true")).follow().expect("follow"));
        assert!(!logs(None, None).follow().expect("no follow"));
    }
}
