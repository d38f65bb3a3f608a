//! The sink's ceiling: the same rows Ember writes, straight to Cassandra with
//! the scylla driver and nothing else — no Kafka, no decoding, no SQL, rows
//! prepared in memory before the clock starts. What this reaches is the
//! physical limit of the box for this table; `make bench` measures it before
//! and after Ember's run and quotes Ember against the better of the two.
//!
//! ```text
//! sink-ceiling --contact-point 127.0.0.1:9042 --keyspace bench --table ceiling_1 \
//!     --rows 200000 --batch-rows 100 --concurrency 32
//! ```
//! `--batch-rows 1` writes one row per request (prepared `INSERT`s);
//! more writes unlogged batches of that many rows. Like Ember's sink, every
//! write carries `USING TIMESTAMP`. Prints one JSON line.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use ember::ingest::generator::UserGenerator;
use futures::stream::{FuturesUnordered, StreamExt};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;

#[derive(Parser, Debug)]
#[command(about = "Writes seed-shaped rows straight to Cassandra: the sink's ceiling")]
struct Args {
    #[arg(long, default_value = "127.0.0.1:9042")]
    contact_point: String,
    #[arg(long, default_value = "ember_bench")]
    keyspace: String,
    /// Created if missing, with the `created_users` columns.
    #[arg(long)]
    table: String,
    #[arg(long, default_value_t = 200_000)]
    rows: usize,
    /// Generator seed (the rows `ember produce --seed` would send).
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Rows per request: 1 = single-row INSERTs, more = unlogged batches.
    #[arg(long, default_value_t = 100)]
    batch_rows: usize,
    /// Requests in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
}

type Row = (uuid::Uuid, [String; 10], i64);

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.batch_rows >= 1 && args.concurrency >= 1,
        "batch rows and concurrency must be at least 1"
    );
    let session = Arc::new(
        SessionBuilder::new()
            .known_node(&args.contact_point)
            .build()
            .await
            .with_context(|| format!("connecting to {}", args.contact_point))?,
    );
    session
        .query_unpaged(
            format!(
                "CREATE KEYSPACE IF NOT EXISTS {} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}",
                args.keyspace
            ),
            (),
        )
        .await?;
    let ddl = std::fs::read_to_string(ember_benches::repo().join("sql/created_users.cql"))?
        .replace(
            "created_users",
            &format!("{}.{}", args.keyspace, args.table),
        );
    session.query_unpaged(ddl, ()).await?;
    session.await_schema_agreement().await?;
    let insert = session
        .prepare(format!(
            "INSERT INTO {}.{} (id, first_name, last_name, gender, address, post_code, email, \
             username, registered_date, phone, picture) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             USING TIMESTAMP ?",
            args.keyspace, args.table
        ))
        .await?;

    let base_ts = now_micros();
    let rows: Vec<Row> = UserGenerator::users(args.seed, args.rows)
        .into_iter()
        .enumerate()
        .map(|(i, u)| {
            let [_, rest @ ..] = u.stored_row();
            (u.id, rest, base_ts + i as i64)
        })
        .collect();
    let rows = Arc::new(rows);

    let started = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    for start in (0..rows.len()).step_by(args.batch_rows) {
        let end = (start + args.batch_rows).min(rows.len());
        while in_flight.len() >= args.concurrency {
            in_flight.next().await.context("a write")??;
        }
        in_flight.push(write(
            session.clone(),
            insert.clone(),
            rows.clone(),
            start,
            end,
        ));
    }
    while let Some(done) = in_flight.next().await {
        done?;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "engine": "ceiling",
            "mode": if args.batch_rows == 1 { "per_row" } else { "unlogged_batch" },
            "batch_rows": args.batch_rows,
            "concurrency": args.concurrency,
            "rows": rows.len(),
            "seconds": seconds,
            "rows_per_sec": rows.len() as f64 / seconds,
        })
    );
    Ok(())
}

async fn write(
    session: Arc<Session>,
    insert: PreparedStatement,
    rows: Arc<Vec<Row>>,
    start: usize,
    end: usize,
) -> Result<()> {
    if end - start == 1 {
        session
            .execute_unpaged(&insert, values(&rows[start]))
            .await?;
        return Ok(());
    }
    let mut batch = Batch::new(BatchType::Unlogged);
    for _ in start..end {
        batch.append_statement(insert.clone());
    }
    let values: Vec<_> = rows[start..end].iter().map(values).collect();
    session.batch(&batch, values).await?;
    Ok(())
}

/// One row as the prepared INSERT's bound values, borrowing the strings.
#[allow(clippy::type_complexity)]
fn values(
    r: &Row,
) -> (
    uuid::Uuid,
    &str,
    &str,
    &str,
    &str,
    &str,
    &str,
    &str,
    &str,
    &str,
    &str,
    i64,
) {
    let [a, b, c, d, e, f, g, h, i, j] = &r.1;
    (r.0, a, b, c, d, e, f, g, h, i, j, r.2)
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}
