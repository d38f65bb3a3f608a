//! Arrow → CQL values exactly as the Cassandra sink serialises them into its
//! requests (no network): the 11 `created_users` columns of 20,000 rows.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use datafusion::arrow::array::RecordBatch;
use ember_benches::{payloads, users_spec, DiscardTable, BATCH, CREATED_USERS};
use ember_decode::JsonDecoder;

fn encode(c: &mut Criterion) {
    let spec = users_spec();
    let decoded = JsonDecoder::new(spec.schema)
        .decode(
            &payloads(42, BATCH)
                .iter()
                .map(|p| Some(p.as_slice()))
                .collect::<Vec<_>>(),
        )
        .expect("decode")
        .batch;
    // The sink's input: the table's columns in its order.
    let columns = CREATED_USERS
        .iter()
        .map(|(name, _)| {
            decoded
                .column_by_name(name)
                .expect("decoded column")
                .clone()
        })
        .collect();
    let table = DiscardTable::created_users();
    let input = RecordBatch::try_new(table_schema(&table), columns).expect("sink-shaped batch");
    let mut buffer = Vec::with_capacity(8 << 20);

    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("created_users_20k", |b| {
        b.iter(|| {
            buffer.clear();
            table
                .encoder()
                .encode(&input, ember_engine::WriteTime::default(), &mut buffer)
                .expect("encode")
        })
    });
    group.finish();
}

fn table_schema(table: &DiscardTable) -> datafusion::arrow::datatypes::SchemaRef {
    use datafusion::catalog::TableProvider;
    table.schema()
}

criterion_group!(benches, encode);
criterion_main!(benches);
