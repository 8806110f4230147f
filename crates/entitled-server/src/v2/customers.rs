//! `/v2/projects/{project_id}/customers`: customers, their aliases and attributes, and what
//! they are entitled to.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use entitled_core::customers::{attribute, customer_id};
use entitled_core::{ActiveEntitlement, Attribute, Customer, CustomerAlias, IdKind, Scope, new_id};
use entitled_storage::PageRequest;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::expand::Expand;
use crate::extract::{ApiJson, ApiQuery};
use crate::pagination::{ListBody, ListParams, MAX_LIMIT, page_request};
use crate::subscribers::{lock_customers, project_now, state_of};
use crate::v2::customer_history;

pub(crate) const CUSTOMERS: &str = "customer_information:customers";

/// An entitlement a customer has now (RevenueCat's `CustomerEntitlement`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActiveEntitlementView {
    /// Always `customer.active_entitlement`.
    pub object: &'static str,
    /// The entitlement.
    pub entitlement_id: String,
    /// When it ends, ms since epoch; null when it never does.
    pub expires_at: Option<i64>,
}

impl From<ActiveEntitlement> for ActiveEntitlementView {
    fn from(active: ActiveEntitlement) -> Self {
        Self {
            object: "customer.active_entitlement",
            entitlement_id: active.entitlement_id,
            expires_at: active.expires_at.map(|t| t.0),
        }
    }
}

/// A subscriber attribute (RevenueCat's `CustomerAttribute`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttributeView {
    /// Always `customer.attribute`.
    pub object: &'static str,
    /// The name.
    pub name: String,
    /// The value.
    pub value: Option<String>,
    /// When it was last set, ms since epoch.
    pub updated_at: i64,
}

impl From<Attribute> for AttributeView {
    fn from(attribute: Attribute) -> Self {
        Self {
            object: "customer.attribute",
            name: attribute.name,
            value: attribute.value,
            updated_at: attribute.updated_at.0,
        }
    }
}

/// An alias (RevenueCat's `CustomerAlias`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AliasView {
    /// Always `customer.alias`.
    pub object: &'static str,
    /// The alias.
    pub id: String,
    /// When it was linked, ms since epoch.
    pub created_at: i64,
}

impl From<CustomerAlias> for AliasView {
    fn from(alias: CustomerAlias) -> Self {
        Self {
            object: "customer.alias",
            id: alias.id,
            created_at: alias.created_at.0,
        }
    }
}

/// A customer as v2 shows it (RevenueCat's `Customer`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CustomerView {
    /// Always `customer`.
    pub object: &'static str,
    /// The original app user id.
    pub id: String,
    /// The project.
    pub project_id: String,
    /// First seen, ms since epoch.
    pub first_seen_at: i64,
    /// Last seen by an SDK, ms since epoch.
    pub last_seen_at: Option<i64>,
    /// App version last seen.
    pub last_seen_app_version: Option<String>,
    /// Country last seen.
    pub last_seen_country: Option<String>,
    /// Platform last seen.
    pub last_seen_platform: Option<String>,
    /// Platform version last seen.
    pub last_seen_platform_version: Option<String>,
    /// What the customer is entitled to now (on single-customer answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_entitlements: Option<ListBody<ActiveEntitlementView>>,
    /// Attributes, with `expand=attributes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<ListBody<AttributeView>>,
}

impl From<Customer> for CustomerView {
    fn from(customer: Customer) -> Self {
        Self {
            object: "customer",
            id: customer.id,
            project_id: customer.project_id,
            first_seen_at: customer.first_seen_at.0,
            last_seen_at: customer.last_seen_at.map(|t| t.0),
            last_seen_app_version: customer.last_seen_app_version,
            last_seen_country: customer.last_seen_country,
            last_seen_platform: customer.last_seen_platform,
            last_seen_platform_version: customer.last_seen_platform_version,
            active_entitlements: None,
            attributes: None,
        }
    }
}

/// One attribute in a request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributeInput {
    /// A reserved `$` name or a custom name.
    pub name: String,
    /// The value (up to 500 characters); null removes the attribute.
    #[schema(max_length = 500)]
    pub value: Option<String>,
}

/// The body of `POST …/customers`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomerBody {
    /// The app user id: 1 to 1500 letters, digits, `_` or `-`.
    pub id: String,
    /// Up to 50 initial attributes.
    pub attributes: Option<Vec<AttributeInput>>,
}

/// The body of `POST …/customers/{customer_id}/attributes`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAttributesBody {
    /// 1 to 50 attributes.
    pub attributes: Vec<AttributeInput>,
}

/// Query of `GET …/customers`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomerListParams {
    /// Only customers with this id, alias or `$email`.
    pub search: Option<String>,
    /// Return customers created after the one with this id.
    pub starting_after: Option<String>,
    /// Page size, 1 to 1000 (default 20).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// Query of the purchase-history lists.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// `sandbox` or `production`.
    pub environment: Option<String>,
    /// Return items after the one with this id.
    pub starting_after: Option<String>,
    /// Page size, 1 to 1000 (default 20).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

fn customers_url(project_id: &str) -> String {
    format!("/v2/projects/{project_id}/customers")
}

pub(crate) fn customer_url(project_id: &str, customer_id: &str) -> String {
    let encoded: String = form_urlencoded::byte_serialize(customer_id.as_bytes()).collect();
    format!("{}/{encoded}", customers_url(project_id))
}

/// The customer a path names (by id or alias), or 404.
pub(crate) async fn resolve(
    state: &AppState,
    project_id: &str,
    customer_id: &str,
) -> Result<Customer, ApiError> {
    state
        .storage
        .find_customer(project_id, customer_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Customer"))
}

/// Validates attribute inputs (at most 50, each by [`attribute`]); `param` is the body field
/// they came in.
pub fn validated_attributes(
    inputs: Vec<AttributeInput>,
    param: &str,
) -> Result<Vec<(String, Option<String>)>, ApiError> {
    if inputs.len() > 50 {
        return Err(ApiError::parameter(
            param,
            format!("{param} may hold at most 50 attributes"),
        ));
    }
    inputs
        .into_iter()
        .enumerate()
        .map(|(index, input)| {
            attribute(
                &input.name,
                input.value.as_deref(),
                &format!("{param}[{index}]"),
            )?;
            Ok((input.name, input.value))
        })
        .collect()
}

/// What the customer is entitled to now (store purchases and grants alike, by the engine),
/// by entitlement id, ordered by id.
pub(crate) async fn active_entitlements(
    state: &AppState,
    customer: &Customer,
) -> Result<Vec<ActiveEntitlement>, ApiError> {
    let now = project_now(state, &customer.project_id).await?;
    let computed = state_of(state, customer, now).await?;
    let catalog = state.storage.catalog_view(&customer.project_id).await?;
    let mut active: Vec<ActiveEntitlement> = catalog
        .lookup_keys
        .iter()
        .filter_map(|(entitlement_id, lookup_key)| {
            let entitlement = computed.entitlements.get(lookup_key)?;
            entitlement.is_active(now).then(|| ActiveEntitlement {
                entitlement_id: entitlement_id.clone(),
                expires_at: entitlement.expires_date,
            })
        })
        .collect();
    active.sort_by(|a, b| a.entitlement_id.cmp(&b.entitlement_id));
    Ok(active)
}

/// A customer with their active entitlements (and attributes when asked).
pub(crate) async fn render(
    state: &AppState,
    customer: Customer,
    with_attributes: bool,
) -> Result<CustomerView, ApiError> {
    let url = customer_url(&customer.project_id, &customer.id);
    let active = active_entitlements(state, &customer).await?;
    let attributes = if with_attributes {
        let all = PageRequest {
            starting_after: None,
            limit: MAX_LIMIT,
        };
        let page = state.storage.list_attributes(&customer.key, &all).await?;
        Some(ListBody::whole(
            page.items.into_iter().map(AttributeView::from).collect(),
            format!("{url}/attributes"),
        ))
    } else {
        None
    };
    let mut view = CustomerView::from(customer);
    view.active_entitlements = Some(ListBody::whole(
        active
            .into_iter()
            .map(ActiveEntitlementView::from)
            .collect(),
        format!("{url}/active_entitlements"),
    ));
    view.attributes = attributes;
    Ok(view)
}

/// Lists the project's customers, optionally only those matching `search`.
#[utoipa::path(get, path = "/v2/projects/{project_id}/customers", tag = "customers",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"), CustomerListParams),
    responses(
        (status = 200, description = "A page of customers", body = ListBody<CustomerView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list_customers(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<String>,
    ApiQuery(params): ApiQuery<CustomerListParams>,
) -> Result<Json<ListBody<CustomerView>>, ApiError> {
    caller.authorize(&project_id, Scope::read(CUSTOMERS))?;
    if params
        .search
        .as_ref()
        .is_some_and(|s| s.is_empty() || s.len() > 255)
    {
        return Err(ApiError::parameter(
            "search",
            "search must be 1 to 255 characters",
        ));
    }
    let request = page_request(params.starting_after.as_deref(), params.limit)?;
    let page = state
        .storage
        .list_customers(&project_id, params.search.as_deref(), &request)
        .await?;
    Ok(Json(ListBody::from_page(
        page,
        customers_url(&project_id),
        request.limit,
        |c| c.id.as_str(),
        CustomerView::from,
    )))
}

/// Creates a customer.
#[utoipa::path(post, path = "/v2/projects/{project_id}/customers", tag = "customers",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project")),
    request_body = CreateCustomerBody,
    responses(
        (status = 201, description = "The created customer", body = CustomerView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_customer(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<String>,
    ApiJson(body): ApiJson<CreateCustomerBody>,
) -> Result<(StatusCode, Json<CustomerView>), ApiError> {
    caller.authorize(&project_id, Scope::read_write(CUSTOMERS))?;
    let id = customer_id(&body.id, "id")?;
    let now = state.now();
    let attributes = validated_attributes(body.attributes.unwrap_or_default(), "attributes")?
        .into_iter()
        .filter_map(|(name, value)| {
            value.map(|value| Attribute {
                name,
                value: Some(value),
                updated_at: now,
            })
        })
        .collect::<Vec<_>>();
    let customer = Customer::first_seen(new_id(IdKind::CustomerKey), project_id, id, now);
    state
        .storage
        .create_customer(&customer, &attributes)
        .await?;
    let view = render(&state, customer, false).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// One customer, by id or alias, with their active entitlements.
#[utoipa::path(get, path = "/v2/projects/{project_id}/customers/{customer_id}", tag = "customers",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("customer_id" = String, Path, description = "The customer's id or an alias"),
        ("expand" = Option<Vec<String>>, Query, description = "`attributes`")),
    responses(
        (status = 200, description = "The customer", body = CustomerView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_customer(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, customer_id)): Path<(String, String)>,
    expand: Expand,
) -> Result<Json<CustomerView>, ApiError> {
    caller.authorize(&project_id, Scope::read(CUSTOMERS))?;
    let expand = expand.only(&["attributes"])?;
    let customer = resolve(&state, &project_id, &customer_id).await?;
    Ok(Json(
        render(&state, customer, expand.has("attributes")).await?,
    ))
}

/// Deletes a customer and everything stored about them (for privacy requests).
#[utoipa::path(delete, path = "/v2/projects/{project_id}/customers/{customer_id}", tag = "customers",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("customer_id" = String, Path, description = "The customer's id or an alias")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 423, description = "Another request is changing this customer", body = ErrorBody)))]
pub async fn delete_customer(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, customer_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.authorize(&project_id, Scope::read_write(CUSTOMERS))?;
    let customer = resolve(&state, &project_id, &customer_id).await?;
    let _lock = lock_customers(&state, &[&customer.key]).await?;
    if state.storage.delete_customer(&customer.key).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("Customer"))
    }
}

/// Lists a customer's aliases, the original id first.
#[utoipa::path(get, path = "/v2/projects/{project_id}/customers/{customer_id}/aliases", tag = "customers",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("customer_id" = String, Path, description = "The customer's id or an alias"), ListParams),
    responses(
        (status = 200, description = "A page of aliases", body = ListBody<AliasView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_aliases(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, customer_id)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<ListBody<AliasView>>, ApiError> {
    caller.authorize(&project_id, Scope::read(CUSTOMERS))?;
    let request = params.page_request()?;
    let customer = resolve(&state, &project_id, &customer_id).await?;
    let page = state.storage.list_aliases(&customer.key, &request).await?;
    Ok(Json(ListBody::from_page(
        page,
        format!("{}/aliases", customer_url(&project_id, &customer.id)),
        request.limit,
        |a| a.id.as_str(),
        AliasView::from,
    )))
}

/// Lists a customer's attributes.
#[utoipa::path(get, path = "/v2/projects/{project_id}/customers/{customer_id}/attributes", tag = "customers",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("customer_id" = String, Path, description = "The customer's id or an alias"), ListParams),
    responses(
        (status = 200, description = "A page of attributes", body = ListBody<AttributeView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_attributes(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, customer_id)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<ListBody<AttributeView>>, ApiError> {
    caller.authorize(&project_id, Scope::read(CUSTOMERS))?;
    let request = params.page_request()?;
    let customer = resolve(&state, &project_id, &customer_id).await?;
    let page = state
        .storage
        .list_attributes(&customer.key, &request)
        .await?;
    Ok(Json(ListBody::from_page(
        page,
        format!("{}/attributes", customer_url(&project_id, &customer.id)),
        request.limit,
        |a| a.name.as_str(),
        AttributeView::from,
    )))
}

/// Sets attributes (all or none); a null value removes one. Answers every attribute.
#[utoipa::path(post, path = "/v2/projects/{project_id}/customers/{customer_id}/attributes", tag = "customers",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("customer_id" = String, Path, description = "The customer's id or an alias")),
    request_body = SetAttributesBody,
    responses(
        (status = 200, description = "The customer's attributes", body = ListBody<AttributeView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 423, description = "Another request is changing this customer", body = ErrorBody)))]
pub async fn set_attributes(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, customer_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<SetAttributesBody>,
) -> Result<Json<ListBody<AttributeView>>, ApiError> {
    caller.authorize(&project_id, Scope::read_write(CUSTOMERS))?;
    if body.attributes.is_empty() {
        return Err(ApiError::parameter(
            "attributes",
            "attributes must hold 1 to 50 attributes",
        ));
    }
    let attributes = validated_attributes(body.attributes, "attributes")?;
    let customer = resolve(&state, &project_id, &customer_id).await?;
    let _lock = lock_customers(&state, &[&customer.key]).await?;
    state
        .storage
        .set_attributes(&customer.key, &attributes, state.now())
        .await?;
    let all = PageRequest {
        starting_after: None,
        limit: MAX_LIMIT,
    };
    let page = state.storage.list_attributes(&customer.key, &all).await?;
    Ok(Json(ListBody::from_page(
        page,
        format!("{}/attributes", customer_url(&project_id, &customer.id)),
        MAX_LIMIT,
        |a| a.name.as_str(),
        AttributeView::from,
    )))
}

/// What a customer is entitled to now.
#[utoipa::path(get, path = "/v2/projects/{project_id}/customers/{customer_id}/active_entitlements", tag = "customers",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("customer_id" = String, Path, description = "The customer's id or an alias"), ListParams),
    responses(
        (status = 200, description = "A page of active entitlements", body = ListBody<ActiveEntitlementView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_active_entitlements(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, customer_id)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<ListBody<ActiveEntitlementView>>, ApiError> {
    caller.authorize(&project_id, Scope::read(CUSTOMERS))?;
    let request = params.page_request()?;
    let customer = resolve(&state, &project_id, &customer_id).await?;
    let active = active_entitlements(&state, &customer).await?;
    let keyed = active
        .into_iter()
        .map(|a| (a.entitlement_id.clone(), ActiveEntitlementView::from(a)))
        .collect();
    let url = format!(
        "{}/active_entitlements",
        customer_url(&project_id, &customer.id)
    );
    Ok(Json(page_of(keyed, &request, url)?))
}

/// One page of a list computed in memory: items after `starting_after`, at most `limit`.
fn page_of<T: utoipa::ToSchema>(
    items: Vec<(String, T)>,
    request: &PageRequest,
    url: String,
) -> Result<ListBody<T>, ApiError> {
    let start = match &request.starting_after {
        None => 0,
        Some(after) => {
            items
                .iter()
                .position(|(id, _)| id == after)
                .ok_or_else(|| {
                    ApiError::parameter(
                        "starting_after",
                        "starting_after does not name an item of this list",
                    )
                })?
                + 1
        }
    };
    let window: Vec<(String, T)> = items.into_iter().skip(start).collect();
    let has_more = window.len() > request.limit as usize;
    let page: Vec<(String, T)> = window.into_iter().take(request.limit as usize).collect();
    let cursor = page.last().filter(|_| has_more).map(|(id, _)| id.clone());
    Ok(ListBody::paged(
        page.into_iter().map(|(_, item)| item).collect(),
        cursor,
        url,
        request.limit,
    ))
}

/// Checks the history lists' query and finds the customer.
async fn history_customer(
    state: &AppState,
    project_id: &str,
    customer_id: &str,
    params: &HistoryParams,
) -> Result<(Customer, PageRequest), ApiError> {
    if let Some(environment) = &params.environment
        && environment != "sandbox"
        && environment != "production"
    {
        return Err(ApiError::parameter(
            "environment",
            "environment must be sandbox or production",
        ));
    }
    let request = page_request(params.starting_after.as_deref(), params.limit)?;
    Ok((resolve(state, project_id, customer_id).await?, request))
}

/// A customer's subscriptions (store purchases), oldest first.
#[utoipa::path(get, path = "/v2/projects/{project_id}/customers/{customer_id}/subscriptions", tag = "customers",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("customer_id" = String, Path, description = "The customer's id or an alias"), HistoryParams),
    responses(
        (status = 200, description = "A page of subscriptions", body = ListBody<Object>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_subscriptions(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, customer_id)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<HistoryParams>,
) -> Result<Json<ListBody<serde_json::Value>>, ApiError> {
    caller.authorize(
        &project_id,
        Scope::read("customer_information:subscriptions"),
    )?;
    let (customer, request) = history_customer(&state, &project_id, &customer_id, &params).await?;
    let items =
        customer_history::subscriptions(&state, &customer, params.environment.as_deref()).await?;
    let url = format!("{}/subscriptions", customer_url(&project_id, &customer.id));
    Ok(Json(page_of(items, &request, url)?))
}

/// A customer's one-time purchases, oldest first.
#[utoipa::path(get, path = "/v2/projects/{project_id}/customers/{customer_id}/purchases", tag = "customers",
    security(("bearer" = [])),
    params(("project_id" = String, Path, description = "The project"),
        ("customer_id" = String, Path, description = "The customer's id or an alias"), HistoryParams),
    responses(
        (status = 200, description = "A page of purchases", body = ListBody<Object>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_purchases(
    State(state): State<AppState>,
    caller: Caller,
    Path((project_id, customer_id)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<HistoryParams>,
) -> Result<Json<ListBody<serde_json::Value>>, ApiError> {
    caller.authorize(&project_id, Scope::read("customer_information:purchases"))?;
    let (customer, request) = history_customer(&state, &project_id, &customer_id, &params).await?;
    let items =
        customer_history::purchases(&state, &customer, params.environment.as_deref()).await?;
    let url = format!("{}/purchases", customer_url(&project_id, &customer.id));
    Ok(Json(page_of(items, &request, url)?))
}
