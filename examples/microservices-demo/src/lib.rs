//! The microservices demo: warden-issuer and three services in one process,
//! and a scenario that exercises every grant and every defence, narrated
//! step by step. The binary runs it; a test in this crate runs it too.
//!
//! ```text
//!  svc-batch ──client credentials──────────────────────────┐
//!                                                          ▼
//!  alice ──code+PKCE──▶ gateway ──exchange(api://orders)──▶ orders ──exchange(api://inventory)──▶ inventory (gRPC)
//!         (web-app)     api://gateway                       api://orders                          api://inventory
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use example_grpc_inventory::InventoryService;
use example_grpc_inventory::pb::GetItemRequest;
use example_grpc_inventory::pb::inventory_client::InventoryClient;
use example_grpc_inventory::pb::inventory_server::InventoryServer;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tower::{Service, ServiceBuilder, ServiceExt};
use warden::inbound::Fingerprint;
use warden::inbound::dpop::Dpop;
use warden::inbound::jwt::JwksCacheConfig;
use warden::inbound::jwt::dpop::{DpopKey, DpopVerifier};
use warden::issuer::{Issuer, IssuerConfig};
use warden::outbound::client::{CacheConfig, ClientCredentials, TokenExchange};
use warden::outbound::{AttachBearer, AttachBearerLayer, TokenContext, TokenSource};
use warden::revocation::redis::{RedisConfig, RedisRevocationStore};
use warden::revocation::{MemoryRevocationStore, RevocationStore, StoreCheck};
use warden::testing::ManualClock;
use warden::{Auth, JwtValidator, Principal, RequireBearerLayer, RequireScopeLayer};

mod scenario;

pub use scenario::scenario;

/// How to run the demo.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Keep serving after the scenario and print URLs and curl commands.
    pub serve: bool,
    /// Put the revocation store on this Redis.
    pub redis: Option<String>,
    /// A web app's public URL besides `http://127.0.0.1:8080` (tests run
    /// it on a port of their own): its `/callback` is registered for the
    /// `web-app` client.
    pub web_app_url: Option<String>,
}

/// Where `--serve` runs the web app: the redirect URI the development
/// configuration registers.
pub const WEB_APP_BIND: &str = "127.0.0.1:8080";

/// One step of the scenario.
#[derive(Debug, Clone)]
pub struct Step {
    /// Its title.
    pub name: String,
    /// Whether every check in it held.
    pub passed: bool,
}

/// What the scenario did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The steps, in order.
    pub steps: Vec<Step>,
}

impl Report {
    /// Whether every step passed.
    pub fn passed(&self) -> bool {
        !self.steps.is_empty() && self.steps.iter().all(|s| s.passed)
    }
}

type Store = Arc<dyn RevocationStore>;
type Validator = JwtValidator<Value>;

/// The running services.
pub struct Demo {
    /// The authorization server.
    pub issuer: Issuer,
    /// gateway's address.
    pub gateway: SocketAddr,
    /// orders' address.
    pub orders: SocketAddr,
    /// inventory's (gRPC) address.
    pub inventory: SocketAddr,
    store: Store,
}

impl std::fmt::Debug for Demo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Demo")
            .field("issuer", &self.issuer)
            .field("gateway", &self.gateway)
            .field("orders", &self.orders)
            .field("inventory", &self.inventory)
            .finish_non_exhaustive()
    }
}

fn fp(token: &str) -> String {
    format!("[{}]", Fingerprint::of(token))
}

fn validator(issuer: &Issuer, audience: &str) -> Result<Validator, String> {
    JwtValidator::builder()
        .issuer(issuer.issuer())
        .audience(audience)
        .claims::<Value>()
        // Demo tempo: learn new keys within a second (production: minutes).
        .jwks_cache(
            JwksCacheConfig::default()
                .min_ttl(Duration::from_millis(500))
                .default_ttl(Duration::from_secs(1))
                .refetch_cooldown(Duration::from_secs(1)),
        )
        .dangerous()
        .allow_http()
        .build()
        .map_err(|e| e.to_string())
}

fn exchange_source(
    issuer: &Issuer,
    client: &str,
    audience: &str,
    scope: Option<&str>,
) -> Result<TokenExchange, String> {
    let mut b = TokenExchange::builder()
        .issuer(issuer.issuer())
        .client_secret_basic(client, format!("{client}-secret"))
        .audience(audience)
        .dangerous()
        .allow_http();
    if let Some(s) = scope {
        b = b.scope(s);
    }
    b.build().map_err(|e| e.to_string())
}

type GrpcOut = InventoryClient<AttachBearer<tonic::transport::Channel, TokenExchange>>;
type HttpOut = AttachBearer<Client<HttpConnector, Full<Bytes>>, TokenExchange>;

#[derive(Clone)]
struct OrdersState {
    inventory: GrpcOut,
    seen: Arc<Mutex<Option<Value>>>,
}

async fn list_orders(Auth(who): Auth) -> axum::Json<Value> {
    axum::Json(
        json!({"orders": [{"id": 1, "sku": "apple"}, {"id": 2, "sku": "pear"}], "caller": who.subject()}),
    )
}

async fn stock(State(st): State<OrdersState>, Path(sku): Path<String>) -> Response {
    // No token threading: the attach layer finds the caller's token and exchanges it.
    let mut client = st.inventory.clone();
    match client.get_item(GetItemRequest { sku }).await {
        Ok(item) => {
            let item = item.into_inner();
            let act = st.seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
            axum::Json(json!({"sku": item.sku, "available": item.available, "caller": item.caller, "act_seen_by_inventory": act}))
                .into_response()
        }
        Err(s) => (
            http::StatusCode::BAD_GATEWAY,
            format!("inventory: {:?} {}", s.code(), s.message()),
        )
            .into_response(),
    }
}

async fn gateway_stock(
    State(out): State<HttpOut>,
    Path(sku): Path<String>,
    orders: axum::Extension<SocketAddr>,
) -> Response {
    let mut out = out.clone();
    let req =
        http::Request::get(format!("http://{}/orders/stock/{sku}", orders.0)).body(Full::default());
    let Ok(req) = req else {
        return http::StatusCode::BAD_REQUEST.into_response();
    };
    let res = match out.ready().await {
        Ok(svc) => svc.call(req).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(res) => {
            let status = res.status();
            let body = res
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            (status, body).into_response()
        }
        Err(e) => (http::StatusCode::BAD_GATEWAY, format!("orders: {e}")).into_response(),
    }
}

/// Sends `req`; a transport failure becomes the demo's message.
async fn send(req: reqwest::RequestBuilder) -> Result<reqwest::Response, String> {
    req.send().await.map_err(|e| e.to_string())
}

async fn serve_http(app: Router) -> Result<SocketAddr, String> {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    serve_on(l, app)
}

/// Serves `app` on a bound listener.
fn serve_on(l: tokio::net::TcpListener, app: Router) -> Result<SocketAddr, String> {
    let addr = l.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    Ok(addr)
}

impl Demo {
    /// Starts the issuer and the three services on loopback ports of their own.
    ///
    /// # Errors
    /// A message when something cannot start.
    pub async fn start(opts: &Options) -> Result<Self, String> {
        let store: Store = match &opts.redis {
            Some(url) => {
                let s = RedisRevocationStore::connect(url, RedisConfig::default())
                    .map_err(|e| e.to_string())?;
                if !s.wait_until_ready(Duration::from_secs(5)).await {
                    return Err(format!("redis at {url} is not answering"));
                }
                Arc::new(s)
            }
            None => Arc::new(MemoryRevocationStore::new()),
        };
        let mut config = IssuerConfig::dev();
        if let Some(url) = &opts.web_app_url
            && let Some(web) = config.clients.iter_mut().find(|c| c.id == "web-app")
        {
            web.redirect_uris
                .push(format!("{}/callback", url.trim_end_matches('/')));
        }
        let issuer = Issuer::builder(config)
            .revocation_store(store.clone())
            .start()
            .await
            .map_err(|e| e.to_string())?;
        issuer.set_cache_control(Some("max-age=1".into()));

        // inventory (gRPC): per-method scopes.
        let seen = Arc::new(Mutex::new(None));
        let inv_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let inventory = inv_listener.local_addr().map_err(|e| e.to_string())?;
        let rules = example_grpc_inventory::scope_rules().map_err(|e| e.to_string())?;
        // What inventory saw: the delegation chain (`act`) of each caller
        // that passed authentication and the method's scopes.
        let record = {
            let seen = seen.clone();
            tower::util::MapRequestLayer::new(move |req: http::Request<tonic::body::Body>| {
                let act = req
                    .extensions()
                    .get::<Principal>()
                    .and_then(|p| p.custom::<Value>())
                    .and_then(|c| c.get("act").cloned());
                *seen.lock().unwrap_or_else(|e| e.into_inner()) = act;
                req
            })
        };
        let inv_auth = warden::grpc::authenticate(validator(&issuer, "api://inventory")?)
            .revocation(StoreCheck::new(store.clone()));
        tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .layer(inv_auth)
                .layer(warden::grpc::RequireMethodScopeLayer::new(rules))
                .layer(record)
                .add_service(InventoryServer::new(InventoryService::default()))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(inv_listener))
                .await;
        });

        // orders (HTTP): scope-guarded routes; calls inventory on behalf of its caller.
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{inventory}"))
            .map_err(|e| e.to_string())?
            .connect_lazy();
        let to_inventory = exchange_source(
            &issuer,
            "svc-orders",
            "api://inventory",
            Some("inventory:read"),
        )?;
        let grpc = InventoryClient::new(
            ServiceBuilder::new()
                .layer(AttachBearerLayer::new(to_inventory))
                .service(channel),
        );
        // orders accepts DPoP-bound tokens too (RFC 9449): proofs are made
        // for its own URL.
        let orders_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let orders_url = format!(
            "http://{}",
            orders_listener.local_addr().map_err(|e| e.to_string())?
        );
        let orders_app = Router::new()
            .route(
                "/orders",
                get(list_orders).route_layer(RequireScopeLayer::all(["orders:read"])),
            )
            .route(
                "/orders/reserve",
                post(list_orders).route_layer(RequireScopeLayer::all(["orders:write"])),
            )
            .route(
                "/orders/stock/{sku}",
                get(stock).route_layer(RequireScopeLayer::all(["orders:read"])),
            )
            .with_state(OrdersState {
                inventory: grpc,
                seen: seen.clone(),
            })
            .layer(
                RequireBearerLayer::new(validator(&issuer, "api://orders")?)
                    .revocation(StoreCheck::new(store.clone()))
                    .dpop(Dpop::new(DpopVerifier::new(), &orders_url)),
            );
        let orders = serve_on(orders_listener, orders_app)?;

        // gateway (HTTP): the user-facing edge; calls orders on behalf of the user.
        let to_orders = exchange_source(&issuer, "svc-gateway", "api://orders", None)?;
        let http_client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let out: HttpOut = ServiceBuilder::new()
            .layer(AttachBearerLayer::new(to_orders))
            .service(http_client);
        let gateway_app = Router::new()
            .route("/api/stock/{sku}", get(gateway_stock))
            .with_state(out)
            .layer(axum::Extension(orders))
            .layer(
                RequireBearerLayer::new(validator(&issuer, "api://gateway")?)
                    .revocation(StoreCheck::new(store.clone())),
            );
        let gateway = serve_http(gateway_app).await?;

        Ok(Self {
            issuer,
            gateway,
            orders,
            inventory,
            store,
        })
    }

    /// The web app's configuration for this demo: its issuer, the gateway,
    /// served at `public_url`.
    pub fn web_app(&self, public_url: &str) -> example_web_app::Config {
        example_web_app::Config::new(self.issuer.issuer())
            .gateway(format!("http://{}", self.gateway))
            .public_url(public_url)
            .allow_http()
    }

    /// The revocation store in use.
    pub fn store(&self) -> Store {
        self.store.clone()
    }

    /// alice signs in to web-app: the authorization code flow with PKCE,
    /// driving the issuer's login page. Returns her access token.
    ///
    /// # Errors
    /// A message when a step of the flow fails.
    pub async fn alice_logs_in(&self) -> Result<(String, Vec<String>), String> {
        let mut lines = Vec::new();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        // RFC 7636 §4.1: a fresh verifier; only its challenge leaves.
        let pkce = warden::outbound::client::Pkce::generate().map_err(|e| e.to_string())?;
        let (verifier, challenge) = (pkce.verifier(), pkce.challenge());
        let redirect = "http://127.0.0.1:8080/callback";
        let query = [
            ("response_type", "code"),
            ("client_id", "web-app"),
            ("redirect_uri", redirect),
            ("scope", "orders:read orders:write"),
            ("state", "demo-state"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ];
        let page = send(http.get(self.issuer.authorize_url()).query(&query)).await?;
        lines.push(format!(
            "GET /authorize (web-app, PKCE S256) -> {} login page",
            page.status().as_u16()
        ));
        // The form's CSRF token and the cookie it is bound to, as a browser
        // would send them back.
        let headers = page.headers().clone();
        let html = page.text().await.map_err(|e| e.to_string())?;
        let signin = warden::issuer::SignInForm::read(&headers, &html)
            .ok_or("the login page has no CSRF token")?;
        let mut form: Vec<(&str, &str)> = query.to_vec();
        form.extend([
            ("username", "alice"),
            ("password", "alice-password"),
            ("decision", "allow"),
            ("csrf", signin.csrf.as_str()),
        ]);
        let res = send(
            http.post(self.issuer.authorize_url())
                .header("cookie", signin.cookie_header())
                .form(&form),
        )
        .await?;
        let location = res
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or("the login did not redirect")?
            .to_owned();
        let code = location
            .split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("code="))
            .ok_or("no code in the redirect")?
            .to_owned();
        lines.push(format!(
            "POST /authorize as alice -> {} redirect with a code",
            res.status().as_u16()
        ));
        let res = send(http.post(self.issuer.token_url()).form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("client_id", "web-app"),
            ("code_verifier", verifier),
        ]))
        .await?;
        let status = res.status().as_u16();
        let body: Value = res.json().await.map_err(|e| e.to_string())?;
        let token = body["access_token"]
            .as_str()
            .ok_or(format!("no token: {body}"))?
            .to_owned();
        lines.push(format!("POST /token (authorization_code + code_verifier) -> {status}, alice's token {} for api://gateway", fp(&token)));
        Ok((token, lines))
    }

    fn client_credentials(
        &self,
        client: &str,
        resource: &str,
        scope: Option<&str>,
        clock: Option<&ManualClock>,
    ) -> Result<ClientCredentials, String> {
        let mut b = ClientCredentials::builder()
            .issuer(self.issuer.issuer())
            .client_secret_basic(client, format!("{client}-secret"))
            .resource(resource)
            .cache(CacheConfig::default())
            .dangerous()
            .allow_http();
        if let Some(s) = scope {
            b = b.scope(s);
        }
        if let Some(c) = clock {
            b = b.clock(c.clone());
        }
        b.build().map_err(|e| e.to_string())
    }

    /// svc-batch's client credentials for api://orders with a DPoP key:
    /// its tokens are bound to the key.
    fn bound_batch(&self, key: &DpopKey) -> Result<ClientCredentials, String> {
        ClientCredentials::builder()
            .issuer(self.issuer.issuer())
            .client_secret_basic("svc-batch", "svc-batch-secret")
            .resource("api://orders")
            .scope("orders:read")
            .dpop(key.clone())
            .dangerous()
            .allow_http()
            .build()
            .map_err(|e| e.to_string())
    }
}

/// Prints the services and ready-to-paste commands, with fresh tokens.
///
/// # Errors
/// A message when a token cannot be had.
pub async fn print_serve_info(demo: &Demo) -> Result<(), String> {
    let (alice, _) = demo.alice_logs_in().await?;
    let batch = demo.client_credentials("svc-batch", "api://orders", None, None)?;
    let batch_token = batch
        .token(&TokenContext::default())
        .await
        .map_err(|e| e.to_string())?;
    // The web app, at the redirect URI the development configuration
    // registers: a person signs in as alice in their own browser.
    let web_app = format!("http://{WEB_APP_BIND}");
    let web = match tokio::net::TcpListener::bind(WEB_APP_BIND).await {
        Ok(listener) => {
            let config = demo.web_app(&web_app);
            tokio::spawn(async move {
                if let Err(e) = example_web_app::serve(listener, config).await {
                    eprintln!("microservices-demo: the web app stopped: {e}");
                }
            });
            web_app.clone()
        }
        Err(e) => format!("not started: {WEB_APP_BIND} is taken ({e})"),
    };
    let services: BTreeMap<&str, String> = [
        ("web app (browser)", web),
        ("issuer", demo.issuer.issuer().to_owned()),
        ("gateway", format!("http://{}", demo.gateway)),
        ("orders", format!("http://{}", demo.orders)),
        ("inventory (gRPC)", format!("http://{}", demo.inventory)),
    ]
    .into_iter()
    .collect();
    println!("\nservices:");
    for (k, v) in &services {
        println!("  {k:<17} {v}");
    }
    println!("\ntry:");
    println!("  open {web_app} in a browser and sign in as alice / alice-password");
    println!(
        "  curl -s -H 'Authorization: Bearer {alice}' http://{}/api/stock/apple",
        demo.gateway
    );
    println!(
        "  curl -s -H 'Authorization: Bearer {}' http://{}/orders",
        batch_token.secret(),
        demo.orders
    );
    println!(
        "  curl -s -u svc-batch:svc-batch-secret -d grant_type=client_credentials -d resource=api://orders {}",
        demo.issuer.token_url()
    );
    println!("\nCtrl-C stops everything.");
    Ok(())
}
