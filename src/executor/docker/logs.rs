//! Reading containers' output, merged by time.

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use futures::StreamExt;

use crate::daemon::{self as conn, is_not_found};
use crate::executor::{ExecutorError, LogLine, LogStream};

/// The last `tail` lines over all `ids`, oldest first.
pub async fn collect(
    docker: &Docker,
    ids: &[String],
    tail: usize,
) -> Result<Vec<LogLine>, ExecutorError> {
    let mut lines = Vec::new();
    for id in ids {
        lines.extend(one(docker, id, tail).await?);
    }
    lines.sort_by_key(|l| l.ts);
    let skip = lines.len().saturating_sub(tail);
    Ok(lines.split_off(skip))
}

async fn one(docker: &Docker, id: &str, tail: usize) -> Result<Vec<LogLine>, ExecutorError> {
    let options = LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .timestamps(true)
        .tail(&tail.to_string())
        .build();
    let mut stream = docker.logs(id, Some(options));
    let mut lines = Vec::new();
    let read = async {
        while let Some(item) = stream.next().await {
            match item {
                Ok(out) => lines.extend(parse(id, &out)),
                Err(e) if is_not_found(&e) => break,
                Err(e) => return Err(ExecutorError::from(conn::map_err(e))),
            }
        }
        Ok(())
    };
    tokio::time::timeout(conn::CALL_TIMEOUT, read)
        .await
        .map_err(|_| ExecutorError::Unavailable {
            backend: "docker",
            reason: "reading logs timed out".into(),
        })??;
    Ok(lines)
}

/// One frame may hold several lines, each prefixed with its RFC 3339 timestamp.
fn parse(id: &str, out: &LogOutput) -> Vec<LogLine> {
    let stream = match out {
        LogOutput::StdErr { .. } => LogStream::Stderr,
        _ => LogStream::Stdout,
    };
    let short: String = id.chars().take(12).collect();
    LogLine::parse_timestamped(&short, stream, &String::from_utf8_lossy(out.as_ref()))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn frames_split_into_timestamped_lines() {
        let out = LogOutput::StdErr {
            message: Bytes::from_static(
                b"2026-01-02T03:04:05.123456789Z Traceback (most recent call last):\n2026-01-02T03:04:06Z   boom\n",
            ),
        };
        let lines = parse("0123456789abcdef", &out);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].line, "Traceback (most recent call last):");
        assert_eq!(lines[1].line, "  boom");
        assert_eq!(lines[0].stream, LogStream::Stderr);
        assert_eq!(lines[0].instance, "0123456789ab");
        assert!(lines[0].ts < lines[1].ts);
    }
}
