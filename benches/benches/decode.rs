//! JSON payload bytes → Arrow `RecordBatch`: `JsonDecoder::decode` on 20,000
//! seed-shaped records (the default `max_records`), validation included.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ember_benches::{payloads, users_spec, BATCH};
use ember_decode::JsonDecoder;

fn decode(c: &mut Criterion) {
    let decoder = JsonDecoder::new(users_spec().schema);
    let records = payloads(42, BATCH);
    let input: Vec<Option<&[u8]>> = records.iter().map(|p| Some(p.as_slice())).collect();
    let bytes: usize = records.iter().map(Vec::len).sum();

    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("users_20k/records", |b| {
        b.iter(|| {
            let decoded = decoder.decode(&input).expect("decode");
            assert_eq!(decoded.batch.num_rows(), BATCH);
            decoded
        })
    });
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("users_20k/bytes", |b| {
        b.iter(|| decoder.decode(&input).expect("decode"))
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
