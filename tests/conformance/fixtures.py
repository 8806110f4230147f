"""Creates one object of each kind on a fresh entitled server, for the conformance run.

Usage: fixtures.py BASE_URL, with ENTITLED_PROJECT_ID, ENTITLED_SECRET_KEY,
ENTITLED_PUBLIC_KEY and ENTITLED_APP_ID set (from the first-start output). Prints
`NAME=value` lines (the ids schemathesis.toml gives to path parameters), for the shell to
source. Fails loudly when a call does not answer as the README says it does.
"""

import json
import os
import sys
import urllib.error
import urllib.request

BASE = sys.argv[1]
PROJECT = os.environ["ENTITLED_PROJECT_ID"]
SECRET = os.environ["ENTITLED_SECRET_KEY"]
PUBLIC = os.environ["ENTITLED_PUBLIC_KEY"]
APP = os.environ["ENTITLED_APP_ID"]

# The app user the v1 operations act on, and the v2 customer (another one, so that a v1
# DELETE of the first leaves the second alone).
APP_USER = "conformance-user"
CUSTOMER = "conformance-customer"
FETCH_TOKEN = "conformance-purchase-1"


def call(method, path, body=None, key=SECRET, expect=(200, 201, 202)):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode()
    if status not in expect:
        sys.exit(f"fixtures: {method} {path} answered {status}: {text}")
    return json.loads(text) if text else {}


v2 = f"/v2/projects/{PROJECT}"
product = call("POST", f"{v2}/products", {
    "store_identifier": "conformance_monthly", "app_id": APP, "type": "subscription",
    "display_name": "Conformance monthly", "subscription": {"duration": "P1M"},
})
entitlement = call("POST", f"{v2}/entitlements",
                   {"lookup_key": "conformance", "display_name": "Conformance"})
call("POST", f"{v2}/entitlements/{entitlement['id']}/actions/attach_products",
     {"product_ids": [product["id"]]})
offering = call("POST", f"{v2}/offerings",
                {"lookup_key": "conformance", "display_name": "Conformance"})
package = call("POST", f"{v2}/offerings/{offering['id']}/packages",
               {"lookup_key": "$rc_monthly", "display_name": "Monthly"})
call("POST", f"{v2}/packages/{package['id']}/actions/attach_products",
     {"products": [{"product_id": product["id"], "eligibility_criteria": "all"}]})
call("POST", f"{v2}/customers", {"id": CUSTOMER})
# A purchase through the test store, so that the customer has a transaction to act on.
call("POST", "/v1/receipts", {
    "app_user_id": CUSTOMER, "fetch_token": FETCH_TOKEN, "product_id": "conformance_monthly",
}, key=PUBLIC)
# A second secret key: the run may revoke this one, never the key it runs with.
api_key = call("POST", f"{v2}/api_keys", {"name": "conformance", "permissions": ["read"]})
# Deliveries go nowhere (a closed loopback port); the run never waits for them.
webhook = call("POST", f"{v2}/integrations/webhooks",
               {"name": "conformance", "url": "http://127.0.0.1:9/hook"})
job = call("POST", f"{v2}/customers/exports", {"format": "ndjson"})

# Objects for the deletes alone (the first delete of each answers 204, the others 404).
doomed_app = call("POST", f"{v2}/apps", {"name": "Doomed", "type": "test_store"})
doomed_product = call("POST", f"{v2}/products", {
    "store_identifier": "doomed", "app_id": APP, "type": "one_time", "display_name": "Doomed",
})
doomed_entitlement = call("POST", f"{v2}/entitlements",
                          {"lookup_key": "doomed", "display_name": "Doomed"})
doomed_offering = call("POST", f"{v2}/offerings", {"lookup_key": "doomed", "display_name": "Doomed"})
doomed_package = call("POST", f"{v2}/offerings/{offering['id']}/packages",
                      {"lookup_key": "$rc_annual", "display_name": "Doomed"})
call("POST", f"{v2}/customers", {"id": "doomed-customer"})
doomed_webhook = call("POST", f"{v2}/integrations/webhooks",
                      {"name": "doomed", "url": "http://127.0.0.1:9/doomed"})

for name, value in {
    "ENTITLED_APP_USER_ID": APP_USER,
    "ENTITLED_CUSTOMER_ID": CUSTOMER,
    "ENTITLED_PRODUCT_ID": product["id"],
    "ENTITLED_ENTITLEMENT_ID": entitlement["id"],
    "ENTITLED_ENTITLEMENT_LOOKUP_KEY": entitlement["lookup_key"],
    "ENTITLED_OFFERING_ID": offering["id"],
    "ENTITLED_PACKAGE_ID": package["id"],
    "ENTITLED_TRANSACTION_ID": FETCH_TOKEN,
    "ENTITLED_KEY_ID": api_key["id"],
    "ENTITLED_WEBHOOK_ID": webhook["id"],
    "ENTITLED_JOB_ID": job["id"],
    "ENTITLED_DOOMED_APP_ID": doomed_app["id"],
    "ENTITLED_DOOMED_PRODUCT_ID": doomed_product["id"],
    "ENTITLED_DOOMED_ENTITLEMENT_ID": doomed_entitlement["id"],
    "ENTITLED_DOOMED_OFFERING_ID": doomed_offering["id"],
    "ENTITLED_DOOMED_PACKAGE_ID": doomed_package["id"],
    "ENTITLED_DOOMED_CUSTOMER_ID": "doomed-customer",
    "ENTITLED_DOOMED_WEBHOOK_ID": doomed_webhook["id"],
}.items():
    print(f"{name}={value}")
