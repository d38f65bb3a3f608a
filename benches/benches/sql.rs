//! The `created_users` transform on one decoded batch of 20,000 rows, into a
//! sink that serialises and discards: the plan built once at start and
//! executed per batch (what the engine does) against planning every batch.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use datafusion::catalog::TableProvider;
use ember_benches::{batch_context, payloads, users_spec, DiscardTable, BATCH};
use ember_decode::JsonDecoder;
use ember_engine::sql::SqlEngine;

fn sql(c: &mut Criterion) {
    let spec = users_spec();
    let decoder = JsonDecoder::new(spec.schema.clone());
    let records = payloads(42, BATCH);
    let input: Vec<Option<&[u8]>> = records.iter().map(|p| Some(p.as_slice())).collect();
    let batch = decoder.decode(&input).expect("decode").batch;
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let plan = || async {
        let sink: Arc<dyn TableProvider> = Arc::new(DiscardTable::created_users());
        SqlEngine::plan(
            &spec.source_table,
            decoder.schema().clone(),
            vec![("created_users".into(), sink)],
            &spec.sql_files,
        )
        .await
        .expect("the users pipeline's SQL plans")
    };
    let planned = runtime.block_on(plan());

    let mut group = c.benchmark_group("sql");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("created_users_20k/planned_once", |b| {
        b.to_async(&runtime).iter(|| async {
            let written = planned
                .run(batch_context(1, batch.clone()))
                .await
                .expect("run");
            assert_eq!(written[0].1, BATCH as u64);
        })
    });
    group.bench_function("created_users_20k/planned_every_batch", |b| {
        b.to_async(&runtime).iter(|| async {
            let engine = plan().await;
            let written = engine
                .run(batch_context(1, batch.clone()))
                .await
                .expect("run");
            assert_eq!(written[0].1, BATCH as u64);
        })
    });
    group.finish();
}

criterion_group!(benches, sql);
criterion_main!(benches);
