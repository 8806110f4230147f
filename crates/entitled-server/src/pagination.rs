//! v2 list parameters (`limit`, `starting_after`) and the list envelope.

use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use entitled_storage::{Page, PageRequest};

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest page size.
pub const MAX_LIMIT: u32 = 1000;

/// Query parameters of a v2 list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Return items created after the one with this id.
    pub starting_after: Option<String>,
    /// Page size, 1 to 1000 (default 20).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

impl ListParams {
    /// The storage request, after checking `limit`.
    pub fn page_request(&self) -> Result<PageRequest, ApiError> {
        page_request(self.starting_after.as_deref(), self.limit)
    }
}

/// A storage page request from `starting_after` and `limit`, after checking `limit`.
pub fn page_request(
    starting_after: Option<&str>,
    limit: Option<u32>,
) -> Result<PageRequest, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::parameter(
            "limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    Ok(PageRequest {
        starting_after: starting_after.map(str::to_owned),
        limit,
    })
}

/// The v2 list envelope.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListBody<T: utoipa::ToSchema> {
    /// Always `list`.
    pub object: &'static str,
    /// The items of this page.
    pub items: Vec<T>,
    /// The path of the next page, or null on the last one.
    pub next_page: Option<String>,
    /// The path of this list.
    pub url: String,
}

impl<T: utoipa::ToSchema> ListBody<T> {
    /// A complete list that fits in one answer (embedded lists of `expand`).
    pub fn whole(items: Vec<T>, url: String) -> Self {
        Self {
            object: "list",
            items,
            next_page: None,
            url,
        }
    }

    /// Wraps a storage page; `id_of` gives each item's cursor.
    pub fn from_page<S>(
        page: Page<S>,
        url: String,
        limit: u32,
        id_of: impl Fn(&S) -> &str,
        view: impl Fn(S) -> T,
    ) -> Self {
        let cursor = next_cursor(&page, id_of);
        Self::paged(
            page.items.into_iter().map(view).collect(),
            cursor,
            url,
            limit,
        )
    }

    /// A page of already-rendered items; `cursor` is the id to continue after, if more follow.
    pub fn paged(items: Vec<T>, cursor: Option<String>, url: String, limit: u32) -> Self {
        let next_page = cursor.map(|after| {
            let after: String = form_urlencoded::byte_serialize(after.as_bytes()).collect();
            format!("{url}?starting_after={after}&limit={limit}")
        });
        Self {
            object: "list",
            items,
            next_page,
            url,
        }
    }
}

/// The id to continue after when more items follow this page.
pub fn next_cursor<S>(page: &Page<S>, id_of: impl Fn(&S) -> &str) -> Option<String> {
    page.items
        .last()
        .filter(|_| page.has_more)
        .map(|last| id_of(last).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_is_bounded() {
        let params = |limit| ListParams {
            starting_after: None,
            limit,
        };
        assert_eq!(params(None).page_request().unwrap().limit, 20);
        assert_eq!(params(Some(1000)).page_request().unwrap().limit, 1000);
        assert_eq!(
            params(Some(0)).page_request().unwrap_err().param.as_deref(),
            Some("limit")
        );
        assert!(params(Some(1001)).page_request().is_err());
    }

    #[test]
    fn next_page_only_when_more_follow() {
        let page = Page {
            items: vec!["a".to_string(), "b".to_string()],
            has_more: true,
        };
        let body = ListBody::from_page(page, "/v2/x".into(), 2, |s| s.as_str(), |s| s);
        assert_eq!(
            body.next_page.as_deref(),
            Some("/v2/x?starting_after=b&limit=2")
        );
        let last = Page {
            items: vec!["c".to_string()],
            has_more: false,
        };
        let body = ListBody::from_page(last, "/v2/x".into(), 2, |s| s.as_str(), |s| s);
        assert_eq!(body.next_page, None);
    }
}
