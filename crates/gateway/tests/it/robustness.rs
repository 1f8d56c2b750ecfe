use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{assert_error, start, start_with};

async fn post_raw(h: &crate::harness::Harness, body: Vec<u8>) -> reqwest::Response {
    h.http
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(&h.secret)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn malformed_json_is_400() {
    let h = start().await;
    assert_error(
        post_raw(&h, b"{\"model\": \"gpt-4o-mini\", ".to_vec()).await,
        400,
        "invalid_json",
    )
    .await;
    assert_error(post_raw(&h, b"[]".to_vec()).await, 400, "invalid_json").await;
    let body = assert_error(
        post_raw(&h, br#"{"messages": []}"#.to_vec()).await,
        400,
        "invalid_value",
    )
    .await;
    assert_eq!(body["error"]["param"], "model");
    assert!(h.sim.requests().is_empty());
}

#[tokio::test]
async fn non_utf8_body_is_400() {
    let h = start().await;
    assert_error(
        post_raw(&h, vec![b'{', 0xff, 0xfe, b'}']).await,
        400,
        "invalid_encoding",
    )
    .await;
}

#[tokio::test]
async fn oversized_body_is_413() {
    let h = start_with(|s| s.raw.server.max_body_bytes = Some(64 * 1024)).await;
    let content = "a".repeat(100 * 1024);
    let body = serde_json::to_vec(&crate::harness::chat_body(&content, false)).unwrap();
    assert_error(post_raw(&h, body).await, 413, "request_too_large").await;
    // Without Content-Length (chunked), the limit holds while reading.
    let stream =
        futures_util::stream::iter((0..2).map(|_| Ok::<_, std::io::Error>(vec![b' '; 80 * 1024])));
    let r = h
        .http
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(&h.secret)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_error(r, 413, "request_too_large").await;
    assert!(h.sim.requests().is_empty());
}

#[tokio::test]
async fn slow_client_gets_408_and_the_server_stays_up() {
    let h = start_with(|s| s.raw.server.client_timeout = Some("500ms".into())).await;
    let addr = h.gw().local_addr();
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"model\":",
        h.secret
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let read =
        tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut response)).await;
    assert!(
        read.is_ok(),
        "the server answered instead of waiting forever"
    );
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    assert_eq!(h.chat("still alive?").await.status(), 200);
}

#[tokio::test]
async fn slow_headers_are_cut_off() {
    let h = start_with(|s| s.raw.server.client_timeout = Some("500ms".into())).await;
    let mut socket = tokio::net::TcpStream::connect(h.gw().local_addr())
        .await
        .unwrap();
    socket
        .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "connection closed after the header timeout");
}

#[tokio::test]
async fn garbage_on_the_wire_does_not_hurt_the_server() {
    let h = start().await;
    for garbage in [
        &b"\x00\x01\x02\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\ncontent-length: -5\r\n\r\n",
    ] {
        let mut socket = tokio::net::TcpStream::connect(h.gw().local_addr())
            .await
            .unwrap();
        socket.write_all(garbage).await.unwrap();
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), socket.read_to_end(&mut buf)).await;
    }
    assert_eq!(h.chat("fine").await.status(), 200);
}

#[tokio::test]
async fn oversized_upload_is_413_even_when_streamed() {
    let h = start_with(|s| s.raw.server.max_upload_bytes = Some(64 * 1024)).await;
    let upload = |declared: bool| {
        let chunks = (0..4).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 32 * 1024]));
        let mut request = h
            .http
            .post(h.url("/v1/files"))
            .bearer_auth(&h.secret)
            .header("content-type", "multipart/form-data; boundary=b");
        request = if declared {
            request.body(vec![b'x'; 256 * 1024])
        } else {
            request.body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            )))
        };
        request.send()
    };
    assert_error(upload(true).await.unwrap(), 413, "request_too_large").await;
    assert_error(upload(false).await.unwrap(), 413, "request_too_large").await;
}
