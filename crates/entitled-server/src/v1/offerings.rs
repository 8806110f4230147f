//! `GET /v1/subscribers/{app_user_id}/offerings` and `GET /v1/product_entitlement_mapping`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use entitled_core::{Package, PackageProduct};
use entitled_storage::OfferingTree;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, V1ErrorBody};
use crate::subscribers::{check_app_user_id, find_or_create};

/// The project's offerings with, in each package, the product of the calling key's app.
#[utoipa::path(get, path = "/v1/subscribers/{app_user_id}/offerings", tag = "v1",
    security(("bearer" = [])),
    params(("app_user_id" = String, Path, description = "The app user id")),
    responses(
        (status = 200, description = "Offerings", body = Object),
        (status = 400, body = V1ErrorBody), (status = 401, body = V1ErrorBody)))]
pub async fn get_offerings(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_user_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_app_user_id(&app_user_id, "app_user_id")?;
    let project_id = caller.project_id();
    let (customer, _) = find_or_create(&state, project_id, &app_user_id, state.now()).await?;
    let tree = state.storage.offering_tree(project_id).await?;
    Ok(Json(render(
        &tree,
        caller.key.app_id.as_deref(),
        customer.offering_id.as_deref(),
    )))
}

/// The offerings answer: every offering with the packages that have a product for `app_id`
/// (the first product of each when the key belongs to no app), and the current offering:
/// the customer's `assigned` one if any, else the project's.
fn render(tree: &OfferingTree, app_id: Option<&str>, assigned: Option<&str>) -> Value {
    let mut packages: Vec<&Package> = tree.packages.iter().collect();
    packages.sort_by_key(|p| (p.position.unwrap_or(i64::MAX), p.created_at));
    let mut products: BTreeMap<&str, Vec<&PackageProduct>> = BTreeMap::new();
    for (package_id, attached) in &tree.products {
        products.entry(package_id).or_default().push(attached);
    }
    let rendered: Vec<Value> = tree
        .offerings
        .iter()
        .map(|offering| {
            let offering_packages: Vec<Value> = packages
                .iter()
                .filter(|p| p.offering_id == offering.id)
                .filter_map(|package| {
                    let attached = products.get(package.id.as_str())?;
                    let product = match app_id {
                        Some(app_id) => attached.iter().find(|a| a.product.app_id == app_id),
                        None => attached.first(),
                    }?;
                    Some(json!({
                        "identifier": package.lookup_key,
                        "platform_product_identifier": product.product.store_identifier,
                    }))
                })
                .collect();
            json!({
                "identifier": offering.lookup_key,
                "description": offering.display_name,
                "metadata": offering.metadata,
                "packages": offering_packages,
            })
        })
        .collect();
    let current = assigned
        .and_then(|id| tree.offerings.iter().find(|o| o.id == id))
        .or_else(|| tree.offerings.iter().find(|o| o.is_current))
        .map(|o| o.lookup_key.clone());
    json!({
        "current_offering_id": current,
        "offerings": rendered,
    })
}

/// Which store products unlock which entitlements.
#[utoipa::path(get, path = "/v1/product_entitlement_mapping", tag = "v1",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Product → entitlements", body = Object),
        (status = 401, body = V1ErrorBody)))]
pub async fn product_entitlement_mapping(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let catalog = state.storage.catalog_view(caller.project_id()).await?;
    let mapping: BTreeMap<String, Value> = catalog
        .entitlements_by_product
        .into_iter()
        .map(|(product, entitlements)| {
            let entry = json!({"product_identifier": product, "entitlements": entitlements});
            (product, entry)
        })
        .collect();
    Ok(Json(json!({"product_entitlement_mapping": mapping})))
}

/// The body iOS posts to ask about introductory offers.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct IntroEligibilityBody {
    /// The products to ask about.
    pub product_identifiers: Vec<String>,
}

/// Whether the customer may still get each product's introductory offer: `true` unless
/// they bought it (or anything of its subscription) before.
#[utoipa::path(post, path = "/v1/subscribers/{app_user_id}/intro_eligibility", tag = "v1",
    security(("bearer" = [])),
    params(("app_user_id" = String, Path, description = "The app user id")),
    request_body = IntroEligibilityBody,
    responses(
        (status = 200, description = "Product id → eligible", body = Object),
        (status = 400, body = V1ErrorBody), (status = 401, body = V1ErrorBody)))]
pub async fn intro_eligibility(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_user_id): Path<String>,
    crate::extract::ApiJson(body): crate::extract::ApiJson<IntroEligibilityBody>,
) -> Result<Json<Value>, ApiError> {
    check_app_user_id(&app_user_id, "app_user_id")?;
    if body.product_identifiers.len() > 1000 {
        return Err(ApiError::parameter(
            "product_identifiers",
            "at most 1000 products",
        ));
    }
    let bought: std::collections::BTreeSet<String> = match state
        .storage
        .find_customer(caller.project_id(), &app_user_id)
        .await?
    {
        Some(customer) => state
            .storage
            .transactions_of(&customer.key)
            .await?
            .into_iter()
            .map(|t| t.product_id)
            .collect(),
        None => Default::default(),
    };
    let answer: serde_json::Map<String, Value> = body
        .product_identifiers
        .into_iter()
        .map(|id| {
            let eligible = !bought.contains(&id);
            (id, Value::Bool(eligible))
        })
        .collect();
    Ok(Json(Value::Object(answer)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use entitled_core::{Offering, Product, ProductType, UnixMillis};

    fn offering(id: &str, is_current: bool) -> Offering {
        Offering {
            id: id.to_string(),
            project_id: "proj".to_string(),
            lookup_key: format!("{id}_key"),
            display_name: id.to_uppercase(),
            is_current,
            metadata: None,
            created_at: UnixMillis(1),
        }
    }

    fn package(id: &str, offering_id: &str, position: Option<i64>, created: i64) -> Package {
        Package {
            id: id.to_string(),
            project_id: "proj".to_string(),
            offering_id: offering_id.to_string(),
            lookup_key: format!("${id}"),
            display_name: id.to_string(),
            position,
            created_at: UnixMillis(created),
        }
    }

    fn attached(
        package_id: &str,
        app_id: &str,
        store_identifier: &str,
    ) -> (String, PackageProduct) {
        let product = Product {
            id: format!("prod_{store_identifier}"),
            project_id: "proj".to_string(),
            app_id: app_id.to_string(),
            store_identifier: store_identifier.to_string(),
            product_type: ProductType::Subscription,
            display_name: None,
            subscription_duration: Some("P1M".to_string()),
            test_store_price: None,
            created_at: UnixMillis(1),
        };
        let attached = PackageProduct {
            product,
            eligibility_criteria: "all".to_string(),
        };
        (package_id.to_string(), attached)
    }

    /// Two offerings; the first has three packages (one without an iOS product), the
    /// second one package.
    fn tree() -> OfferingTree {
        OfferingTree {
            offerings: vec![offering("main", true), offering("sale", false)],
            packages: vec![
                package("late", "main", None, 1),
                package("second", "main", Some(2), 3),
                package("first", "main", Some(1), 4),
                package("sale_only", "sale", None, 5),
            ],
            products: vec![
                attached("late", "ios", "late.ios"),
                attached("late", "android", "late.android"),
                attached("second", "android", "second.android"),
                attached("first", "ios", "first.ios"),
                attached("sale_only", "ios", "sale.ios"),
            ],
        }
    }

    /// (package identifier, product) per offering, in the answer's order.
    fn shown(answer: &Value) -> Vec<(String, Vec<(String, String)>)> {
        answer["offerings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                let packages = o["packages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        let text = |k: &str| p[k].as_str().unwrap().to_string();
                        (text("identifier"), text("platform_product_identifier"))
                    })
                    .collect();
                (o["identifier"].as_str().unwrap().to_string(), packages)
            })
            .collect()
    }

    fn pair(a: &str, b: &str) -> (String, String) {
        (a.to_string(), b.to_string())
    }

    #[test]
    fn packages_follow_their_positions_and_show_the_calling_apps_product() {
        let tree = tree();
        let ios = render(&tree, Some("ios"), None);
        assert_eq!(ios["current_offering_id"], "main_key");
        assert_eq!(
            shown(&ios),
            vec![
                (
                    "main_key".to_string(),
                    vec![pair("$first", "first.ios"), pair("$late", "late.ios")]
                ),
                ("sale_key".to_string(), vec![pair("$sale_only", "sale.ios")]),
            ]
        );
        let android = render(&tree, Some("android"), None);
        assert_eq!(
            shown(&android)[0].1,
            vec![
                pair("$second", "second.android"),
                pair("$late", "late.android")
            ]
        );
        assert!(shown(&android)[1].1.is_empty());
        // A key of no app: each package's first product.
        let any = render(&tree, None, None);
        assert_eq!(shown(&any)[0].1.len(), 3);
        assert_eq!(shown(&any)[0].1[2], pair("$late", "late.ios"));
    }

    #[test]
    fn the_customers_assigned_offering_is_current_unless_it_is_gone() {
        let tree = tree();
        assert_eq!(
            render(&tree, Some("ios"), Some("sale"))["current_offering_id"],
            "sale_key"
        );
        assert_eq!(
            render(&tree, Some("ios"), Some("deleted"))["current_offering_id"],
            "main_key"
        );
        let none_current = OfferingTree {
            offerings: vec![offering("main", false)],
            ..OfferingTree::default()
        };
        assert_eq!(
            render(&none_current, None, None)["current_offering_id"],
            Value::Null
        );
    }
}
