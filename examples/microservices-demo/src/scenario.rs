//! The scenario the demo plays, one function per step, each narrated and
//! checked: client credentials (RFC 6749 §4.4), token exchange (RFC 8693
//! §2, <https://www.rfc-editor.org/rfc/rfc8693#section-2>), scopes (RFC 6750
//! §3.1), expiry and refresh ahead, revocation (RFC 7009) and key rotation.

use std::net::SocketAddr;
use std::time::Duration;

use example_grpc_inventory::pb::inventory_client::InventoryClient;
use example_grpc_inventory::pb::{GetItemRequest, ReserveItemRequest};
use serde_json::{Value, json};
use warden::inbound::BearerToken;
use warden::inbound::jwt::Algorithm;
use warden::outbound::client::ClientCredentials;
use warden::outbound::{AccessToken, TokenContext, TokenSource};
use warden::testing::ManualClock;

use crate::{Demo, Report, Step, exchange_source, fp};
use warden::inbound::jwt::dpop::DpopKey;

/// What step 1 leaves for the later ones.
struct Batch {
    clock: ManualClock,
    source: ClientCredentials,
    first: AccessToken,
}

/// Plays the scenario against running services, narrating each step.
///
/// # Errors
/// A message when the scenario cannot even be set up (a step that fails is
/// reported in the [`Report`], not as an error).
pub async fn scenario(demo: &Demo) -> Result<Report, String> {
    let mut n = Narrator {
        report: Report::default(),
        current: None,
    };
    n.step("1. svc-batch lists orders with a client-credentials token");
    let batch = own_token(demo, &mut n).await?;
    n.step(
        "2. alice signs in and asks the gateway; the call travels gateway -> orders -> inventory",
    );
    let alice = delegation_chain(demo, &mut n).await?;
    n.step("3. a token without the needed scope");
    missing_scope(demo, &mut n, &batch).await?;
    n.step(
        "4. an expired token is refused; the services' own tokens are refreshed ahead of expiry",
    );
    expiry(demo, &mut n, &batch).await?;
    n.step("5. alice's token is revoked at the issuer; every service refuses at once");
    revocation(demo, &mut n, &alice).await?;
    n.step("6. the issuer rotates its signing key");
    rotation(demo, &mut n, &batch).await?;
    n.step("7. svc-batch holds a DPoP-bound token: a stolen copy is useless, a proof cannot be replayed");
    stolen_token(demo, &mut n).await?;
    n.finish();
    Ok(n.report)
}

/// Step 1: a service's own token (client credentials). What later steps
/// reuse: the source, its clock and its first token.
async fn own_token(demo: &Demo, n: &mut Narrator) -> Result<Batch, String> {
    let orders = format!("http://{}", demo.orders);
    let clock = ManualClock::starting_now();
    let batch = demo.client_credentials("svc-batch", "api://orders", None, Some(&clock))?;
    let batch_token = batch
        .token(&TokenContext::default())
        .await
        .map_err(|e| e.to_string())?;
    n.say(&format!(
        "POST /token (client_credentials, resource=api://orders) -> token {}",
        fp(batch_token.secret())
    ));
    let (status, _, body) = http_get(&format!("{orders}/orders"), batch_token.secret()).await;
    n.check(
        status == 200,
        &format!("GET orders /orders -> {status} {body}"),
    );
    Ok(Batch {
        clock,
        source: batch,
        first: batch_token,
    })
}

/// Step 2: a user's call through three services by token exchange; alice's
/// token for later steps.
async fn delegation_chain(demo: &Demo, n: &mut Narrator) -> Result<String, String> {
    let gateway = format!("http://{}", demo.gateway);
    let (alice, lines) = demo.alice_logs_in().await?;
    for l in lines {
        n.say(&l);
    }
    let (status, _, body) = http_get(&format!("{gateway}/api/stock/apple"), &alice).await;
    let reply: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    n.say("gateway exchanges alice's token for api://orders (RFC 8693); orders exchanges that for api://inventory narrowed to inventory:read; inventory is called over gRPC");
    n.check(
        status == 200 && reply["caller"] == "alice",
        &format!(
            "GET gateway /api/stock/apple -> {status}, inventory's caller = {}",
            reply["caller"]
        ),
    );
    let chain = json!({"sub": "svc-orders", "act": {"sub": "svc-gateway"}});
    n.check(
        reply["act_seen_by_inventory"] == chain,
        &format!(
            "the token inventory saw carries act = {}",
            reply["act_seen_by_inventory"]
        ),
    );
    Ok(alice)
}

/// Step 3: scopes, over HTTP, in exchange and over gRPC.
async fn missing_scope(demo: &Demo, n: &mut Narrator, batch: &Batch) -> Result<(), String> {
    let orders = format!("http://{}", demo.orders);
    let batch_token = &batch.first;
    let (status, www, _) = {
        let res = reqwest::Client::new()
            .post(format!("{orders}/orders/reserve"))
            .bearer_auth(batch_token.secret())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        (
            res.status().as_u16(),
            res.headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            (),
        )
    };
    n.check(
        status == 403
            && www.as_deref().is_some_and(|w| {
                w.contains("insufficient_scope") && w.contains("scope=\"orders:write\"")
            }),
        &format!(
            "POST orders /orders/reserve with svc-batch's orders:read token -> {status} {}",
            www.unwrap_or_default()
        ),
    );
    // Delegation never exceeds consent: svc-batch was given orders:read, so
    // orders may not turn its token into inventory:write.
    let res = reqwest::Client::new()
        .post(demo.issuer.token_url())
        .basic_auth("svc-orders", Some("svc-orders-secret"))
        .form(&[
            ("grant_type", warden::outbound::urn::GRANT_TOKEN_EXCHANGE),
            ("subject_token", batch_token.secret()),
            (
                "subject_token_type",
                warden::outbound::urn::TOKEN_TYPE_ACCESS_TOKEN,
            ),
            ("resource", "api://inventory"),
            ("scope", "inventory:write"),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let body: Value = res.json().await.map_err(|e| e.to_string())?;
    n.check(
        status == 400 && body["error"] == "invalid_scope",
        &format!(
            "svc-orders exchanges svc-batch's orders:read token {} for inventory:write -> {status} {} ({})",
            fp(batch_token.secret()),
            body["error"].as_str().unwrap_or("-"),
            body["error_description"].as_str().unwrap_or("-"),
        ),
    );
    let reader = demo.client_credentials(
        "svc-orders",
        "api://inventory",
        Some("inventory:read"),
        None,
    )?;
    let reader_token = reader
        .token(&TokenContext::default())
        .await
        .map_err(|e| e.to_string())?;
    let mut inv = grpc_client(demo.inventory).await?;
    let res = inv
        .reserve_item(with_token(
            ReserveItemRequest {
                sku: "apple".into(),
                quantity: 1,
            },
            reader_token.secret(),
        ))
        .await;
    let code = res.as_ref().err().map(tonic::Status::code);
    n.check(
        code == Some(tonic::Code::PermissionDenied),
        &format!(
            "gRPC ReserveItem with an inventory:read token {} -> {code:?}",
            fp(reader_token.secret())
        ),
    );
    Ok(())
}

/// Step 4: expiry, inbound and outbound.
async fn expiry(demo: &Demo, n: &mut Narrator, batch: &Batch) -> Result<(), String> {
    let orders = format!("http://{}", demo.orders);
    let gateway = format!("http://{}", demo.gateway);
    let Batch {
        clock,
        source: batch,
        first: batch_token,
    } = batch;
    let mut claims = demo.issuer.claims("api://gateway");
    claims["exp"] = json!(warden::issuer::now_secs() - 120);
    let expired = demo.issuer.mint(&claims).map_err(|e| e.to_string())?;
    let (status, www, _) = http_get(&format!("{gateway}/api/stock/apple"), &expired).await;
    n.check(
        status == 401
            && www
                .as_deref()
                .is_some_and(|w| w.contains("invalid_token") && w.contains("expired")),
        &format!(
            "GET gateway with an expired token {} -> {status} {}",
            fp(&expired),
            www.unwrap_or_default()
        ),
    );
    clock.advance(Duration::from_secs(545));
    n.say("svc-batch's clock moves 545 s into its 600 s token: inside the 60 s refresh window");
    let mut failed = 0;
    for _ in 0..20 {
        let t = batch
            .token(&TokenContext::default())
            .await
            .map_err(|e| e.to_string())?;
        if http_get(&format!("{orders}/orders"), t.secret()).await.0 != 200 {
            failed += 1;
        }
    }
    for _ in 0..200 {
        if batch.stats().fetches >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let fresh = batch
        .token(&TokenContext::default())
        .await
        .map_err(|e| e.to_string())?;
    let st = batch.stats();
    n.check(
        failed == 0 && st.fetches == 2 && st.waited == 1 && fresh.secret() != batch_token.secret(),
        &format!(
            "20 calls during the refresh: {failed} failed; token requests {}, background refreshes {}, callers that waited {} (the cold start only); new token {}",
            st.fetches, st.refreshes, st.waited, fp(fresh.secret())
        ),
    );
    Ok(())
}

/// Step 5: one revocation reaches every hop of the chain.
async fn revocation(demo: &Demo, n: &mut Narrator, alice: &str) -> Result<(), String> {
    let orders = format!("http://{}", demo.orders);
    let gateway = format!("http://{}", demo.gateway);
    let to_orders = exchange_source(&demo.issuer, "svc-gateway", "api://orders", None)?;
    let orders_token = to_orders
        .token(&TokenContext::with_subject(BearerToken::new(alice)))
        .await
        .map_err(|e| e.to_string())?;
    let to_inventory = exchange_source(
        &demo.issuer,
        "svc-orders",
        "api://inventory",
        Some("inventory:read"),
    )?;
    let inventory_token = to_inventory
        .token(&TokenContext::with_subject(BearerToken::new(
            orders_token.secret(),
        )))
        .await
        .map_err(|e| e.to_string())?;
    n.say(&format!(
        "tokens made from alice's: for orders {}, for inventory {}",
        fp(orders_token.secret()),
        fp(inventory_token.secret())
    ));
    let started = std::time::Instant::now();
    let res = reqwest::Client::new()
        .post(demo.issuer.revocation_url())
        .form(&[("token", alice), ("client_id", "web-app")])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    n.say(&format!(
        "POST /revoke alice's token {} -> {}",
        fp(alice),
        res.status().as_u16()
    ));
    let mut outcome = (0, 0, None);
    for _ in 0..100 {
        let g = http_get(&format!("{gateway}/api/stock/apple"), alice)
            .await
            .0;
        let o = http_get(&format!("{orders}/orders"), orders_token.secret())
            .await
            .0;
        let i = grpc_client(demo.inventory)
            .await?
            .get_item(with_token(
                GetItemRequest {
                    sku: "apple".into(),
                },
                inventory_token.secret(),
            ))
            .await
            .err()
            .map(|s| s.code());
        outcome = (g, o, i);
        if g == 401 && o == 401 && i == Some(tonic::Code::Unauthenticated) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    n.check(
        outcome.0 == 401,
        &format!("gateway with alice's token -> {}", outcome.0),
    );
    n.check(
        outcome.1 == 401,
        &format!("orders with the token exchanged from it -> {}", outcome.1),
    );
    n.check(
        outcome.2 == Some(tonic::Code::Unauthenticated),
        &format!(
            "inventory (gRPC) with the token exchanged from that -> {:?}",
            outcome.2
        ),
    );
    n.say(&format!(
        "all refused {:?} after the revocation request, long before any expiry",
        started.elapsed()
    ));
    Ok(())
}

/// Step 6: key rotation without a failed request.
async fn rotation(demo: &Demo, n: &mut Narrator, batch: &Batch) -> Result<(), String> {
    let orders = format!("http://{}", demo.orders);
    let batch_token = &batch.first;
    let old_kid = kid_of(batch_token.secret());
    demo.issuer
        .rotate_after(Algorithm::RS256, "RS256-2", Duration::from_secs(2))
        .map_err(|e| e.to_string())?;
    n.say("new key RS256-2 published now, signing in 2 s: resource servers learn it first");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let newer = demo.client_credentials("svc-batch", "api://orders", None, None)?;
    let new_token = newer
        .token(&TokenContext::default())
        .await
        .map_err(|e| e.to_string())?;
    let new_kid = kid_of(new_token.secret());
    let (status, _, _) = http_get(&format!("{orders}/orders"), new_token.secret()).await;
    n.check(
        new_kid == "RS256-2" && status == 200,
        &format!("a new token signed by {new_kid} -> {status} at once"),
    );
    let (status, _, _) = http_get(&format!("{orders}/orders"), batch_token.secret()).await;
    n.check(
        status == 200,
        &format!(
            "the older token signed by {old_kid} -> {status}: it keeps working until it expires"
        ),
    );
    Ok(())
}

/// Step 7: a sender-constrained token (RFC 9449).
async fn stolen_token(demo: &Demo, n: &mut Narrator) -> Result<(), String> {
    let key = DpopKey::generate().map_err(|e| e.to_string())?;
    let token = demo
        .bound_batch(&key)?
        .token(&TokenContext::default())
        .await
        .map_err(|e| e.to_string())?;
    let token = token.secret().to_owned();
    n.say(&format!(
        "POST /token with a DPoP proof -> token {} bound to key {} (cnf.jkt)",
        fp(&token),
        &key.thumbprint()[..12]
    ));
    let url = format!("http://{}/orders", demo.orders);
    let call = |auth: String, proof: Option<String>| {
        let url = url.clone();
        async move {
            let mut req = reqwest::Client::new()
                .get(url)
                .header("authorization", auth);
            if let Some(p) = proof {
                req = req.header("dpop", p);
            }
            match req.send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let www: Vec<String> = r
                        .headers()
                        .get_all("www-authenticate")
                        .iter()
                        .filter_map(|v| v.to_str().ok().map(str::to_owned))
                        .collect();
                    (status, www.join(" | "))
                }
                Err(e) => (0, e.to_string()),
            }
        }
    };
    let proof = key
        .sign_proof("GET", &url, Some(&token))
        .map_err(|e| e.to_string())?;
    let (status, _) = call(format!("DPoP {token}"), Some(proof.clone())).await;
    n.check(
        status == 200,
        &format!("GET orders /orders with the key's proof -> {status}"),
    );
    let (status, www) = call(format!("Bearer {token}"), None).await;
    n.check(
        status == 401 && www.contains("bound to a DPoP key"),
        &format!("a stolen copy sent as Bearer -> {status} ({www})"),
    );
    let thief = DpopKey::generate().map_err(|e| e.to_string())?;
    let forged = thief
        .sign_proof("GET", &url, Some(&token))
        .map_err(|e| e.to_string())?;
    let (status, www) = call(format!("DPoP {token}"), Some(forged)).await;
    n.check(
        status == 401 && www.contains("invalid_dpop_proof"),
        &format!("a stolen copy with the thief's own key -> {status}"),
    );
    let (status, www) = call(format!("DPoP {token}"), Some(proof)).await;
    n.check(
        status == 401 && www.contains("used before"),
        &format!("the first proof replayed -> {status}"),
    );
    Ok(())
}

fn kid_of(token: &str) -> String {
    warden::inbound::jwt::peek::header(token)
        .ok()
        .and_then(|h| h["kid"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

struct Narrator {
    report: Report,
    current: Option<(String, bool)>,
}

impl Narrator {
    fn step(&mut self, name: &str) {
        self.finish();
        println!("\n== {name}");
        self.current = Some((name.to_owned(), true));
    }

    fn say(&self, line: &str) {
        println!("   {line}");
    }

    fn check(&mut self, ok: bool, line: &str) {
        println!("   {} {line}", if ok { "ok  " } else { "FAIL" });
        if !ok && let Some((_, passed)) = &mut self.current {
            *passed = false;
        }
    }

    fn finish(&mut self) {
        if let Some((name, passed)) = self.current.take() {
            self.report.steps.push(Step { name, passed });
        }
    }
}

async fn http_get(url: &str, token: &str) -> (u16, Option<String>, String) {
    let res = match reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => return (0, None, e.to_string()),
    };
    let status = res.status().as_u16();
    let www = res
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, www, res.text().await.unwrap_or_default())
}

async fn grpc_client(
    addr: SocketAddr,
) -> Result<InventoryClient<tonic::transport::Channel>, String> {
    InventoryClient::connect(format!("http://{addr}"))
        .await
        .map_err(|e| e.to_string())
}

fn with_token<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    if let Ok(v) = format!("Bearer {token}").parse() {
        r.metadata_mut().insert("authorization", v);
    }
    r
}
