//! A JSON-over-HTTP/1.1 server on a local port, for the catalog protocols (Iceberg REST,
//! Paimon REST) the tests speak to: each request's method, target and body go to a handler
//! that answers a status and a JSON body; every request is recorded, so that a test can
//! show what a client asked for.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The requests a server has answered, as `METHOD target`.
pub type Requests = Arc<Mutex<Vec<String>>>;

/// Answers one request: `(method, target, body)` to `(status code, JSON body)`.
pub type Handler = Arc<dyn Fn(&str, &str, &[u8]) -> (u16, Value) + Send + Sync>;

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        404 => "Not Found",
        409 => "Conflict",
        _ => "Error",
    }
}

/// Serves `handler` on `127.0.0.1` until the runtime ends; returns the base URI
/// (`http://127.0.0.1:port`) and the record of requests.
pub async fn serve_json(handler: Handler) -> std::io::Result<(String, Requests)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let requests: Requests = Arc::default();
    let record = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let handler = handler.clone();
            let record = record.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                let head_end = loop {
                    if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        break at + 4;
                    }
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&request[..head_end]).into_owned();
                let length = head
                    .lines()
                    .filter_map(|l| l.split_once(':'))
                    .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, value)| value.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                while request.len() < head_end + length {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let body = &request[head_end..head_end + length];
                let mut words = head.split_whitespace();
                let method = words.next().unwrap_or("GET").to_string();
                let target = words.next().unwrap_or("/").to_string();
                if let Ok(mut seen) = record.lock() {
                    seen.push(format!("{method} {target}"));
                }
                let (status, body) = handler(&method, &target, body);
                let body = body.to_string();
                let response = format!(
                    "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    reason(status),
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    Ok((format!("http://{address}"), requests))
}
