//! "Did you mean": a misspelt key gets the closest key that exists.
//!
//! serde's `deny_unknown_fields` error lists the expected keys in its
//! message (``unknown field `keyspce`, expected one of `type`, …``) and
//! nothing else carries them, so the message is read here, in one place.

/// `message` with ``; did you mean `keyspace`?`` added when it is an
/// unknown-field (or unknown-variant) error and one expected name is close.
pub(crate) fn with_suggestion(message: &str) -> String {
    match suggestion(message) {
        Some(name) => format!("{message} (did you mean `{name}`?)"),
        None => message.to_string(),
    }
}

fn suggestion(message: &str) -> Option<String> {
    if let Some(rest) = message.strip_prefix("invalid trigger \"") {
        // The one trigger with a name; the others are durations.
        let given = rest.split('"').next()?;
        let close = edit_distance(&given.to_lowercase(), "available-now") <= 3;
        return close.then(|| "available-now".to_string());
    }
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))?;
    let (unknown, expected) = rest.split_once('`')?;
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let (best, distance) = candidates
        .iter()
        .map(|c| {
            (
                *c,
                edit_distance(&unknown.to_lowercase(), &c.to_lowercase()),
            )
        })
        .min_by_key(|(_, d)| *d)?;
    // Close enough to be a typo, not a different word.
    let allowed = (unknown.chars().count() / 3).clamp(1, 3);
    (distance <= allowed).then(|| best.to_string())
}

/// Levenshtein distance, counting a swap of two neighbours as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &str =
        "expected one of `type`, `contact_points`, `keyspace`, `table`, `concurrency`";

    #[test]
    fn a_misspelt_key_gets_the_closest_one() {
        let m = format!("unknown field `keyspce`, {KEYS}");
        assert_eq!(
            with_suggestion(&m),
            format!("{m} (did you mean `keyspace`?)")
        );
        let m = format!("unknown field `concurency`, {KEYS}");
        assert!(with_suggestion(&m).ends_with("(did you mean `concurrency`?)"));
        let m = format!("unknown field `tpye`, {KEYS}");
        assert!(with_suggestion(&m).ends_with("(did you mean `type`?)"));
        let m = "unknown variant `avalable-now`, expected `available-now` or `500ms`";
        assert!(with_suggestion(m).ends_with("(did you mean `available-now`?)"));
    }

    #[test]
    fn a_misspelt_trigger_gets_available_now() {
        let m = "invalid trigger \"avalable-now\": bad number \"\"";
        assert!(with_suggestion(m).ends_with("(did you mean `available-now`?)"));
        let m = "invalid trigger \"5x\": bad unit";
        assert_eq!(with_suggestion(m), m);
    }

    #[test]
    fn a_pipeline_file_with_a_typo_is_refused_at_its_line_with_the_suggestion() {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(repo.join("pipelines/users.toml")).unwrap();
        let dir = std::env::temp_dir().join(format!("ember-suggest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("typo.toml");
        std::fs::write(&file, text.replace("\nkeyspace = ", "\nkeyspce = ")).unwrap();
        let e = crate::config::LoadedPipeline::load(&file, Vec::new()).unwrap_err();
        let shown = e.to_string();
        assert!(
            shown.contains("typo.toml:50:1: [sinks.created_users]: unknown field `keyspce`"),
            "{shown}"
        );
        assert!(shown.ends_with("(did you mean `keyspace`?)"), "{shown}");
    }

    #[test]
    fn an_unrelated_key_or_another_error_gets_none() {
        let m = format!("unknown field `colour`, {KEYS}");
        assert_eq!(with_suggestion(&m), m);
        let m = "invalid type: integer `5`, expected a string";
        assert_eq!(with_suggestion(m), m);
    }
}
