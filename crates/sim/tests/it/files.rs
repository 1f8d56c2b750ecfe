use serde_json::{Value, json};

use crate::support::{Running, error_of, start_default};

const BOUNDARY: &str = "----bulwark-sim-test-boundary";

/// A `multipart/form-data` body with a `purpose` field and a `file` field.
fn form(purpose: Option<&str>, file: Option<(&str, &[u8])>) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some(purpose) = purpose {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n{purpose}\r\n").as_bytes(),
        );
    }
    if let Some((name, content)) = file {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn upload(sim: &Running, body: Vec<u8>) -> reqwest::Response {
    sim.client
        .post(sim.url("/v1/files"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

const TRAINING: &[u8] = b"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"hello\"}]}\n";

#[tokio::test]
async fn upload_list_download_and_delete_a_file() {
    let sim = start_default().await;
    let response = upload(
        &sim,
        form(Some("fine-tune"), Some(("train.jsonl", TRAINING))),
    )
    .await;
    assert_eq!(response.status(), 200);
    let file: Value = response.json().await.unwrap();
    let id = file["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("file-"));
    assert_eq!(file["object"], "file");
    assert_eq!(file["bytes"], TRAINING.len());
    assert_eq!(file["filename"], "train.jsonl");
    assert_eq!(file["purpose"], "fine-tune");
    assert_eq!(file["status"], "processed");

    let list: Value = sim
        .get("/v1/files")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["object"], "list");
    assert_eq!(list["has_more"], false);
    assert_eq!(list["data"][0]["id"], id.as_str());
    let filtered: Value = sim
        .get("/v1/files?purpose=batch")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(filtered["data"], json!([]));

    let one: Value = sim
        .get(&format!("/v1/files/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one, file);
    let content = sim
        .get(&format!("/v1/files/{id}/content"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&content[..], TRAINING);

    let deleted: Value = sim
        .client
        .delete(sim.url(&format!("/v1/files/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        deleted,
        json!({"id": id, "object": "file", "deleted": true})
    );
    error_of(
        sim.get(&format!("/v1/files/{id}")).send().await.unwrap(),
        404,
    )
    .await;
}

#[tokio::test]
async fn uploads_need_a_valid_purpose_and_a_file() {
    let sim = start_default().await;
    let error = error_of(upload(&sim, form(None, Some(("a.txt", b"a")))).await, 400).await;
    assert_eq!(error["param"], "purpose");
    let error = error_of(upload(&sim, form(Some("fine-tune"), None)).await, 400).await;
    assert_eq!(error["param"], "file");
    let error = error_of(
        upload(&sim, form(Some("fun"), Some(("a.txt", b"a")))).await,
        400,
    )
    .await;
    assert_eq!(error["param"], "purpose");
}

#[tokio::test]
async fn fine_tuning_jobs_reference_uploaded_files() {
    let sim = start_default().await;
    let file: Value = upload(
        &sim,
        form(Some("fine-tune"), Some(("train.jsonl", TRAINING))),
    )
    .await
    .json()
    .await
    .unwrap();
    let file_id = file["id"].as_str().unwrap();

    let response = sim
        .post(
            "/v1/fine_tuning/jobs",
            json!({"model": "gpt-4o-mini", "training_file": file_id}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let job: Value = response.json().await.unwrap();
    let job_id = job["id"].as_str().unwrap().to_owned();
    assert!(job_id.starts_with("ftjob-"));
    assert_eq!(job["object"], "fine_tuning.job");
    assert_eq!(job["model"], "gpt-4o-mini");
    assert_eq!(job["training_file"], file_id);
    assert_eq!(job["status"], "validating_files");
    assert!(job["fine_tuned_model"].is_null());
    assert!(job["seed"].is_i64());

    let error = error_of(
        sim.post(
            "/v1/fine_tuning/jobs",
            json!({"model": "gpt-4o-mini", "training_file": "file-missing"}),
        )
        .send()
        .await
        .unwrap(),
        400,
    )
    .await;
    assert_eq!(error["param"], "training_file");

    let second: Value = sim
        .post(
            "/v1/fine_tuning/jobs",
            json!({"model": "gpt-4o", "training_file": file_id}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list: Value = sim
        .get("/v1/fine_tuning/jobs?limit=1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["object"], "list");
    assert_eq!(list["data"][0]["id"], second["id"], "newest first");
    assert_eq!(list["has_more"], true);
    let rest: Value = sim
        .get(&format!(
            "/v1/fine_tuning/jobs?after={}",
            second["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rest["data"][0]["id"], job_id.as_str());
    assert_eq!(rest["has_more"], false);

    let fetched: Value = sim
        .get(&format!("/v1/fine_tuning/jobs/{job_id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, job);
    let cancelled: Value = sim
        .client
        .post(sim.url(&format!("/v1/fine_tuning/jobs/{job_id}/cancel")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    error_of(
        sim.get("/v1/fine_tuning/jobs/ftjob-nope")
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
}
