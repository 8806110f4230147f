// RevenueCat's web SDK, unchanged, pointed at entitled through its proxy URL.
// Started by crates/entitled/tests/it/sdk_js.rs with ENTITLED_URL, ENTITLED_PUBLIC_KEY,
// ENTITLED_SECRET_KEY and ENTITLED_PROJECT_ID set; run alone it needs them too.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Purchases } from "@revenuecat/purchases-js";

const base = process.env.ENTITLED_URL;
const publicKey = process.env.ENTITLED_PUBLIC_KEY;
const secretKey = process.env.ENTITLED_SECRET_KEY;

function configure(appUserId) {
  return Purchases.configure({
    apiKey: publicKey,
    appUserId,
    httpConfig: { proxyURL: base },
    flags: { collectAnalyticsEvents: false },
  });
}

async function postReceipt(appUserId, token, productId) {
  const response = await fetch(`${base}/v1/receipts`, {
    method: "POST",
    headers: { Authorization: `Bearer ${publicKey}`, "Content-Type": "application/json" },
    body: JSON.stringify({ app_user_id: appUserId, fetch_token: token, product_id: productId }),
  });
  assert.equal(response.status, 200, await response.text());
}

test("a new customer has no entitlements", async () => {
  const purchases = configure("js_user_new");
  const info = await purchases.getCustomerInfo();
  assert.equal(info.originalAppUserId, "js_user_new");
  assert.deepEqual(Object.keys(info.entitlements.active), []);
});

test("offerings come with the current offering, its packages and prices", async () => {
  const purchases = configure("js_user_offerings");
  const offerings = await purchases.getOfferings();
  assert.equal(offerings.current?.identifier, "default");
  const monthly = offerings.current.availablePackages.find((p) => p.identifier === "$rc_monthly");
  assert.ok(monthly, "the $rc_monthly package");
  assert.equal(monthly.webBillingProduct.identifier, "pro_monthly");
  assert.equal(monthly.webBillingProduct.price.amountMicros, 4990000);
  assert.equal(monthly.webBillingProduct.price.currency, "USD");
});

test("a test-store purchase shows as an active entitlement", async () => {
  await postReceipt("js_user_buyer", `js_token_${Date.now()}`, "pro_monthly");
  const purchases = configure("js_user_buyer");
  const info = await purchases.getCustomerInfo();
  const pro = info.entitlements.active.pro;
  assert.ok(pro, "pro is active");
  assert.equal(pro.productIdentifier, "pro_monthly");
  assert.equal(pro.isSandbox, true);
  assert.ok(pro.expirationDate > new Date());
});

test("logging in creates the new customer (wasCreated) and carries anonymous purchases", async () => {
  const anonymous = `$RCAnonymousID:${"a".repeat(20)}${Date.now().toString(16).padStart(12, "0")}`;
  await postReceipt(anonymous, `js_token_anon_${Date.now()}`, "pro_monthly");
  const purchases = configure(anonymous);
  const { customerInfo, wasCreated } = await purchases.identifyUser(`js_known_${Date.now()}`);
  assert.equal(wasCreated, true);
  assert.ok(customerInfo.entitlements.active.pro, "the purchase came along");
});

test("attributes are saved, and bad ones are rejected", async () => {
  const purchases = configure("js_user_attrs");
  await purchases.setAttributes({ $displayName: "Ada", favorite_color: "teal" });
  const response = await fetch(`${base}/v1/subscribers/js_user_attrs`, {
    headers: { Authorization: `Bearer ${secretKey}` },
  });
  const body = await response.json();
  assert.equal(body.subscriber.subscriber_attributes.$displayName.value, "Ada");
  await assert.rejects(purchases.setAttributes({ $madeUp: "x" }));
});

test("virtual currencies answer an empty balance list", async () => {
  const purchases = configure("js_user_vc");
  const currencies = await purchases.getVirtualCurrencies();
  assert.deepEqual(Object.keys(currencies.all), []);
});
