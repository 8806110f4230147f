//! Writes App Store receipts for `bench/load`: a fresh test root (`apple-root.der`, for the
//! server's `--apple-root-certs`) and, per wrk thread, one `POST /v1/receipts` body per line
//! holding a newly signed StoreKit 2 transaction of a seeded customer.
//!
//!   apple-sign DIR COUNT CUSTOMERS THREADS BUNDLE_ID PRODUCT_ID
//!
//! Thread t (1-based) gets customers t-1, t-1+THREADS, … (as `bench/wrk/receipts.lua` does),
//! so one customer never has two purchases in flight.

use std::io::Write;

use entitled_testkit::apple::{AppleSigner, transaction_payload};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, count, customers, threads, bundle, product] = args.as_slice() else {
        return Err("usage: apple-sign DIR COUNT CUSTOMERS THREADS BUNDLE_ID PRODUCT_ID".into());
    };
    let (count, customers, threads): (usize, usize, usize) =
        (count.parse()?, customers.parse()?, threads.parse()?);
    let (customers, threads) = (customers.max(1), threads.max(1));
    let signer = AppleSigner::new();
    std::fs::write(format!("{dir}/apple-root.der"), signer.root_der())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let run = now / 1000;
    for thread in 1..=threads {
        let path = format!("{dir}/apple-receipts.{thread}.jsonl");
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        for sent in 0..count / threads {
            let customer = ((thread - 1) + threads * sent) % customers;
            let id = format!("apple-{run}-{thread}-{sent}");
            let payload = transaction_payload(
                bundle,
                &id,
                &id,
                product,
                now - 60_000,
                Some(now + 30 * 86_400_000),
            );
            let body = serde_json::json!({
                "app_user_id": format!("bench-user-{customer}"),
                "fetch_token": signer.sign(&payload),
                "product_id": product,
                "is_restore": false,
            });
            writeln!(out, "{body}")?;
        }
        out.flush()?;
    }
    Ok(())
}
