//! `ember produce`: users from the seeded generator or a randomuser-style
//! API, produced to Kafka keyed by `id`.

pub mod api;
pub mod generator;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use ember_connectors::http::RandomUserApi;
use ember_connectors::kafka::{check_connection, ensure_topic, KafkaProducer, KafkaSecurity};

use generator::UserGenerator;
use uuid::Uuid;

/// What to produce, where, how fast.
#[derive(Debug, Clone)]
pub struct ProduceOptions {
    pub brokers: String,
    pub topic: String,
    /// Create the topic with this many partitions if it is missing.
    pub partitions: Option<i32>,
    /// Stop after this many records.
    pub count: Option<u64>,
    /// At most this many records per second.
    pub rate: Option<f64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    pub seed: u64,
    /// Fetch users from this API instead of generating them.
    pub api_url: Option<String>,
    /// Users per API request (`results=N`).
    pub api_page_size: usize,
    /// TLS/SASL settings (a pipeline's `[source.security]`).
    pub security: KafkaSecurity,
    /// Extra librdkafka producer properties.
    pub kafka_options: BTreeMap<String, String>,
}

/// What `produce` did.
#[derive(Debug, Clone, PartialEq)]
pub struct ProduceSummary {
    pub produced: u64,
    pub topic: String,
    pub source: &'static str,
    pub elapsed: Duration,
}

/// The ids of the first `n` records `produce` sends with `seed`: the
/// generator's users, or (`api`) the ids given to API users, which are drawn
/// alone. Checks use them to find exactly one run's rows in Cassandra.
pub fn produced_ids(seed: u64, n: u64, api: bool) -> Vec<Uuid> {
    let mut g = UserGenerator::new(seed);
    (0..n)
        .map(|_| if api { g.next_id() } else { g.next_user().id })
        .collect()
}

/// Produces records until `count` or `duration` is reached (or the API has
/// no more pages); `progress` is called with the running total.
pub async fn produce(
    opts: &ProduceOptions,
    mut progress: impl FnMut(u64),
) -> Result<ProduceSummary> {
    if opts.count.is_none() && opts.duration.is_none() {
        bail!("say how much to produce: --count, --duration, or both");
    }
    check_connection(&opts.brokers, &opts.security).await?;
    if let Some(partitions) = opts.partitions {
        if ensure_topic(&opts.brokers, &opts.security, &opts.topic, partitions).await? {
            tracing::info!(topic = %opts.topic, partitions, "topic created");
        }
    }
    let mut producer = KafkaProducer::new(
        &opts.brokers,
        &opts.security,
        &opts.topic,
        &opts.kafka_options,
    )?;
    producer.ready(Duration::from_secs(30)).await?;
    let started = Instant::now();
    let limit = opts.count.unwrap_or(u64::MAX);
    let mut ids = UserGenerator::new(opts.seed);
    let mut sent = 0u64;
    let api = opts
        .api_url
        .as_deref()
        .map(RandomUserApi::new)
        .transpose()?;
    let mut generator = UserGenerator::new(opts.seed);
    let mut page = 0u64;
    let mut pending: std::vec::IntoIter<serde_json::Value> = Vec::new().into_iter();
    while sent < limit && opts.duration.is_none_or(|d| started.elapsed() < d) {
        if let Some(rate) = opts.rate {
            let due = Duration::from_secs_f64(sent as f64 / rate);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        let (key, value) = match &api {
            None => {
                let user = generator.next_user();
                (user.id.to_string().into_bytes(), user.to_json())
            }
            Some(api) => {
                let user = match pending.next() {
                    Some(u) => u,
                    None => {
                        page += 1;
                        // Every page asks for the same size: the API pages by
                        // (page, results), so a smaller last page would re-read
                        // users already produced. Surplus users are dropped.
                        let size = opts.api_page_size.max(1);
                        let users = api
                            .fetch_page(size, page, Some(&opts.seed.to_string()))
                            .await?;
                        if users.is_empty() {
                            break;
                        }
                        pending = users.into_iter();
                        continue;
                    }
                };
                let id = ids.next_id();
                let flat = api::flatten(&user, id);
                (id.to_string().into_bytes(), serde_json::to_vec(&flat)?)
            }
        };
        producer.send(&key, &value).await?;
        sent += 1;
        if sent.is_multiple_of(1000) {
            progress(sent);
        }
    }
    let produced = producer.flush().await?;
    progress(produced);
    Ok(ProduceSummary {
        produced,
        topic: opts.topic.clone(),
        source: if api.is_some() { "api" } else { "generator" },
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn produced_ids_follow_what_produce_sends() {
        let users = UserGenerator::users(7, 50);
        let ids = produced_ids(7, 50, false);
        assert_eq!(ids, users.iter().map(|u| u.id).collect::<Vec<_>>());
        let mut g = UserGenerator::new(7);
        let api: Vec<Uuid> = (0..50).map(|_| g.next_id()).collect();
        assert_eq!(produced_ids(7, 50, true), api);
        // Other seeds give other users; ids are distinct within a run.
        assert_ne!(produced_ids(8, 50, false), ids);
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
    }
}
