//! Decode + SQL + encode together, in process, as one micro-batch of 20,000
//! seed-shaped records goes through them, into a sink that discards: the
//! engine's CPU cost per record without Kafka or Cassandra.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use datafusion::catalog::TableProvider;
use ember_benches::{batch_context, payloads, users_spec, DiscardTable, BATCH};
use ember_decode::JsonDecoder;
use ember_engine::sql::SqlEngine;

fn pipeline(c: &mut Criterion) {
    let spec = users_spec();
    let decoder = JsonDecoder::new(spec.schema.clone());
    let records = payloads(42, BATCH);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let sink: Arc<dyn TableProvider> = Arc::new(DiscardTable::created_users());
    let engine = runtime
        .block_on(SqlEngine::plan(
            &spec.source_table,
            decoder.schema().clone(),
            vec![("created_users".into(), sink)],
            &spec.sql_files,
        ))
        .expect("the users pipeline's SQL plans");

    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("decode_sql_encode_20k", |b| {
        b.to_async(&runtime).iter(|| async {
            let input: Vec<Option<&[u8]>> = records.iter().map(|p| Some(p.as_slice())).collect();
            let decoded = decoder.decode(&input).expect("decode");
            let written = engine
                .run(batch_context(1, decoded.batch))
                .await
                .expect("run");
            assert_eq!(written[0].1, BATCH as u64);
        })
    });
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
