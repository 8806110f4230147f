//! The SQL of a project's [`OfferingTree`](crate::OfferingTree): three statements by project,
//! each one index range, with no list of ids to build (an `IN (json_each(…))` list costs
//! SQLite a temporary index on every read; bench/README.md, run 9).

/// A project's (`$1`) offerings, in creation order.
macro_rules! offerings_of_project_sql {
    () => {
        concat!(
            "SELECT ",
            $crate::shared::offering_columns!(),
            " FROM offerings WHERE project_id = $1 ORDER BY seq"
        )
    };
}
pub(crate) use offerings_of_project_sql;

/// A project's (`$1`) packages, in creation order.
macro_rules! packages_of_project_sql {
    () => {
        concat!(
            "SELECT ",
            $crate::shared::package_columns!(),
            " FROM packages WHERE project_id = $1 ORDER BY seq"
        )
    };
}
pub(crate) use packages_of_project_sql;

/// The products attached to a project's (`$1`) packages, with the package's id as
/// `owner_id`, in attachment order.
macro_rules! package_products_of_project_sql {
    () => {
        concat!(
            "SELECT package_products.package_id AS owner_id, ",
            $crate::shared::product_columns!(),
            ", package_products.eligibility_criteria FROM package_products \
             JOIN products ON products.id = package_products.product_id \
             WHERE products.project_id = $1 ORDER BY package_products.seq"
        )
    };
}
pub(crate) use package_products_of_project_sql;

/// A project's (`$project_id`) [`OfferingTree`](crate::OfferingTree), each statement run by
/// `$select!($view, sql, [binds], decode)` (the backend's `select_all!`, or the SQLite
/// reader's `select_on!` for a bare connection); `?` returns its errors.
macro_rules! read_offering_tree {
    ($select:ident, $view:expr, $project_id:expr) => {{
        use $crate::shared::offering_tree as sql;
        let project_id: &str = $project_id;
        $crate::OfferingTree {
            offerings: $select!(
                $view,
                sql::offerings_of_project_sql!(),
                [project_id],
                $crate::shared::offering_from_row
            )?,
            packages: $select!(
                $view,
                sql::packages_of_project_sql!(),
                [project_id],
                $crate::shared::package_from_row
            )?,
            products: $select!(
                $view,
                sql::package_products_of_project_sql!(),
                [project_id],
                $crate::shared::owned_package_product_from_row
            )?,
        }
    }};
}
pub(crate) use read_offering_tree;
