//! The corpus replay and the mutation test: the fuzz checks on stable.

use std::path::{Path, PathBuf};

use super::*;

/// The committed corpus: `fuzz/corpus/<target>/`.
fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files
}

/// Replays every corpus file through `harness`, naming the ones that fail.
fn replay(target: &str, harness: fn(&[u8])) {
    let mut failed = Vec::new();
    for path in corpus(target) {
        let data = std::fs::read(&path).unwrap();
        if std::panic::catch_unwind(|| harness(&data)).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(failed.is_empty(), "corpus files failing: {failed:#?}");
}

#[test]
fn replay_users_created_corpus() {
    replay("decode_users_created", users_created);
}

#[test]
fn replay_any_schema_corpus() {
    replay("decode_any_schema", any_schema);
}

/// A small deterministic PRNG (xorshift64*), so the mutation test needs
/// no dependency and fails the same way every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Pieces the mutations splice in: JSON punctuation, escapes, surrogate
/// halves, awkward numbers and literals, record separators, bytes that
/// break UTF-8, whitespace JSON does not allow.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"\\u",
    b"\\ud800",
    b"\\udc00",
    b"\\ud84d\\ude00",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"1e400",
    b"-0",
    b"1.5",
    b"1e3",
    b"-9223372036854775809",
    b"9223372036854775808",
    b"true",
    b"false",
    b"null",
    b"\"id\"",
    b"\"a\"",
    b"\"n\"",
    b"\"x\"",
    b"\"1\"",
    b"\" 12 \"",
    b"\"inf\"",
    b"\"NaN\"",
    b"\x00",
    b"\x01",
    b"\xff",
    b"\xc3",
    b" ",
    b"\n",
    b"\xc2\xa0",
    b"\xef\xbb\xbf",
    b"\\n",
    b"\\\"",
    b"\x1f",
    b"6f1c5a5e-4b2d-4c1e-9a43-2d1f5e8b7c90",
    b"6F1C5A5E4B2D4C1E9A432D1F5E8B7C90",
    b"12345678901234567890123456789012",
    b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    b"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
];

fn mutate(rng: &mut Rng, data: &mut Vec<u8>) {
    for _ in 0..=rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(6) {
            0 if !data.is_empty() => {
                let end = (at + 1 + rng.below(8)).min(data.len());
                data.drain(at.min(end)..end);
            }
            1 if at < data.len() => data[at] ^= 1 << rng.below(8),
            2 => {
                let len = data.len();
                if len > 0 {
                    let from = rng.below(len);
                    let end = (from + 1 + rng.below(16)).min(len);
                    let piece = data[from..end].to_vec();
                    data.splice(at..at, piece);
                }
            }
            _ => {
                let token = TOKENS[rng.below(TOKENS.len())];
                data.splice(at..at, token.iter().copied());
            }
        }
    }
}

/// A fuzz entry point.
type Harness = fn(&[u8]);

/// A stable-toolchain stand-in for `make fuzz`: the committed corpus,
/// mutated by a seeded generator, through the same harness (so also
/// compared with the previous decoder). `EMBER_MUTATIONS` sets how many
/// inputs per target (default 3,000).
#[test]
fn mutated_corpus_keeps_every_property() {
    let n: usize = std::env::var("EMBER_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000);
    let targets: [(&str, Harness); 2] = [
        ("decode_users_created", users_created),
        ("decode_any_schema", any_schema),
    ];
    for (seed, (target, harness)) in targets.into_iter().enumerate() {
        let seeds: Vec<Vec<u8>> = corpus(target)
            .iter()
            .map(|p| std::fs::read(p).unwrap())
            .collect();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed as u64);
        for i in 0..n {
            let mut data = seeds[rng.below(seeds.len())].clone();
            mutate(&mut rng, &mut data);
            if std::panic::catch_unwind(|| harness(&data)).is_err() {
                panic!(
                    "{target}, mutation {i} fails: {:?}",
                    String::from_utf8_lossy(&data)
                );
            }
        }
    }
}

#[test]
fn split_records_expresses_tombstones_and_empty_values() {
    let got = split_records(b"{}\x00\x01\x00\x00{\"a\":1}");
    assert_eq!(
        got,
        vec![
            Some(&b"{}"[..]),
            None,
            Some(&b""[..]),
            Some(&b"{\"a\":1}"[..])
        ]
    );
    assert_eq!(split_records(b""), vec![Some(&b""[..])]);
}

#[test]
fn schema_bytes_pick_name_type_and_required() {
    // 0x19: name 1 ("a"), type 1 (uuid), required; 0x1A repeats "a".
    let spec = schema_from_bytes(&[0x19, 0x1A, 0x22]);
    let got: Vec<_> = spec
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.ty, f.required))
        .collect();
    assert_eq!(
        got,
        vec![("a", ColumnType::Uuid, true), ("b", ColumnType::Int, false)]
    );
}
