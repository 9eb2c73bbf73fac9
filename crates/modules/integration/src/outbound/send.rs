//! Transport: MLLP with ACK judging, and signed JSON webhooks.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Largest ACK frame accepted from a receiver (bytes).
const MAX_ACK: usize = 1 << 20;
/// Kept of a receiver's answer.
pub(super) const MAX_RESPONSE: usize = 2000;

/// Why an attempt failed, and what the receiver said if anything.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub error: String,
    pub response: String,
}

pub(super) fn fail(error: impl Into<String>) -> Failure {
    Failure {
        error: error.into(),
        response: String::new(),
    }
}

pub(super) fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Judges an HL7 ACK: `Ok` on MSA-1 `AA`/`CA` naming `control_id` (when both are known).
pub fn judge_ack(ack: &str, control_id: &str) -> Result<(), String> {
    let msg = yiyang_hl7v2::Message::parse(ack).map_err(|e| format!("回执无法解析：{e}"))?;
    let Some(msa) = msg.segment("MSA") else {
        return Err("回执缺少 MSA 段".into());
    };
    let code = msa.text(1).trim().to_uppercase();
    let acked = msa.text(2);
    let text = msa.text(3);
    let err_text = msg
        .segment("ERR")
        .map(|e| e.text(8).into_owned())
        .filter(|t| !t.is_empty());
    let why = err_text.unwrap_or_else(|| text.into_owned());
    match code.as_str() {
        "AA" | "CA" => {
            if !control_id.is_empty() && !acked.is_empty() && acked != control_id {
                Err(format!(
                    "回执的控制号 {acked} 与所发消息的控制号 {control_id} 不符"
                ))
            } else {
                Ok(())
            }
        }
        "AE" | "CE" => Err(format!("对方回执 {code}（处理出错）：{why}")),
        "AR" | "CR" => Err(format!("对方回执 {code}（拒收）：{why}")),
        "" => Err("回执缺少 MSA-1 确认代码".into()),
        other => Err(format!("回执的确认代码无法识别：{other}")),
    }
}

fn control_id_of(payload: &str) -> String {
    yiyang_hl7v2::Message::parse(payload)
        .ok()
        .and_then(|m| m.segment("MSH").map(|s| s.text(10).into_owned()))
        .unwrap_or_default()
}

/// Sends one framed message on a new connection and waits for its ACK.
pub async fn send_mllp(
    host: &str,
    port: u16,
    timeout: Duration,
    payload: &str,
) -> Result<String, Failure> {
    let bytes = yiyang_hl7v2::encode_message(payload)
        .map_err(|e| fail(format!("消息无法按 MSH-18 编码：{e}")))?;
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| fail(format!("无法连接 {host}:{port}：{e}")))?;
        let _ = s.set_nodelay(true);
        s.write_all(&yiyang_hl7v2::encode_frame(&bytes))
            .await
            .map_err(|e| fail(format!("发送失败：{e}")))?;
        let mut dec = yiyang_hl7v2::MllpDecoder::new(MAX_ACK);
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = s
                .read(&mut buf)
                .await
                .map_err(|e| fail(format!("读取回执失败：{e}")))?;
            if n == 0 {
                return Err(fail("对方未回执即关闭了连接"));
            }
            dec.push(&buf[..n]);
            if let Some(frame) = dec.next_frame() {
                let frame = frame.map_err(|e| fail(format!("回执帧格式错误：{e}")))?;
                let _ = s.shutdown().await;
                return Ok(yiyang_hl7v2::decode_message(&frame)
                    .map(|c| c.into_owned())
                    .unwrap_or_else(|_| String::from_utf8_lossy(&frame).into_owned()));
            }
        }
    };
    let ack = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| fail(format!("{} 秒内未收到回执（超时）", timeout.as_secs())))??;
    match judge_ack(&ack, &control_id_of(payload)) {
        Ok(()) => Ok(ack),
        Err(e) => Err(Failure {
            error: e,
            response: ack,
        }),
    }
}

/// `sha256=<hex>` of HMAC-SHA256 over `body` with `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any size");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// POSTs the JSON body with the event, delivery id and signature headers; 2xx is success.
pub async fn send_webhook(
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    event: &str,
    delivery_id: i64,
    timeout: Duration,
    body: &str,
) -> Result<String, Failure> {
    let r = http
        .post(url)
        .timeout(timeout)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )
        .header("X-Yiyang-Event", event)
        .header("X-Yiyang-Delivery", delivery_id.to_string())
        .header("X-Yiyang-Signature", signature(secret, body.as_bytes()))
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                fail(format!("{} 秒内未得到响应（超时）", timeout.as_secs()))
            } else if e.is_connect() {
                fail(format!("无法连接 {url}：{e}"))
            } else {
                fail(format!("请求失败：{e}"))
            }
        })?;
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    let response = clip(
        &format!("HTTP {} {}", status.as_u16(), text.trim()),
        MAX_RESPONSE,
    );
    if status.is_success() {
        Ok(response)
    } else if status.is_redirection() {
        Err(Failure {
            error: format!(
                "对方返回重定向 HTTP {}（不跟随重定向，请填写最终地址）",
                status.as_u16()
            ),
            response,
        })
    } else {
        Err(Failure {
            error: format!("对方返回 HTTP {}", status.as_u16()),
            response,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_are_judged_by_msa_and_control_id() {
        let ack = |code: &str, id: &str| {
            format!(
                "MSH|^~\\&|HIS|H|YIYANG|MZ|20261126100000||ACK^A01^ACK|A1|P|2.5\rMSA|{code}|{id}|原因"
            )
        };
        assert!(judge_ack(&ack("AA", "C1"), "C1").is_ok());
        assert!(judge_ack(&ack("CA", "C1"), "C1").is_ok());
        assert!(
            judge_ack(&ack("AE", "C1"), "C1")
                .unwrap_err()
                .contains("AE")
        );
        assert!(
            judge_ack(&ack("AR", "C1"), "C1")
                .unwrap_err()
                .contains("拒收")
        );
        assert!(
            judge_ack(&ack("AA", "C2"), "C1")
                .unwrap_err()
                .contains("C2")
        );
        assert!(judge_ack("garbage", "C1").is_err());
    }

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
