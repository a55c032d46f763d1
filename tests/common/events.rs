//! Reading a server-sent event stream as a browser's `EventSource` does: events separated by a
//! blank line, `event:` naming one and `data:` carrying it; comments (keep-alives) skipped.

use std::time::{Duration, Instant};

/// An open event stream.
pub struct Events {
    response: reqwest::Response,
    buffer: String,
}

/// One event: its name (`message` when unnamed) and its data.
#[derive(Debug, Clone)]
pub struct ServerEvent {
    pub name: String,
    pub data: String,
}

impl ServerEvent {
    /// The data as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap_or(serde_json::Value::Null)
    }
}

impl Events {
    /// Reads `response` (which must be a 200 `text/event-stream`) as events.
    pub fn new(response: reqwest::Response) -> Self {
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event, which must come within `within`; `None` when the stream ended.
    pub async fn next(&mut self, within: Duration) -> Option<ServerEvent> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = ServerEvent {
                    name: "message".to_owned(),
                    data: String::new(),
                };
                let mut has_data = false;
                for line in block.lines() {
                    if let Some(name) = line.strip_prefix("event:") {
                        event.name = name.trim().to_owned();
                    } else if let Some(data) = line.strip_prefix("data:") {
                        if has_data {
                            event.data.push('\n');
                        }
                        event.data.push_str(data.strip_prefix(' ').unwrap_or(data));
                        has_data = true;
                    }
                }
                if has_data {
                    return Some(event);
                }
                continue; // a comment: a keep-alive
            }
            if !next_chunk(&mut self.response, &mut self.buffer, deadline).await {
                return None;
            }
        }
    }

    /// Skips events until one `matches`, which must come within `within`; panics with what came
    /// instead.
    pub async fn until(
        &mut self,
        within: Duration,
        matches: impl Fn(&ServerEvent) -> bool,
    ) -> ServerEvent {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.next(left + Duration::from_secs(1))).await {
                Ok(Some(event)) if matches(&event) => return event,
                Ok(Some(event)) => seen.push(format!("{}: {}", event.name, event.data)),
                Ok(None) => panic!("the stream ended; it sent:\n{}", seen.join("\n")),
                Err(_) => panic!(
                    "no such event within {within:?}; the stream sent:\n{}\n(unread: {:?})",
                    seen.join("\n"),
                    self.buffer
                ),
            }
        }
    }
}

/// Appends a stream's next chunk to `buffer`, which must come before `deadline`; `false` when the
/// stream ended instead.
pub async fn next_chunk(
    response: &mut reqwest::Response,
    buffer: &mut String,
    deadline: Instant,
) -> bool {
    let left = deadline.saturating_duration_since(Instant::now());
    let chunk = tokio::time::timeout(left, response.chunk())
        .await
        .expect("a chunk in time")
        .unwrap();
    if let Some(chunk) = &chunk {
        buffer.push_str(&String::from_utf8_lossy(chunk));
    }
    chunk.is_some()
}
