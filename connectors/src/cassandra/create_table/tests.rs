use std::path::Path;

use datafusion::arrow::datatypes::DataType;

use super::*;

fn parse(text: &str, table: &str) -> Result<SinkColumns, CqlParseError> {
    parse_create_table(Path::new("t.cql"), text, table)
}

fn at(e: &CqlParseError) -> (usize, usize) {
    (e.line, e.column)
}

#[test]
fn the_seed_table_reads_as_the_live_schema_orders_it() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../sql/created_users.cql"
    ))
    .unwrap();
    let cols = parse(&text, "created_users").unwrap();
    assert_eq!(cols.key_len, 1);
    // Key first, then the others by name (Cassandra keeps no order).
    assert_eq!(
        cols.names,
        [
            "id",
            "address",
            "email",
            "first_name",
            "gender",
            "last_name",
            "phone",
            "picture",
            "post_code",
            "registered_date",
            "username"
        ]
    );
    assert_eq!(cols.cql_types[0], "uuid");
    assert_eq!(cols.schema.field(0).data_type(), &DataType::Utf8);
}

#[test]
fn a_compound_key_orders_partition_then_clustering_columns() {
    let text = "-- comment\nCREATE TABLE IF NOT EXISTS ks.Events (\n  day text,\n  \"Seq\" bigint,\n  n int STATIC,\n  at timestamp,\n  z double,\n  PRIMARY KEY ((day, at), \"Seq\")\n) WITH CLUSTERING ORDER BY (\"Seq\" DESC) AND comment = 'x;y';";
    let cols = parse(text, "events").unwrap();
    assert_eq!(cols.table, "ks.events");
    assert_eq!(cols.names, ["day", "at", "Seq", "n", "z"]);
    assert_eq!(cols.key_len, 3);
    assert_eq!(
        cols.cql_types,
        ["text", "timestamp", "bigint", "int", "double"]
    );
    assert_eq!(cols.schema.field(2).data_type(), &DataType::Int64);
}

#[test]
fn other_statements_and_tables_are_skipped() {
    let text = "CREATE TABLE a (k int PRIMARY KEY);\n/* the one\n we want */\nCREATE TABLE b (k text PRIMARY KEY, v boolean,);\nCREATE INDEX ON b (v);";
    let cols = parse(text, "b").unwrap();
    assert_eq!(cols.names, ["k", "v"]);
}

#[test]
fn a_missing_table_names_the_tables_the_file_creates() {
    let e = parse("CREATE TABLE a (k int PRIMARY KEY);", "b").unwrap_err();
    assert_eq!(at(&e), (1, 1));
    assert!(
        e.message
            .contains("no CREATE TABLE for table `b` (it creates a)"),
        "{e}"
    );
    assert!(e.to_string().starts_with("t.cql:1:1: "), "{e}");
}

#[test]
fn errors_name_the_line_and_column() {
    // An unsupported type, at the type.
    let e = parse(
        "CREATE TABLE t (\n  k int PRIMARY KEY,\n  tags list<text>\n);",
        "t",
    )
    .unwrap_err();
    assert_eq!(at(&e), (3, 8), "{e}");
    assert!(e.message.contains("`list<text>`"), "{e}");
    // A key column that is not declared, at its name.
    let e = parse("CREATE TABLE t (\n  k int,\n  PRIMARY KEY (k, kk)\n);", "t").unwrap_err();
    assert_eq!(at(&e), (3, 19), "{e}");
    // No primary key at all.
    let e = parse("CREATE TABLE t (k int, v text);", "t").unwrap_err();
    assert!(e.message.contains("has no PRIMARY KEY"), "{e}");
    // A missing comma: the column after it.
    let e = parse("CREATE TABLE t (\n  k int PRIMARY KEY\n  v text\n);", "t").unwrap_err();
    assert_eq!(at(&e), (3, 3), "{e}");
    assert!(e.message.contains("found `v`"), "{e}");
    // Unexpected end.
    let e = parse("CREATE TABLE t (k int", "t").unwrap_err();
    assert!(e.message.contains("the end of the file"), "{e}");
    // A column twice.
    let e = parse("CREATE TABLE t (k int PRIMARY KEY, k text)", "t").unwrap_err();
    assert_eq!(at(&e), (1, 36), "{e}");
    // Two keys.
    let e = parse(
        "CREATE TABLE t (k int PRIMARY KEY, v int, PRIMARY KEY (v))",
        "t",
    )
    .unwrap_err();
    assert!(e.message.contains("second PRIMARY KEY"), "{e}");
}
