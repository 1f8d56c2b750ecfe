use crate::harness::{assert_error, start_with};

#[tokio::test]
async fn requests_per_minute_limit_gives_429_with_retry_after() {
    let h = start_with(|s| s.key.rpm = Some(2)).await;
    let first = h.chat("one").await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["x-ratelimit-limit-requests"], "2");
    assert_eq!(first.headers()["x-ratelimit-remaining-requests"], "1");
    assert!(first.headers().contains_key("x-ratelimit-reset-requests"));
    assert_eq!(h.chat("two").await.status(), 200);
    let third = h.chat("three").await;
    let retry_after: u64 = third.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    assert_eq!(third.headers()["x-ratelimit-remaining-requests"], "0");
    let body = assert_error(third, 429, "rate_limit_exceeded").await;
    assert_eq!(body["error"]["type"], "requests");
    assert_eq!(
        h.sim.requests().len(),
        2,
        "the limited request never reached the upstream"
    );
}

#[tokio::test]
async fn tokens_per_minute_limit_counts_prompt_and_output() {
    let h = start_with(|s| s.key.tpm = Some(400)).await;
    let long = "word ".repeat(200); // ~250 tokens by the 4-chars estimate
    assert_eq!(h.chat(&long).await.status(), 200);
    let second = h.chat(&long).await;
    let body = assert_error(second, 429, "rate_limit_exceeded").await;
    assert_eq!(body["error"]["type"], "tokens");
}
