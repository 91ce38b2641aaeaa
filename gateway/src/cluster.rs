//! The state replicas of one gateway share when `[cluster] redis_url` is
//! set, and each shared decision's fallback while Redis cannot answer:
//! the connection and its metrics (`store`), the replicas' heartbeats that
//! tell how many are alive (`replicas`), ended sessions (`revocations`),
//! approval rounds used once (`used_rounds`), the rate limits decided
//! by one GCRA script per call (`gcra`) with the calls in flight per
//! principal (`in_flight`), approvals remembered for a while
//! (`remembered`), approved tool definitions (`pins`) and run-time
//! registrations (`registrations`); the values of those keys are sealed
//! for their own key (`seals`). Without `[cluster]` none of this
//! exists and each process decides alone, as a single node always has.
//! See `README.md` beside this file for each decision's fallback.

mod gcra;
mod in_flight;
mod pins;
mod registrations;
mod remembered;
mod replicas;
mod revocations;
mod seals;
mod store;
mod used_rounds;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

pub use self::gcra::Decision;
pub use self::pins::SharedApproval;
pub use self::registrations::Saved;
pub use self::store::{Store, StoreError};
use crate::config::ClusterConfig;
use crate::rates::RateLimits;
use crate::session::aead::SealingKey;

/// Longest sealed registrations document opened (characters).
const MAX_SEALED_DOCUMENT: usize = 64 << 20;

/// This replica's part in a cluster.
pub struct Cluster {
    store: Store,
    /// This process's id in the heartbeats (random per start).
    replica_id: String,
    /// Replicas alive at the last heartbeat answered (this one included);
    /// `cluster.replicas_when_unknown` until one is.
    live_replicas: AtomicU32,
    /// The local limiters used while the store is away: each rate divided
    /// by the live replicas, kept while that count and the services'
    /// rates stay the same.
    fallback_rates: Mutex<Option<FallbackRates>>,
    /// Seals what replicas share that decides what runs (the registrations
    /// document) under a key derived from the session key every replica
    /// holds: a document anyone else wrote into Redis does not open.
    documents: SealingKey,
    /// Seals the values of the other keys that decide something, each for
    /// its own key.
    values: seals::ValueSeal,
    /// The places this replica's calls hold among their principals' calls
    /// in flight.
    leases: in_flight::Leases,
}

struct FallbackRates {
    replicas: u32,
    generation: u64,
    limits: Arc<RateLimits>,
}

// === impl Cluster ===

impl Cluster {
    /// This replica's part, not connected yet (heartbeats connect).
    pub fn new(config: &ClusterConfig, session_key: &[u8; 32]) -> Result<Arc<Self>, StoreError> {
        Ok(Arc::new(Self {
            store: Store::new(config)?,
            replica_id: hex::encode(rand::random::<[u8; 8]>()),
            live_replicas: AtomicU32::new(config.replicas_when_unknown.max(1)),
            fallback_rates: Mutex::new(None),
            documents: SealingKey::derived(session_key, b"micromcp cluster registrations v1"),
            values: seals::ValueSeal::new(session_key),
            leases: in_flight::Leases::default(),
        }))
    }

    /// `document` sealed for the other replicas.
    pub fn seal_document(&self, document: &str) -> String {
        self.documents
            .seal(&rand::random::<[u8; 24]>(), document.as_bytes())
    }

    /// A document another replica sealed; an error when it was not sealed
    /// under this deployment's session key (written by anything else).
    pub fn open_document(&self, sealed: &str) -> Result<String, String> {
        let (plaintext, _) =
            self.documents
                .open(sealed, MAX_SEALED_DOCUMENT)
                .map_err(|unopened| {
                    format!(
                        "not sealed by a replica sharing this session key ({unopened:?}); ignored"
                    )
                })?;
        String::from_utf8(plaintext).map_err(|_| "not UTF-8".to_owned())
    }

    /// The connection to the shared store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Replicas alive at the last heartbeat answered (at least this one).
    pub fn live_replicas(&self) -> u32 {
        self.live_replicas.load(Ordering::Relaxed).max(1)
    }

    /// What `/readyz` shows of the store: never its password. The store
    /// being away does not make a replica unready (each decision has its
    /// fallback, and every replica would report the same).
    pub fn state(&self) -> serde_json::Value {
        serde_json::json!({
            "store": "redis",
            "url": self.store.url(),
            "up": self.store.is_up(),
            "live_replicas": self.live_replicas(),
            "fallbacks_total": self.store.fallbacks_total(),
            "down_reason": self.store.refusal(),
        })
    }

    /// Why the store is to be listed as degraded: it refuses this
    /// replica's credentials (a configuration error, unlike an outage).
    pub fn degraded_reason(&self) -> Option<String> {
        self.store.refusal()
    }
}
