//! A client for randomuser.me-style APIs: `GET <url>?results=N&page=P[&seed=S]`
//! answering `{"results": [user, …], "info": {…}}`.

use std::time::Duration;

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("GET {url}: {message}")]
    Request { url: String, message: String },
    #[error("GET {url}: HTTP {status} after {attempts} attempt(s)")]
    Status {
        url: String,
        status: u16,
        attempts: u32,
    },
    #[error("GET {url}: the response is not a randomuser page: {message}")]
    Format { url: String, message: String },
}

/// Fetches pages of users, retrying transient failures (connection errors,
/// timeouts, HTTP 429 and 5xx) with exponential backoff.
#[derive(Debug, Clone)]
pub struct RandomUserApi {
    client: reqwest::Client,
    url: String,
    max_attempts: u32,
    first_backoff: Duration,
}

impl RandomUserApi {
    pub fn new(url: &str) -> Result<Self, HttpError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("ember/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpError::Request {
                url: url.into(),
                message: e.to_string(),
            })?;
        Ok(RandomUserApi {
            client,
            url: url.into(),
            max_attempts: 5,
            first_backoff: Duration::from_millis(200),
        })
    }

    /// Changes the retry budget (tests use a short one).
    pub fn with_retries(mut self, max_attempts: u32, first_backoff: Duration) -> Self {
        self.max_attempts = max_attempts.max(1);
        self.first_backoff = first_backoff;
        self
    }

    /// One page of `results` users.
    pub async fn fetch_page(
        &self,
        results: usize,
        page: u64,
        seed: Option<&str>,
    ) -> Result<Vec<Value>, HttpError> {
        let mut query = vec![("results", results.to_string()), ("page", page.to_string())];
        if let Some(seed) = seed {
            query.push(("seed", seed.to_string()));
        }
        let mut delay = self.first_backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self.client.get(&self.url).query(&query).send().await;
            let retryable = match outcome {
                Ok(resp) if resp.status().is_success() => {
                    let body: Value = resp.json().await.map_err(|e| HttpError::Format {
                        url: self.url.clone(),
                        message: e.to_string(),
                    })?;
                    return match body.get("results") {
                        Some(Value::Array(users)) => Ok(users.clone()),
                        _ => Err(HttpError::Format {
                            url: self.url.clone(),
                            message: "no `results` array".into(),
                        }),
                    };
                }
                Ok(resp) => {
                    let status = resp.status();
                    if !(status.is_server_error() || status.as_u16() == 429)
                        || attempt >= self.max_attempts
                    {
                        return Err(HttpError::Status {
                            url: self.url.clone(),
                            status: status.as_u16(),
                            attempts: attempt,
                        });
                    }
                    format!("HTTP {status}")
                }
                Err(e) => {
                    if attempt >= self.max_attempts {
                        return Err(HttpError::Request {
                            url: self.url.clone(),
                            message: format!("{e} (after {attempt} attempts)"),
                        });
                    }
                    e.to_string()
                }
            };
            tracing::warn!(url = %self.url, attempt, error = %retryable, "API request failed; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    }
}
