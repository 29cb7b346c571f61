//! The demo's workers: the order services, failing and stalling at a seeded
//! rate, and the ledger they keep so the demo can check the money.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use raftflow_client::{Client, TaskError, Worker};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// What the payment service saw, per order. Like a real payment API it is
/// idempotent per order: a retried capture is recognised, not repeated.
#[derive(Default, Debug)]
pub struct Ledger {
    pub authorized: BTreeMap<String, u32>,
    pub captured: BTreeMap<String, u32>,
    pub refunded: BTreeMap<String, u32>,
    /// Calls that reached a service, retries included.
    pub calls: u64,
    pub injected_failures: u64,
    pub injected_stalls: u64,
}

pub struct Chaos {
    rng: Mutex<rand::rngs::StdRng>,
    pub failure_rate: f64,
    pub stall_rate: f64,
}

impl Chaos {
    pub fn new(seed: u64, enabled: bool) -> Self {
        let (failure_rate, stall_rate) = if enabled { (0.08, 0.01) } else { (0.0, 0.0) };
        Self {
            rng: Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)),
            failure_rate,
            stall_rate,
        }
    }

    fn roll(&self) -> f64 {
        self.rng.lock().expect("rng").gen()
    }
}

fn order_id(input: &str) -> String {
    serde_json::from_str::<Value>(input)
        .ok()
        .and_then(|v| v["orderId"].as_str().map(String::from))
        .unwrap_or_default()
}

/// A flaky service call: sometimes it fails with Service.Unavailable, and
/// sometimes it stalls past the state's TimeoutSeconds.
async fn flaky(chaos: &Chaos, ledger: &Mutex<Ledger>) -> Result<(), TaskError> {
    let roll = chaos.roll();
    ledger.lock().expect("ledger").calls += 1;
    if roll < chaos.stall_rate {
        ledger.lock().expect("ledger").injected_stalls += 1;
        tokio::time::sleep(Duration::from_secs(7)).await;
    } else if roll < chaos.stall_rate + chaos.failure_rate {
        ledger.lock().expect("ledger").injected_failures += 1;
        return Err(TaskError::new(
            "Service.Unavailable",
            "the service is overloaded",
        ));
    }
    Ok(())
}

pub fn order_workers(client: Arc<Client>, chaos: Arc<Chaos>, ledger: Arc<Mutex<Ledger>>) -> Worker {
    let w = Worker::new(client.clone(), "demo")
        .concurrency(32)
        .poll_timeout(Duration::from_secs(2));
    let (c, l) = (chaos.clone(), ledger.clone());
    let w = w.handle("validate-order", move |t| {
        let (c, l) = (c.clone(), l.clone());
        async move {
            flaky(&c, &l).await?;
            let input: Value = serde_json::from_str(&t.input).unwrap_or_default();
            if input["items"].as_array().is_none_or(|i| i.is_empty()) {
                return Err(TaskError::new("Order.Invalid", "the order has no items"));
            }
            Ok(json!({"ok": true}).to_string())
        }
    });
    let (c, l) = (chaos.clone(), ledger.clone());
    let w = w.handle("reserve-inventory", move |_| {
        let (c, l) = (c.clone(), l.clone());
        async move {
            flaky(&c, &l).await?;
            Ok(json!({"reserved": true}).to_string())
        }
    });
    let (c, l) = (chaos.clone(), ledger.clone());
    let w = w.handle("authorize-payment", move |t| {
        let (c, l) = (c.clone(), l.clone());
        async move {
            flaky(&c, &l).await?;
            let input: Value = serde_json::from_str(&t.input).unwrap_or_default();
            let id = order_id(&t.input);
            if input["card"].as_str() == Some("declined") {
                return Err(TaskError::new("Payment.Declined", "the card was declined"));
            }
            *l.lock().expect("ledger").authorized.entry(id).or_default() += 1;
            Ok(json!({"authorized": true, "fraudScore": input["fraudScore"].as_u64().unwrap_or(0)}).to_string())
        }
    });
    let reviewer = client.clone();
    let w = w.handle("manual-review", move |t| {
        let reviewer = reviewer.clone();
        async move {
            // Hand the callback token to a "reviewer" who answers a little later.
            let input: Value = serde_json::from_str(&t.input).unwrap_or_default();
            let token = input["token"].as_str().unwrap_or_default().to_string();
            let approve = input["fraudScore"].as_u64().unwrap_or(0) < 65;
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let _ = reviewer
                    .complete_task(&token, &json!({"approved": approve}).to_string())
                    .await;
            });
            // A callback task: returning does not complete it; the state
            // waits for the reviewer's report of the token.
            Ok(String::new())
        }
    });
    let (c, l) = (chaos.clone(), ledger.clone());
    let w = w.handle("ship-order", move |t| {
        let (c, l) = (c.clone(), l.clone());
        async move {
            flaky(&c, &l).await?;
            Ok(json!({"tracking": format!("TRK-{}", order_id(&t.input))}).to_string())
        }
    });
    let (c, l) = (chaos.clone(), ledger.clone());
    let w = w.handle("notify-customer", move |_| {
        let (c, l) = (c.clone(), l.clone());
        async move {
            flaky(&c, &l).await?;
            Ok("{}".to_string())
        }
    });
    let (c, l) = (chaos.clone(), ledger.clone());
    let w = w.handle("settle-payment", move |t| {
        let (c, l) = (c.clone(), l.clone());
        async move {
            flaky(&c, &l).await?;
            let mut ledger = l.lock().expect("ledger");
            let id = order_id(&t.input);
            // Idempotent per order, like a payment provider's capture.
            ledger.captured.entry(id).or_insert(1);
            Ok(json!({"captured": true}).to_string())
        }
    });
    let (c, l) = (chaos.clone(), ledger.clone());
    let w = w.handle("refund-payment", move |t| {
        let (c, l) = (c.clone(), l.clone());
        async move {
            flaky(&c, &l).await?;
            l.lock()
                .expect("ledger")
                .refunded
                .entry(order_id(&t.input))
                .or_insert(1);
            Ok(json!({"refunded": true}).to_string())
        }
    });
    let (c, l) = (chaos, ledger);
    w.handle("release-inventory", move |_| {
        let (c, l) = (c.clone(), l.clone());
        async move {
            flaky(&c, &l).await?;
            Ok("{}".to_string())
        }
    })
}
