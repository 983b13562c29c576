//! A tonic gRPC inventory protected by warden: one validator, per-method
//! scopes, the caller's `sub` in every reply.
//!
//! Run with `cargo run -p example-grpc-inventory` (see the README for the
//! variables). The server is a library so tests can drive it too.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use warden::JwtValidator;
use warden::grpc::{MethodRuleError, MethodScopes, RequireMethodScopeLayer};
use warden::inbound::jwt::{EnvConfig, EnvError};

/// The generated protobuf and gRPC code of `warden.example.v1`.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod pb {
    tonic::include_proto!("warden.example.v1");
    include!(concat!(env!("OUT_DIR"), "/methods.rs"));
}

use pb::inventory_server::{Inventory, InventoryServer};
use pb::{GetItemRequest, Item, ReserveItemRequest, WatchItemsRequest};

/// The example's settings, read from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `WARDEN_ISSUER`, `WARDEN_AUDIENCE`, `WARDEN_JWKS_URL`, `WARDEN_ALLOW_HTTP`.
    pub jwt: EnvConfig,
    /// `WARDEN_BIND`: listen address (default `127.0.0.1:50051`).
    pub bind: SocketAddr,
}

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A `WARDEN_*` variable of the validator is missing.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// `WARDEN_BIND` is not a socket address.
    #[error("WARDEN_BIND is not an address: {0:?}")]
    Bind(String),
}

impl Config {
    /// Reads the settings through `get`.
    ///
    /// # Errors
    /// A message naming the missing or malformed variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let bind = get("WARDEN_BIND").unwrap_or_else(|| "127.0.0.1:50051".into());
        Ok(Self {
            jwt: EnvConfig::from_lookup(&get)?,
            bind: bind.parse().map_err(|_| ConfigError::Bind(bind.clone()))?,
        })
    }

    /// Reads the settings from the process environment.
    ///
    /// # Errors
    /// A message naming the missing or malformed variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }
}

/// The scope rules of the Inventory service, checked against its methods.
///
/// # Errors
/// When a rule names a method the service does not have.
pub fn scope_rules() -> Result<MethodScopes, MethodRuleError> {
    MethodScopes::builder()
        .all("/warden.example.v1.Inventory/GetItem", ["inventory:read"])
        .all(
            "/warden.example.v1.Inventory/ReserveItem",
            ["inventory:write"],
        )
        .all(
            "/warden.example.v1.Inventory/WatchItems",
            ["inventory:read"],
        )
        .build_for(pb::METHODS.iter().copied())
}

/// An in-memory inventory.
#[derive(Debug, Clone)]
pub struct InventoryService {
    stock: Arc<Mutex<BTreeMap<String, u32>>>,
}

impl Default for InventoryService {
    fn default() -> Self {
        let stock = [("apple", 10), ("pear", 5), ("plum", 0)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        Self {
            stock: Arc::new(Mutex::new(stock)),
        }
    }
}

fn caller<T>(req: &Request<T>) -> Result<String, Status> {
    Ok(warden::grpc::principal(req)?
        .subject()
        .unwrap_or_default()
        .to_owned())
}

type ItemStream = Pin<Box<dyn Stream<Item = Result<Item, Status>> + Send>>;

#[tonic::async_trait]
impl Inventory for InventoryService {
    async fn get_item(&self, req: Request<GetItemRequest>) -> Result<Response<Item>, Status> {
        let caller = caller(&req)?;
        let sku = req.into_inner().sku;
        let stock = self.stock.lock().unwrap_or_else(|e| e.into_inner());
        let available = *stock
            .get(&sku)
            .ok_or_else(|| Status::not_found(format!("no item {sku:?}")))?;
        Ok(Response::new(Item {
            sku,
            available,
            caller,
        }))
    }

    async fn reserve_item(
        &self,
        req: Request<ReserveItemRequest>,
    ) -> Result<Response<Item>, Status> {
        let caller = caller(&req)?;
        let ReserveItemRequest { sku, quantity } = req.into_inner();
        let mut stock = self.stock.lock().unwrap_or_else(|e| e.into_inner());
        let available = stock
            .get_mut(&sku)
            .ok_or_else(|| Status::not_found(format!("no item {sku:?}")))?;
        if *available < quantity {
            return Err(Status::failed_precondition(format!(
                "only {available} of {sku:?} left"
            )));
        }
        *available -= quantity;
        Ok(Response::new(Item {
            sku,
            available: *available,
            caller,
        }))
    }

    type WatchItemsStream = ItemStream;

    async fn watch_items(
        &self,
        req: Request<WatchItemsRequest>,
    ) -> Result<Response<ItemStream>, Status> {
        let caller = caller(&req)?;
        let items: Vec<Result<Item, Status>> = self
            .stock
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(sku, available)| {
                Ok(Item {
                    sku: sku.clone(),
                    available: *available,
                    caller: caller.clone(),
                })
            })
            .collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(items))))
    }
}

/// Serves the Inventory on `listener` with `validator` until `shutdown`.
///
/// # Errors
/// When the rules do not match the service, or the server fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    validator: JwtValidator,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let rules = scope_rules()?;
    tonic::transport::Server::builder()
        .layer(warden::grpc::authenticate(validator))
        .layer(RequireMethodScopeLayer::new(rules))
        .add_service(InventoryServer::new(InventoryService::default()))
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown,
        )
        .await?;
    Ok(())
}

/// Binds, prints `listening on <addr>`, and serves until Ctrl-C.
///
/// # Errors
/// When the validator cannot be built or the address cannot be bound.
pub async fn run(config: Config) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let validator = config.jwt.validator()?;
    let listener = tokio::net::TcpListener::bind(config.bind).await?;
    println!("listening on {}", listener.local_addr()?);
    serve(listener, validator, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn rules_match_the_proto() {
        assert_eq!(super::pb::METHODS.len(), 3);
        super::scope_rules().expect("every rule names a real method");
    }
}
