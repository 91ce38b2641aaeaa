//! `PolicyResolver`: DNS for reqwest that returns only addresses the policy
//! allows. reqwest connects to exactly the addresses returned here, so the
//! check and the connection cannot disagree (no DNS-rebinding window).

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::{FetchError, UrlPolicy};

/// Resolves with the system resolver, then filters by [`UrlPolicy`].
pub struct PolicyResolver {
    policy: Arc<UrlPolicy>,
}

impl PolicyResolver {
    pub fn new(policy: Arc<UrlPolicy>) -> Self {
        Self { policy }
    }
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|error| FetchError::Resolve {
                    host: host.clone(),
                    reason: error.to_string(),
                })?
                .collect();
            let mut refusal = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|address| match policy.check_address(&host, address.ip()) {
                    Ok(()) => true,
                    Err(error) => {
                        refusal.get_or_insert(error);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let error = refusal.unwrap_or(FetchError::Resolve {
                    host,
                    reason: "no addresses".into(),
                });
                return Err(Box::new(error) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}
