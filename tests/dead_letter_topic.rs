//! The dead-letter topic holds what the source holds: a bad record near the
//! source's size limit is dead-lettered whole (the topic is created with
//! room for it plus headers), one the topic still cannot take is sent
//! truncated with a header saying so, and the topic is replicated like the
//! data (or as configured).

mod common;

use std::time::Duration;

use common::*;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::FutureRecord;
use rdkafka::ClientConfig;

/// The broker's `message.max.bytes` in the local stack (stack/stack.sh):
/// every topic's default limit.
const BROKER_LIMIT: usize = 2_097_152;

fn admin() -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("admin client")
}

async fn max_message_bytes(topic: &str) -> usize {
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(15)));
    let described = admin()
        .describe_configs([&ResourceSpecifier::Topic(topic)], &opts)
        .await
        .expect("describe configs");
    let resource = described[0].as_ref().expect("topic config");
    resource
        .get("max.message.bytes")
        .and_then(|e| e.value.clone())
        .and_then(|v| v.parse().ok())
        .expect("max.message.bytes")
}

/// Bytes that are not JSON and do not compress: the size on the wire is
/// the size of the value.
fn garbage(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut out = vec![b'#'];
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.push((state >> 24) as u8);
    }
    out
}

/// Produces one record of `value` to partition 0, uncompressed.
async fn produce_big(topic: &str, value: &[u8]) {
    let producer: rdkafka::producer::FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("enable.idempotence", "true")
        .set("message.max.bytes", "4194304")
        .create()
        .expect("producer");
    producer
        .send(
            FutureRecord::<[u8], [u8]>::to(topic)
                .partition(0)
                .key(b"big-key".as_slice())
                .payload(value),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("produce the big record");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_letter_near_the_source_size_limit_is_sent_whole() {
    let names = Names::new("dlqbig");
    create_topic(&names.topic, 1);
    // As large as the source takes, less the record's own framing (~80
    // bytes): the headers of its dead letter do not fit in what is left.
    let value = garbage(BROKER_LIMIT - 160);
    produce_big(&names.topic, &value).await;

    let summary = run_available_now(&names);
    assert_eq!(summary["rows_in"], 1, "{summary}");
    assert_eq!(summary["rejected"], 1, "{summary}");

    let dlq = format!("{}.dlq", names.topic);
    assert!(max_message_bytes(&dlq).await >= max_message_bytes(&names.topic).await + 16 * 1024);
    let letters = consume_with_headers(&dlq, 1);
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].key.as_deref(), Some(b"big-key".as_slice()));
    assert!(
        letters[0].value.as_deref() == Some(value.as_slice()),
        "the value byte for byte"
    );
    assert!(!letters[0].headers.contains_key("ember.value.truncated"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_letter_too_large_for_its_topic_is_sent_truncated_and_says_so() {
    let names = Names::new("dlqcut");
    create_topic(&names.topic, 1);
    // A dead-letter topic made by hand with a small limit.
    let dlq = format!("{}.dlq", names.topic);
    let small =
        NewTopic::new(&dlq, 1, TopicReplication::Fixed(1)).set("max.message.bytes", "200000");
    let created = admin()
        .create_topics([&small], &AdminOptions::new())
        .await
        .expect("create the dead-letter topic");
    assert!(created[0].is_ok(), "{created:?}");
    let value = garbage(500_000);
    produce_big(&names.topic, &value).await;

    let summary = run_available_now(&names);
    assert_eq!(summary["rejected"], 1, "{summary}");

    let letters = consume_with_headers(&dlq, 1);
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.headers["ember.value.truncated"], "500000");
    assert_eq!(letter.headers["ember.source.offset"], "0");
    let kept = letter.value.as_deref().expect("a value");
    assert!(
        kept.len() < 200_000 && kept.len() > 100_000,
        "{}",
        kept.len()
    );
    assert!(value.starts_with(kept), "the first bytes are kept");
}

#[test]
fn the_dead_letter_replication_factor_is_a_setting() {
    // One broker: a topic with two replicas cannot be created, and the
    // refusal says what was asked for.
    let names = Names::new("dlqrf");
    create_topic(&names.topic, 1);
    let mut env = names.env();
    env.push(("EMBER_DEAD_LETTER__REPLICATION_FACTOR".into(), "2".into()));
    let out = run_available_now_output(&env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("{}.dlq", names.topic)), "{stderr}");
    assert!(stderr.contains("replication factor 2"), "{stderr}");
}
