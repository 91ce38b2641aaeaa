//! Where a service answers: one endpoint (`unix:/path`, `http://host:port`,
//! `https://host:port` or `quic://host:port`), several (`endpoints = [...]`, balanced), or a
//! DNS name whose every address is an endpoint (`dns:///host:port`,
//! re-resolved — a Kubernetes headless Service); and the TLS files
//! `quic://` and `https://` endpoints need (checked by loading them, so a bad file is
//! reported at start).

use std::path::PathBuf;

use micromcp_proto::quic::{self, ClientTls};

use super::services::RawService;

/// Where a service listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `unix:/path/to.sock`
    Unix(PathBuf),
    /// `http://host:port`, kept as configured (the scheme included).
    Tcp(String),
    /// `https://host:port`: gRPC over HTTP/2 behind TLS 1.3 (a service's
    /// `--tls-listen`), with the same TLS settings as QUIC.
    Tls {
        /// `host:port`, resolved when dialling.
        authority: String,
        tls: ClientTls,
    },
    /// `quic://host:port`: the same gRPC over HTTP/3, with TLS settings.
    Quic {
        /// `host:port`, resolved when dialling.
        authority: String,
        tls: ClientTls,
    },
}

impl std::fmt::Display for Endpoint {
    /// As configured, with the wire: `http://host:port (gRPC over HTTP/2)`.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unix(path) => write!(formatter, "unix:{} (gRPC over HTTP/2)", path.display()),
            Self::Tcp(url) => write!(formatter, "{url} (gRPC over HTTP/2)"),
            Self::Tls { authority, .. } => {
                write!(formatter, "https://{authority} (gRPC over HTTP/2, TLS)")
            }
            Self::Quic { authority, .. } => {
                write!(formatter, "quic://{authority} (gRPC over HTTP/3, TLS)")
            }
        }
    }
}

impl Endpoints {
    /// Each endpoint as configured, with its wire (a DNS name as one line).
    pub fn describe(&self) -> Vec<String> {
        match self {
            Self::Fixed(endpoints) => endpoints.iter().map(ToString::to_string).collect(),
            Self::Dns { host, port } => vec![format!(
                "dns:///{host}:{port} (every address, re-resolved; gRPC over HTTP/2)"
            )],
        }
    }
}

/// Most endpoints one service may list (or one DNS name may give).
pub const MAX_ENDPOINTS: usize = 64;

/// Every place one service answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoints {
    /// Fixed endpoints: `endpoint`, or several in `endpoints`.
    Fixed(Vec<Endpoint>),
    /// `dns:///host:port`: every address `host` resolves to, as plain
    /// HTTP/2 endpoints, re-resolved every `backends.dns_refresh_secs`.
    Dns { host: String, port: u16 },
}

/// Validates a service's `endpoint` or `endpoints` (exactly one is given)
/// into its [`Endpoints`], TLS settings resolved.
pub(super) fn parse_endpoints(key: &str, raw: &RawService, errors: &mut Vec<String>) -> Endpoints {
    let texts: Vec<(String, &str)> = match (&raw.endpoint, raw.endpoints.as_slice()) {
        (Some(text), []) => {
            if let Some(rest) = text.strip_prefix("dns:") {
                return parse_dns(rest).unwrap_or_else(|error| {
                    errors.push(format!("{key}.endpoint: {text:?}: {error}"));
                    Endpoints::Fixed(Vec::new())
                });
            }
            vec![(format!("{key}.endpoint"), text.as_str())]
        }
        (None, []) => {
            errors.push(format!(
                "{key}.endpoint: required (or `endpoints`, a list of several)"
            ));
            return Endpoints::Fixed(Vec::new());
        }
        (Some(_), _) => {
            errors.push(format!(
                "{key}.endpoints: give either `endpoint` or `endpoints`, not both"
            ));
            return Endpoints::Fixed(Vec::new());
        }
        (None, list) => {
            if list.len() > MAX_ENDPOINTS {
                errors.push(format!(
                    "{key}.endpoints: {} endpoints; at most {MAX_ENDPOINTS}",
                    list.len()
                ));
            }
            list.iter()
                .enumerate()
                .map(|(index, text)| (format!("{key}.endpoints[{index}]"), text.as_str()))
                .collect()
        }
    };
    let mut endpoints = Vec::with_capacity(texts.len());
    for (entry_key, text) in texts {
        if text.starts_with("dns:") {
            errors.push(format!(
                "{entry_key}: {text:?}: a dns: name stands alone in `endpoint`"
            ));
            continue;
        }
        match parse_endpoint(text) {
            Ok(endpoint) => {
                if endpoints.contains(&endpoint) {
                    errors.push(format!("{entry_key}: {text:?} is listed twice"));
                }
                endpoints.push(endpoint);
            }
            Err(error) => errors.push(format!("{entry_key}: {text:?}: {error}")),
        }
    }
    resolve_tls(key, raw, &mut endpoints, errors);
    Endpoints::Fixed(endpoints)
}

/// `///host:port` (the gRPC naming form, no DNS server authority).
fn parse_dns(rest: &str) -> Result<Endpoints, String> {
    let expected = "expected dns:///host:port";
    let authority = rest.strip_prefix("///").ok_or(expected)?;
    let (host, port) = authority.rsplit_once(':').ok_or(expected)?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{expected} (port {port:?})"))?;
    if host.is_empty() || host.contains('/') || host.parse::<std::net::IpAddr>().is_ok() {
        return Err(format!("{expected}, host a DNS name"));
    }
    Ok(Endpoints::Dns {
        host: host.to_owned(),
        port,
    })
}

fn parse_endpoint(text: &str) -> Result<Endpoint, String> {
    if let Some(path) = text.strip_prefix("unix:") {
        if path.is_empty() {
            return Err("unix: needs a socket path".into());
        }
        return Ok(Endpoint::Unix(PathBuf::from(path)));
    }
    if let Some(rest) = text.strip_prefix("http://") {
        if rest.is_empty() || rest.contains('/') && !rest.ends_with('/') {
            return Err("expected http://host:port".into());
        }
        return Ok(Endpoint::Tcp(text.trim_end_matches('/').to_owned()));
    }
    for (scheme, quic) in [("quic://", true), ("https://", false)] {
        let Some(rest) = text.strip_prefix(scheme) else {
            continue;
        };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') || !authority.contains(':') {
            return Err(format!("expected {scheme}host:port"));
        }
        let (authority, tls) = (
            authority.to_owned(),
            ClientTls {
                ca_file: PathBuf::new(),
                server_name: String::new(),
                identity: None,
            },
        );
        return Ok(if quic {
            Endpoint::Quic { authority, tls }
        } else {
            Endpoint::Tls { authority, tls }
        });
    }
    Err("expected unix:/path, http://host:port, https://host:port or quic://host:port".into())
}

/// Fills in (and checks, by loading the files) the TLS settings of the
/// `quic://` and `https://` endpoints; a service without one must not carry any.
fn resolve_tls(key: &str, raw: &RawService, endpoints: &mut [Endpoint], errors: &mut Vec<String>) {
    let mut quic = endpoints
        .iter_mut()
        .filter_map(|endpoint| match endpoint {
            Endpoint::Quic { authority, tls } | Endpoint::Tls { authority, tls } => {
                Some((authority, tls))
            }
            _ => None,
        })
        .peekable();
    if quic.peek().is_none() {
        for (field, given) in [
            ("tls_ca", raw.tls_ca.is_some()),
            ("tls_server_name", raw.tls_server_name.is_some()),
            ("tls_client_cert", raw.tls_client_cert.is_some()),
            ("tls_client_key", raw.tls_client_key.is_some()),
        ] {
            if given {
                errors.push(format!(
                    "{key}.{field}: only for quic:// and https:// endpoints"
                ));
            }
        }
        return;
    }
    let Some(checked) = checked_tls(key, raw, errors) else {
        return;
    };
    for (authority, tls) in quic {
        *tls = checked.clone();
        if tls.server_name.is_empty() {
            let host = authority
                .rsplit_once(':')
                .map_or(authority.as_str(), |(host, _)| host);
            tls.server_name = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
        }
    }
}

/// The service's TLS files, loaded once to check them.
fn checked_tls(key: &str, raw: &RawService, errors: &mut Vec<String>) -> Option<ClientTls> {
    let before = errors.len();
    let mut tls = ClientTls {
        ca_file: PathBuf::new(),
        server_name: raw.tls_server_name.clone().unwrap_or_default(),
        identity: None,
    };
    match &raw.tls_ca {
        None => errors.push(format!(
            "{key}.tls_ca: required for a quic:// or https:// endpoint (PEM CA of the service's certificate; `micromcp tls-cert` makes one)"
        )),
        Some(path) => match quic::load_roots(path) {
            Ok(_) => tls.ca_file = path.clone(),
            Err(error) => errors.push(format!("{key}.tls_ca: {error}")),
        },
    }
    match (&raw.tls_client_cert, &raw.tls_client_key) {
        (None, None) => {}
        (Some(cert_file), Some(key_file)) => {
            if let Err(error) = quic::load_certificates(cert_file) {
                errors.push(format!("{key}.tls_client_cert: {error}"));
            }
            if let Err(error) = quic::load_private_key(key_file) {
                errors.push(format!("{key}.tls_client_key: {error}"));
            }
            tls.identity = Some((cert_file.clone(), key_file.clone()));
        }
        (Some(_), None) => errors.push(format!(
            "{key}.tls_client_key: required with tls_client_cert"
        )),
        (None, Some(_)) => errors.push(format!(
            "{key}.tls_client_cert: required with tls_client_key"
        )),
    }
    (errors.len() == before).then_some(tls)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints_of(endpoint: Option<&str>, list: &[&str]) -> (Endpoints, Vec<String>) {
        let raw = RawService {
            name: "svc".into(),
            endpoint: endpoint.map(str::to_owned),
            endpoints: list.iter().map(|text| (*text).to_owned()).collect(),
            ..RawService::default()
        };
        let mut errors = Vec::new();
        let endpoints = parse_endpoints("services[0]", &raw, &mut errors);
        (endpoints, errors)
    }

    #[test]
    fn one_endpoint_several_or_a_dns_name() {
        assert_eq!(
            endpoints_of(Some("unix:/run/fs.sock"), &[]),
            (
                Endpoints::Fixed(vec![Endpoint::Unix("/run/fs.sock".into())]),
                vec![]
            )
        );
        assert_eq!(
            endpoints_of(None, &["http://10.0.0.1:7000", "unix:/run/b.sock"]),
            (
                Endpoints::Fixed(vec![
                    Endpoint::Tcp("http://10.0.0.1:7000".into()),
                    Endpoint::Unix("/run/b.sock".into()),
                ]),
                vec![]
            )
        );
        assert_eq!(
            endpoints_of(Some("dns:///fs.tools.svc.cluster.local:7000"), &[]),
            (
                Endpoints::Dns {
                    host: "fs.tools.svc.cluster.local".into(),
                    port: 7000
                },
                vec![]
            )
        );
    }

    #[test]
    fn each_endpoint_is_described_with_its_scheme_once() {
        let tls = ClientTls {
            ca_file: PathBuf::new(),
            server_name: String::new(),
            identity: None,
        };
        let described = Endpoints::Fixed(vec![
            Endpoint::Tcp("http://10.0.0.1:7000".into()),
            Endpoint::Tls {
                authority: "10.0.0.2:7000".into(),
                tls: tls.clone(),
            },
            Endpoint::Quic {
                authority: "10.0.0.3:7000".into(),
                tls,
            },
            Endpoint::Unix("/run/fs.sock".into()),
        ])
        .describe();
        assert_eq!(
            described,
            [
                "http://10.0.0.1:7000 (gRPC over HTTP/2)",
                "https://10.0.0.2:7000 (gRPC over HTTP/2, TLS)",
                "quic://10.0.0.3:7000 (gRPC over HTTP/3, TLS)",
                "unix:/run/fs.sock (gRPC over HTTP/2)",
            ]
        );
    }

    #[test]
    fn mistakes_name_the_entry() {
        let cases: &[(Option<&str>, &[&str], &str)] = &[
            (None, &[], "services[0].endpoint: required"),
            (
                Some("http://a:1"),
                &["http://b:1"],
                "services[0].endpoints: give either",
            ),
            (
                None,
                &["http://a:1", "http://a:1"],
                "services[0].endpoints[1]: \"http://a:1\" is listed twice",
            ),
            (
                None,
                &["http://a:1", "gopher://b"],
                "services[0].endpoints[1]: \"gopher://b\"",
            ),
            (
                None,
                &["dns:///a:1"],
                "services[0].endpoints[0]: \"dns:///a:1\": a dns: name stands alone",
            ),
            (Some("dns://a:1"), &[], "expected dns:///host:port"),
            (Some("dns:///a"), &[], "expected dns:///host:port"),
            (Some("dns:///a:http"), &[], "(port \"http\")"),
            (Some("dns:///10.0.0.1:80"), &[], "host a DNS name"),
        ];
        for (endpoint, list, expected) in cases {
            let (_, errors) = endpoints_of(*endpoint, list);
            let joined = errors.join("\n");
            assert!(joined.contains(expected), "{endpoint:?} {list:?}: {joined}");
        }
        let many: Vec<String> = (0..=MAX_ENDPOINTS)
            .map(|port| format!("http://a:{}", port + 1))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let (_, errors) = endpoints_of(None, &many);
        assert!(errors[0].contains("at most 64"), "{errors:?}");
    }

    #[test]
    fn tls_settings_are_only_for_tls_endpoints() {
        let raw = RawService {
            name: "svc".into(),
            endpoints: vec!["http://a:1".into(), "unix:/b".into()],
            tls_ca: Some("/ca.pem".into()),
            ..RawService::default()
        };
        let mut errors = Vec::new();
        parse_endpoints("services[3]", &raw, &mut errors);
        assert_eq!(
            errors,
            vec!["services[3].tls_ca: only for quic:// and https:// endpoints".to_owned()]
        );
    }
}
