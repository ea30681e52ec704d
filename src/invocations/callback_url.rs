//! Where a finished invocation may be POSTed: an absolute http(s) URL whose host is not, and
//! does not resolve to, an address of `FAAS_CALLBACK_DENY` (by default link-local addresses
//! and the cloud metadata address). Checked when the call is accepted, and again on the
//! address actually connected to (a name may resolve differently later).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The address ranges callbacks may not reach.
#[derive(Debug, Clone, Default)]
pub struct Deny {
    nets: Arc<Vec<IpNet>>,
}

impl Deny {
    /// Refuses `nets`.
    pub fn new(nets: Vec<IpNet>) -> Self {
        Deny {
            nets: Arc::new(nets),
        }
    }

    /// Whether `ip` (an IPv4-mapped IPv6 address as the IPv4 one) is refused.
    pub fn refuses(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The URL, when it is one a callback may go to as far as can be told without resolving
    /// its host; else why not.
    pub fn parse(&self, text: &str) -> Result<Url, String> {
        let url = Url::parse(text).map_err(|e| format!("is not an absolute URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("must be http or https, not {}", url.scheme()));
        }
        match url.host() {
            None => Err("names no host".into()),
            Some(url::Host::Ipv4(ip)) if self.refuses(ip.into()) => {
                Err(format!("may not reach {ip} (FAAS_CALLBACK_DENY)"))
            }
            Some(url::Host::Ipv6(ip)) if self.refuses(ip.into()) => {
                Err(format!("may not reach {ip} (FAAS_CALLBACK_DENY)"))
            }
            Some(_) => Ok(url),
        }
    }

    /// Like [`Self::parse`], and a name must not resolve to a refused address either.
    pub async fn check(&self, text: &str) -> Result<Url, String> {
        let url = self.parse(text)?;
        if let Some(url::Host::Domain(name)) = url.host() {
            let port = url.port_or_known_default().unwrap_or(80);
            let addrs = tokio::net::lookup_host((name, port))
                .await
                .map_err(|e| format!("has a host that does not resolve ({e})"))?;
            if let Some(bad) = addrs.map(|a| a.ip()).find(|ip| self.refuses(*ip)) {
                return Err(format!(
                    "has a host that resolves to {bad}, which it may not reach (FAAS_CALLBACK_DENY)"
                ));
            }
        }
        Ok(url)
    }
}

/// Resolves callback hosts, leaving out refused addresses: what is connected to is what was
/// checked.
pub struct DenyingResolver {
    deny: Deny,
}

impl DenyingResolver {
    /// A resolver refusing what `deny` refuses.
    pub fn new(deny: Deny) -> Self {
        DenyingResolver { deny }
    }
}

impl Resolve for DenyingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let deny = self.deny.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !deny.refuses(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} resolves to no address a callback may reach").into());
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deny() -> Deny {
        Deny::new(
            ["169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128"]
                .iter()
                .map(|n| n.parse().expect("a CIDR"))
                .collect(),
        )
    }

    #[test]
    fn only_absolute_http_urls_are_taken() {
        let d = deny();
        assert!(d.parse("https://example.com/hook").is_ok());
        assert!(d.parse("http://10.0.0.5:8080/x").is_ok());
        assert!(d.parse("ftp://example.com/").is_err());
        assert!(d.parse("/relative").is_err());
        assert!(d.parse("file:///etc/passwd").is_err());
    }

    #[test]
    fn link_local_and_metadata_addresses_are_refused_also_when_disguised() {
        let d = deny();
        assert!(d.parse("http://169.254.169.254/latest/meta-data").is_err());
        assert!(d.parse("http://[fd00:ec2::254]/").is_err());
        assert!(d.parse("http://[fe80::1]/").is_err());
        assert!(d.parse("http://[::ffff:169.254.169.254]/").is_err());
        assert!(d.parse("http://127.0.0.1:9/").is_ok());
    }

    #[tokio::test]
    async fn a_name_is_judged_by_what_it_resolves_to() {
        let d = Deny::new(vec!["127.0.0.0/8".parse().expect("a CIDR")]);
        let e = d.check("http://localhost:9/").await.expect_err("refused");
        assert!(e.contains("127.0.0.1"), "{e}");
    }
}
