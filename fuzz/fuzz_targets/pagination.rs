//! v2 list parameters: the query string (`starting_after`, `limit`) as the server parses it,
//! the `limit` bounds, and the `next_page` links whose cursor must come back unchanged.
#![no_main]

use arbitrary::Arbitrary;
use entitled_server::extract::parse_query;
use entitled_server::pagination::{DEFAULT_LIMIT, ListBody, ListParams, MAX_LIMIT, page_request};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    /// A query string as a client sends it.
    query: &'a str,
    /// A cursor: the id of the last item of a page (ids may be any text, e.g. app user ids).
    cursor: String,
    /// A page size.
    limit: u32,
}

fuzz_target!(|input: Input<'_>| {
    // Whatever the query, parsing it answers, and `limit` is enforced.
    if let Ok(params) = parse_query::<ListParams>(input.query) {
        let request = params.page_request();
        let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
        match request {
            Ok(request) => {
                assert!((1..=MAX_LIMIT).contains(&request.limit));
                assert_eq!(request.limit, limit);
                assert_eq!(request.starting_after, params.starting_after);
            }
            Err(err) => {
                assert!(!(1..=MAX_LIMIT).contains(&limit));
                assert_eq!(err.param.as_deref(), Some("limit"));
            }
        }
    }

    // A page's `next_page` link reads back to the same cursor and limit.
    let Ok(request) = page_request(Some(&input.cursor), Some(input.limit)) else {
        return;
    };
    let body = ListBody::<String>::paged(
        Vec::new(),
        request.starting_after.clone(),
        "/v2/projects/proj1/customers".to_string(),
        request.limit,
    );
    let next = body.next_page.expect("a cursor makes a next page");
    let (path, query) = next.split_once('?').expect("next_page has a query");
    assert_eq!(path, "/v2/projects/proj1/customers");
    let params: ListParams = match parse_query(query) {
        Ok(params) => params,
        Err(err) => panic!("next_page {next:?} does not parse: {err:?}"),
    };
    assert_eq!(
        params.starting_after.as_deref(),
        Some(input.cursor.as_str())
    );
    assert_eq!(params.limit, Some(input.limit));
});
