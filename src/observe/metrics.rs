//! The Prometheus metrics of a running pipeline, fed from each batch's
//! report (the same numbers as the progress lines and `--summary-json`).
//!
//! The exposition is the `prometheus` crate's `TextEncoder`; nothing here
//! formats the text itself. Every metric is listed in the README
//! ("Observability"); a new one goes there too.

use std::sync::{Arc, Mutex};

use ember_connectors::cassandra::SinkActivity;
use ember_engine::BatchReport;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Bounds of the stage and batch duration histograms, in seconds: 1 ms to
/// about 2 minutes, each twice the one before.
fn duration_buckets() -> Vec<f64> {
    (0..18).map(|i| 0.001 * 2f64.powi(i)).collect()
}

/// Bounds of the latency histogram, in seconds: the engine's latency
/// buckets (1, 2, 4 … ms, see `ember_engine::latency`) up to an hour, so a
/// batch's per-bucket counts land in exactly one bucket each.
fn latency_buckets() -> Vec<f64> {
    (0..22).map(|i| 0.001 * 2f64.powi(i)).collect()
}

/// Every metric, registered in one registry.
pub struct Metrics {
    registry: Registry,
    /// `process_cpu_seconds_total`, `process_resident_memory_bytes` …:
    /// Prometheus' standard names, so outside the `ember_` prefix.
    process: Registry,
    records_read: IntCounter,
    records_decoded: IntCounter,
    records_deleted: IntCounter,
    records_lost: IntCounter,
    rows_written: IntCounterVec,
    rows_filtered: IntCounterVec,
    dead_lettered: IntCounterVec,
    batches: IntCounterVec,
    batch_duration: Histogram,
    stage_duration: HistogramVec,
    latency: Histogram,
    checkpoint_commits: IntCounter,
    checkpoint_commit_duration: Histogram,
    last_batch: IntGauge,
    pub(crate) lag: IntGaugeVec,
    pub(crate) high_watermark: IntGaugeVec,
    pub(crate) position: IntGaugeVec,
    pub(crate) ready: IntGauge,
    sink_requests: IntCounterVec,
    sink_retries: IntCounterVec,
    sink_in_flight: IntGaugeVec,
    /// Read at each scrape into the three above.
    sinks: Mutex<Vec<(String, Arc<SinkActivity>)>>,
}

/// Registration of metrics with constant, valid names cannot fail; a failure
/// is a bug in this file, so it names the metric.
fn register<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: T) -> T {
    if let Err(e) = registry.register(Box::new(metric.clone())) {
        panic!("registering a metric: {e}");
    }
    metric
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let metric = IntCounter::new(name, help).unwrap_or_else(|e| panic!("{name}: {e}"));
    register(registry, metric)
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric =
        IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| panic!("{name}: {e}"));
    register(registry, metric)
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let metric =
        IntGaugeVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| panic!("{name}: {e}"));
    register(registry, metric)
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    let metric = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    register(registry, metric)
}

impl Metrics {
    /// The metrics of pipeline `pipeline` (a constant label on each), with
    /// the process collector (CPU seconds, resident memory, from /proc/self).
    pub fn new(pipeline: &str) -> Self {
        let labels = std::collections::HashMap::from([("pipeline".to_string(), pipeline.into())]);
        let registry = Registry::new_custom(Some("ember".into()), Some(labels))
            .unwrap_or_else(|e| panic!("metrics registry: {e}"));
        let process = Registry::new();
        let r = &registry;
        let metrics = Metrics {
            records_read: counter(r, "records_read_total", "Records read from the source."),
            records_decoded: counter(r, "records_decoded_total", "Records decoded into rows."),
            records_deleted: counter(
                r,
                "records_deleted_total",
                "Tombstones applied as deletes.",
            ),
            records_lost: counter(
                r,
                "records_lost_total",
                "Offsets deleted by the broker before they were processed (fail_on_data_loss = false).",
            ),
            rows_written: counter_vec(
                r,
                "rows_written_total",
                "Rows acknowledged by each sink.",
                &["sink"],
            ),
            rows_filtered: counter_vec(
                r,
                "rows_filtered_total",
                "Decoded records a sink's SQL left out (neither written nor dead-lettered by it).",
                &["sink"],
            ),
            dead_lettered: counter_vec(
                r,
                "records_dead_lettered_total",
                "Records set aside to the dead-letter topic, by reason.",
                &["reason"],
            ),
            batches: counter_vec(
                r,
                "batches_total",
                "Batches committed (replay = true: replayed from the checkpoint).",
                &["replay"],
            ),
            batch_duration: histogram(
                r,
                "batch_duration_seconds",
                "Wall time of a batch from decode to commit (fetch not included).",
                duration_buckets(),
            ),
            stage_duration: register(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "stage_duration_seconds",
                        "Wall time of each stage of a batch.",
                    )
                    .buckets(duration_buckets()),
                    &["stage"],
                )
                .unwrap_or_else(|e| panic!("stage_duration_seconds: {e}")),
            ),
            latency: histogram(
                r,
                "end_to_end_latency_seconds",
                "Per record: all sinks acknowledged its batch minus its Kafka timestamp.",
                latency_buckets(),
            ),
            checkpoint_commits: counter(
                r,
                "checkpoint_commits_total",
                "Batches committed to the checkpoint.",
            ),
            checkpoint_commit_duration: histogram(
                r,
                "checkpoint_commit_duration_seconds",
                "Wall time of a checkpoint commit.",
                duration_buckets(),
            ),
            last_batch: register(
                r,
                IntGauge::new(
                    "last_batch_timestamp_seconds",
                    "Unix time the last batch was committed.",
                )
                .unwrap_or_else(|e| panic!("last_batch_timestamp_seconds: {e}")),
            ),
            lag: gauge_vec(
                r,
                "consumer_lag_records",
                "Per partition: the high watermark minus the position processed.",
                &["partition"],
            ),
            high_watermark: gauge_vec(
                r,
                "partition_high_watermark",
                "Per partition: the broker's end offset.",
                &["partition"],
            ),
            position: gauge_vec(
                r,
                "partition_position",
                "Per partition: the next offset to process (last committed end).",
                &["partition"],
            ),
            ready: register(
                r,
                IntGauge::new("ready", "1 when /health/ready answers 200.")
                    .unwrap_or_else(|e| panic!("ready: {e}")),
            ),
            sink_requests: counter_vec(
                r,
                "sink_requests_total",
                "Requests (unlogged batches, single writes, deletes) sent to each sink, retries included.",
                &["sink"],
            ),
            sink_retries: counter_vec(
                r,
                "sink_retries_total",
                "Requests sent again after a transient failure (timeout, unavailable, overloaded).",
                &["sink"],
            ),
            sink_in_flight: gauge_vec(
                r,
                "sink_requests_in_flight",
                "Requests sent to each sink and not yet answered.",
                &["sink"],
            ),
            sinks: Mutex::new(Vec::new()),
            registry,
            process,
        };
        let collector = prometheus::process_collector::ProcessCollector::for_self();
        if let Err(e) = metrics.process.register(Box::new(collector)) {
            tracing::warn!(error = %e, "process metrics unavailable");
        }
        metrics
    }

    /// Reads what each sink is doing at every scrape from now on.
    pub fn watch_sinks(&self, sinks: Vec<(String, Arc<SinkActivity>)>) {
        for (sink, _) in &sinks {
            // Present from the start, zero until the first request.
            self.sink_in_flight.with_label_values(&[sink]).set(0);
            self.sink_requests.with_label_values(&[sink]).inc_by(0);
            self.sink_retries.with_label_values(&[sink]).inc_by(0);
        }
        *self.sinks.lock().unwrap_or_else(|e| e.into_inner()) = sinks;
    }

    /// Brings the sink metrics up to the sinks' live counts.
    fn read_sinks(&self) {
        let sinks = self.sinks.lock().unwrap_or_else(|e| e.into_inner());
        for (sink, activity) in sinks.iter() {
            let now = activity.snapshot();
            let requests = self.sink_requests.with_label_values(&[sink]);
            requests.inc_by(now.requests.saturating_sub(requests.get()));
            let retries = self.sink_retries.with_label_values(&[sink]);
            retries.inc_by(now.retries.saturating_sub(retries.get()));
            self.sink_in_flight
                .with_label_values(&[sink])
                .set(i64::try_from(now.in_flight).unwrap_or(i64::MAX));
        }
    }

    /// Counts one committed batch.
    pub fn record(&self, r: &BatchReport) {
        self.records_read.inc_by(r.rows_in as u64);
        self.records_decoded.inc_by(r.decoded as u64);
        self.records_deleted.inc_by(r.deleted as u64);
        let lost = r.lost_total.saturating_sub(self.records_lost.get());
        self.records_lost.inc_by(lost);
        for (sink, n) in &r.written {
            self.rows_written.with_label_values(&[sink]).inc_by(*n);
            let failed = r.dead_lettered_by_sink.get(sink).copied().unwrap_or(0);
            let filtered = (r.decoded as u64).saturating_sub(n + failed);
            self.rows_filtered
                .with_label_values(&[sink])
                .inc_by(filtered);
        }
        for (reason, n) in &r.dead_lettered_by_reason {
            self.dead_lettered.with_label_values(&[reason]).inc_by(*n);
        }
        self.batches
            .with_label_values(&[if r.replay { "true" } else { "false" }])
            .inc();
        self.batch_duration.observe(r.duration.as_secs_f64());
        for (stage, took) in r.stages.labelled() {
            self.stage_duration
                .with_label_values(&[stage])
                .observe(took.as_secs_f64());
        }
        self.checkpoint_commits.inc();
        self.checkpoint_commit_duration
            .observe(r.stages.checkpoint.as_secs_f64());
        if let Some(latency) = &r.latency {
            // One observation per record, at the geometric middle of its
            // bucket: the bucket counts are exact, the sum within the
            // bucket's width.
            for (upper_ms, n) in &latency.histogram {
                let seconds = upper_ms / std::f64::consts::SQRT_2 / 1000.0;
                for _ in 0..*n {
                    self.latency.observe(seconds);
                }
            }
        }
        self.last_batch.set(unix_seconds());
    }

    /// The registry in Prometheus text format.
    pub fn text(&self) -> Result<String, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.gather(), &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }

    /// The same numbers as JSON for the dashboard: per metric, its samples
    /// (labels and value; a histogram's count and sum).
    pub fn json(&self) -> serde_json::Value {
        use prometheus::proto::MetricType;
        let mut out = serde_json::Map::new();
        for family in self.gather() {
            let samples: Vec<serde_json::Value> = family
                .get_metric()
                .iter()
                .map(|m| {
                    let labels: serde_json::Map<String, serde_json::Value> = m
                        .get_label()
                        .iter()
                        .filter(|l| l.name() != "pipeline")
                        .map(|l| (l.name().to_string(), l.value().into()))
                        .collect();
                    let mut sample = serde_json::json!({ "labels": labels });
                    match family.get_field_type() {
                        MetricType::COUNTER => sample["value"] = m.get_counter().get_value().into(),
                        MetricType::GAUGE => sample["value"] = m.get_gauge().get_value().into(),
                        MetricType::HISTOGRAM => {
                            let h = m.get_histogram();
                            sample["count"] = h.get_sample_count().into();
                            sample["sum"] = h.get_sample_sum().into();
                        }
                        _ => {}
                    }
                    sample
                })
                .collect();
            out.insert(family.name().to_string(), samples.into());
        }
        out.into()
    }
}

impl Metrics {
    fn gather(&self) -> Vec<prometheus::proto::MetricFamily> {
        self.read_sinks();
        let mut families = self.registry.gather();
        families.extend(self.process.gather());
        families
    }
}

fn unix_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
