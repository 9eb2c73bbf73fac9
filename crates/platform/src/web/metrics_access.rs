//! Who may read `/metrics`: an allow-list of addresses and networks, or a bearer token.
//! The figures name routes and load, which an outsider has no business seeing.

use std::net::IpAddr;
use yiyang_core::{AppError, AppResult};

#[derive(Debug, Clone)]
pub struct MetricsAccess {
    allow: Vec<(IpAddr, u8)>,
    token: Option<String>,
}

impl Default for MetricsAccess {
    /// The node itself only.
    fn default() -> Self {
        Self::parse("127.0.0.1,::1", None).expect("loopback parses")
    }
}

impl MetricsAccess {
    /// `allow` is a comma-separated list of addresses or CIDR networks (`10.0.0.0/8`);
    /// an empty list allows no address (then only the token opens it).
    pub fn parse(allow: &str, token: Option<String>) -> AppResult<Self> {
        let mut list = Vec::new();
        for item in allow.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (addr, bits) = match item.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (item, None),
            };
            let bad = || {
                AppError::validation(
                    "config.metrics_allow",
                    format!("指标访问白名单中的地址无效：{item}"),
                )
            };
            let ip: IpAddr = addr.parse().map_err(|_| bad())?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                Some(b) => b.parse::<u8>().ok().filter(|b| *b <= max).ok_or_else(bad)?,
                None => max,
            };
            list.push((ip, bits));
        }
        if token.as_deref().is_some_and(|t| t.len() < 16) {
            return Err(AppError::validation(
                "config.metrics_token",
                "指标访问令牌至少 16 个字符",
            ));
        }
        Ok(Self { allow: list, token })
    }

    pub fn allows(&self, client: Option<IpAddr>, bearer: Option<&str>) -> bool {
        if let (Some(t), Some(b)) = (&self.token, bearer)
            && super::constant_eq(t.as_bytes(), b.as_bytes())
        {
            return true;
        }
        let Some(ip) = client.map(canonical) else {
            return false;
        };
        self.allow
            .iter()
            .any(|(net, bits)| contains(*net, *bits, ip))
    }
}

/// An IPv4 client seen through an IPv6 socket (`::ffff:a.b.c.d`) is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn contains(net: IpAddr, bits: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_open_to_listed_networks_or_the_token_only() {
        let a = MetricsAccess::parse(
            "127.0.0.1, 10.1.0.0/16, ::1",
            Some("s3cret-token-0123".into()),
        )
        .unwrap();
        let ip = |s: &str| Some(s.parse().unwrap());
        assert!(a.allows(ip("127.0.0.1"), None));
        assert!(a.allows(ip("10.1.200.3"), None));
        assert!(a.allows(ip("::ffff:10.1.0.9"), None));
        assert!(!a.allows(ip("10.2.0.1"), None));
        assert!(!a.allows(ip("203.0.113.5"), None));
        assert!(!a.allows(None, None));
        assert!(a.allows(ip("203.0.113.5"), Some("s3cret-token-0123")));
        assert!(!a.allows(ip("203.0.113.5"), Some("wrong")));
        assert!(MetricsAccess::parse("10.0.0.0/33", None).is_err());
        assert!(MetricsAccess::parse("example.org", None).is_err());
        assert!(MetricsAccess::parse("", Some("short".into())).is_err());
    }
}
