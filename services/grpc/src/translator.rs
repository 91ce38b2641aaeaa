//! `GrpcTranslator`: the micro-service that offers a gRPC target's methods
//! as tools. It holds the only reach to the target (the gateway talks to
//! it over the micromcp.v1 contract like any service), reads the target's
//! descriptors at start — through server reflection, or from a descriptor
//! set file — and, with reflection, reads them again every `refresh` and
//! publishes a new catalog when the tools changed.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use micromcp_sdk::{
    CatalogPublisher, McpService, ResourceContent, ServiceError, ServiceResult, ToolCall,
    ToolEvents, ToolOutput,
};
use prost_reflect::DescriptorPool;
use tonic::transport::Channel;

use crate::call::{CallPlan, call_method};
use crate::channel::channel_to;
use crate::methods::{Methods, methods_of};
use crate::settings::{GrpcSettings, MethodFilter};
use crate::{GrpcError, GrpcResult, reflect};

/// Largest descriptor set file read.
const MAX_DESCRIPTOR_SET_BYTES: u64 = 64 * 1024 * 1024;
/// Longest wait between two attempts to read a target that failed.
const MAX_RETRY: Duration = Duration::from_secs(30);

/// A gRPC target's methods as tools.
#[derive(Clone)]
pub struct GrpcTranslator {
    inner: Arc<Inner>,
}

struct Inner {
    settings: GrpcSettings,
    filter: MethodFilter,
    channel: Channel,
    publisher: CatalogPublisher,
    methods: ArcSwap<Methods>,
}

// === impl GrpcTranslator ===

impl GrpcTranslator {
    /// A translator for `settings` (checked here); with a descriptor set the
    /// tools are read now, with reflection once [`start`](Self::start) runs.
    pub fn new(settings: GrpcSettings) -> GrpcResult<Self> {
        let filter = settings.validate()?;
        let channel = channel_to(&settings.target, settings.tls_opt.as_ref())?;
        let translator = Self {
            inner: Arc::new(Inner {
                settings,
                filter,
                channel,
                publisher: CatalogPublisher::pending(),
                methods: ArcSwap::from_pointee(Methods::default()),
            }),
        };
        if let Some(path) = &translator.inner.settings.descriptor_set_opt {
            let pool = read_descriptor_set(path)?;
            translator.install(methods_of(&pool, None, &translator.inner.filter));
        }
        Ok(translator)
    }

    /// Reads the target's descriptors through reflection until it answers,
    /// then again every `refresh`; runs until the returned task is dropped.
    /// Does nothing with a descriptor set.
    pub fn start(&self) -> Option<tokio::task::JoinHandle<()>> {
        if self.inner.settings.descriptor_set_opt.is_some() {
            return None;
        }
        let translator = self.clone();
        Some(tokio::spawn(async move {
            let mut retry = Duration::from_secs(1);
            loop {
                match translator.read_reflection().await {
                    Ok(()) => break,
                    Err(error) => {
                        tracing::warn!(%error, retry_secs = retry.as_secs(), "cannot read the target's descriptors yet");
                        tokio::time::sleep(retry).await;
                        retry = (retry * 2).min(MAX_RETRY);
                    }
                }
            }
            let Some(every) = translator.inner.settings.refresh_opt else {
                return;
            };
            loop {
                tokio::time::sleep(every).await;
                if let Err(error) = translator.read_reflection().await {
                    tracing::warn!(%error, "reading the target's descriptors again failed; the tools stay as they were");
                }
            }
        }))
    }

    /// Reads the descriptors once through reflection and publishes the
    /// tools if they changed.
    pub async fn read_reflection(&self) -> GrpcResult<()> {
        let target = self.inner.settings.target.to_string();
        let (pool, listed) = reflect::read_pool(self.inner.channel.clone(), &target).await?;
        let inner = Arc::clone(&self.inner);
        let methods =
            tokio::task::spawn_blocking(move || methods_of(&pool, Some(&listed), &inner.filter))
                .await
                .map_err(|error| {
                    GrpcError::Descriptors(format!("reading the descriptors failed: {error}"))
                })?;
        self.install(methods);
        Ok(())
    }

    fn install(&self, methods: Methods) {
        let current = self.inner.publisher.current();
        let first = self.inner.publisher.subscribe().borrow().0 == 0;
        if !first && *current == methods.catalog {
            return;
        }
        tracing::info!(tools = methods.catalog.tools.len(), target = %self.inner.settings.target, "tools of the gRPC target");
        let catalog = methods.catalog.clone();
        self.inner.methods.store(Arc::new(methods));
        self.inner.publisher.publish(catalog);
    }
}

pub(crate) fn read_descriptor_set(path: &std::path::Path) -> GrpcResult<DescriptorPool> {
    let failed = |detail: String| GrpcError::DescriptorSet {
        path: path.to_owned(),
        detail,
    };
    // A regular file only (a device or FIFO reports no size and never
    // ends), read at most one byte past the bound.
    let file = micromcp_sdk::open_regular_file(path).map_err(|error| failed(error.to_string()))?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, MAX_DESCRIPTOR_SET_BYTES + 1),
        &mut bytes,
    )
    .map_err(|error| failed(error.to_string()))?;
    if bytes.len() as u64 > MAX_DESCRIPTOR_SET_BYTES {
        return Err(failed(format!(
            "larger than {MAX_DESCRIPTOR_SET_BYTES} bytes"
        )));
    }
    DescriptorPool::decode(bytes.as_slice()).map_err(|error| failed(error.to_string()))
}

impl McpService for GrpcTranslator {
    fn catalog(&self) -> &CatalogPublisher {
        &self.inner.publisher
    }

    async fn call_tool(&self, call: ToolCall, events: ToolEvents) -> ServiceResult<ToolOutput> {
        let methods = self.inner.methods.load();
        let Some(method) = methods.by_tool.get(&call.name).cloned() else {
            return Err(ServiceError::NotFound(format!(
                "unknown tool: {}",
                call.name
            )));
        };
        let plan = CallPlan {
            channel: self.inner.channel.clone(),
            deadline: self.inner.settings.deadline,
            forward: &self.inner.settings.forward_metadata,
        };
        Ok(call_method(plan, &method, &call, &events).await)
    }

    async fn read_resource(&self, uri: String) -> ServiceResult<ResourceContent> {
        Err(ServiceError::NotFound(format!("unknown resource: {uri}")))
    }
}
