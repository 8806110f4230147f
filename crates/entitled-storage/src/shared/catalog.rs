//! Products, entitlements, offerings and packages, for both backends.
//!
//! Each backend's module defines `ids_in_param2!()`: SQL for "the ids in the JSON array bound
//! as `$2`", the one place the dialects differ here.

/// Expands [`CatalogStore`](crate::CatalogStore) for a backend.
macro_rules! impl_catalog_store {
    ($storage:ty) => {
        #[async_trait::async_trait]
        impl $crate::CatalogStore for $storage {
            async fn create_product(
                &self,
                product: &entitled_core::Product,
                audit: &entitled_core::AuditEntry,
            ) -> Result<(), $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                require(&mut tx, "SELECT 1 AS found FROM apps WHERE project_id = $1 AND id = $2",
                    &product.project_id, &product.app_id, "app").await?;
                sqlx::query(
                    "INSERT INTO products (id, project_id, app_id, store_identifier, product_type, \
                     display_name, subscription_duration, test_store_price_micros, test_store_currency, \
                     created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&product.id)
                .bind(&product.project_id)
                .bind(&product.app_id)
                .bind(&product.store_identifier)
                .bind(product.product_type.as_str())
                .bind(&product.display_name)
                .bind(&product.subscription_duration)
                .bind(product.test_store_price.as_ref().map(|p| p.amount_micros))
                .bind(product.test_store_price.as_ref().map(|p| p.currency.clone()))
                .bind(product.created_at.0)
                .execute(&mut *tx)
                .await?;
                insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn get_product(
                &self,
                project_id: &str,
                id: &str,
            ) -> Result<Option<entitled_core::Product>, $crate::StorageError> {
                let sql = concat!("SELECT ", $crate::shared::product_columns!(),
                    " FROM products WHERE project_id = $1 AND id = $2");
                let found = select_all!(self, sql, [project_id, id], $crate::shared::product_from_row)?;
                Ok(found.into_iter().next())
            }

            async fn product_by_identifier(
                &self,
                project_id: &str,
                app_id: &str,
                store_identifier: &str,
            ) -> Result<Option<entitled_core::Product>, $crate::StorageError> {
                let sql = concat!("SELECT ", $crate::shared::product_columns!(),
                    " FROM products WHERE project_id = $1 AND app_id = $2 AND store_identifier = $3");
                let found = select_all!(self, sql, [project_id, app_id, store_identifier], $crate::shared::product_from_row)?;
                Ok(found.into_iter().next())
            }

            async fn list_products(
                &self,
                project_id: &str,
                app_id: Option<&str>,
                page: &$crate::PageRequest,
            ) -> Result<$crate::Page<entitled_core::Product>, $crate::StorageError> {
                $crate::shared::page_of!(self, $crate::shared::Listing::Products, project_id, app_id, page, $crate::shared::product_from_row)
            }

            async fn delete_product(
                &self,
                project_id: &str,
                id: &str,
                force: bool,
                audit: &entitled_core::AuditEntry,
            ) -> Result<(), $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                require(&mut tx, "SELECT 1 AS found FROM products WHERE project_id = $1 AND id = $2",
                    project_id, id, "product").await?;
                let users = sqlx::query(
                    "SELECT 'entitlement ' || entitlements.lookup_key AS used_by \
                     FROM entitlement_products \
                     JOIN entitlements ON entitlements.id = entitlement_products.entitlement_id \
                     WHERE entitlement_products.product_id = $1 \
                     UNION ALL \
                     SELECT 'package ' || offerings.lookup_key || '/' || packages.lookup_key AS used_by \
                     FROM package_products \
                     JOIN packages ON packages.id = package_products.package_id \
                     JOIN offerings ON offerings.id = packages.offering_id \
                     WHERE package_products.product_id = $1",
                )
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
                if !users.is_empty() && !force {
                    let names = users
                        .iter()
                        .map(|row| $crate::shared::RowExt::text(row, "used_by"))
                        .collect::<Result<Vec<_>, _>>()?;
                    return Err($crate::StorageError::InUse(format!(
                        "the product is used by {}; detach it first or delete with force=true",
                        names.join(", ")
                    )));
                }
                let sql = "DELETE FROM products WHERE project_id = $1 AND id = $2";
                delete_audited(tx, sql, project_id, id, audit).await?;
                Ok(())
            }

            async fn create_entitlement(
                &self,
                entitlement: &entitled_core::Entitlement,
                audit: &entitled_core::AuditEntry,
            ) -> Result<(), $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO entitlements (id, project_id, lookup_key, display_name, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&entitlement.id)
                .bind(&entitlement.project_id)
                .bind(&entitlement.lookup_key)
                .bind(&entitlement.display_name)
                .bind(entitlement.created_at.0)
                .execute(&mut *tx)
                .await?;
                insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn get_entitlement(
                &self,
                project_id: &str,
                id: &str,
            ) -> Result<Option<entitled_core::Entitlement>, $crate::StorageError> {
                let sql = concat!("SELECT ", $crate::shared::entitlement_columns!(),
                    " FROM entitlements WHERE project_id = $1 AND id = $2");
                let found = select_all!(self, sql, [project_id, id], $crate::shared::entitlement_from_row)?;
                Ok(found.into_iter().next())
            }

            async fn list_entitlements(
                &self,
                project_id: &str,
                page: &$crate::PageRequest,
            ) -> Result<$crate::Page<entitled_core::Entitlement>, $crate::StorageError> {
                $crate::shared::page_of!(self, $crate::shared::Listing::Entitlements, project_id, None::<&str>, page, $crate::shared::entitlement_from_row)
            }

            async fn update_entitlement(
                &self,
                project_id: &str,
                id: &str,
                display_name: &str,
                audit: &entitled_core::AuditEntry,
            ) -> Result<entitled_core::Entitlement, $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                let sql = concat!("UPDATE entitlements SET display_name = $3 \
                    WHERE project_id = $1 AND id = $2 RETURNING ", $crate::shared::entitlement_columns!());
                let row = sqlx::query(sql)
                    .bind(project_id)
                    .bind(id)
                    .bind(display_name)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or($crate::StorageError::NotFound("entitlement"))?;
                let entitlement = $crate::shared::entitlement_from_row(&row)?;
                insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(entitlement)
            }

            async fn delete_entitlement(
                &self,
                project_id: &str,
                id: &str,
                force: bool,
                audit: &entitled_core::AuditEntry,
            ) -> Result<(), $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                require(&mut tx, "SELECT 1 AS found FROM entitlements WHERE project_id = $1 AND id = $2",
                    project_id, id, "entitlement").await?;
                let attached = sqlx::query(
                    "SELECT products.store_identifier AS used_by FROM entitlement_products \
                     JOIN products ON products.id = entitlement_products.product_id \
                     WHERE entitlement_products.entitlement_id = $1 ORDER BY entitlement_products.seq",
                )
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
                if !attached.is_empty() && !force {
                    let names = attached
                        .iter()
                        .map(|row| $crate::shared::RowExt::text(row, "used_by"))
                        .collect::<Result<Vec<_>, _>>()?;
                    return Err($crate::StorageError::InUse(format!(
                        "the entitlement is unlocked by products {}; detach them first or delete with force=true",
                        names.join(", ")
                    )));
                }
                let sql = "DELETE FROM entitlements WHERE project_id = $1 AND id = $2";
                delete_audited(tx, sql, project_id, id, audit).await?;
                Ok(())
            }

            async fn attach_entitlement_products(
                &self,
                project_id: &str,
                entitlement_id: &str,
                product_ids: &[String],
                now: entitled_core::UnixMillis,
                audit: &entitled_core::AuditEntry,
            ) -> Result<(), $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                require(&mut tx, "SELECT 1 AS found FROM entitlements WHERE project_id = $1 AND id = $2",
                    project_id, entitlement_id, "entitlement").await?;
                for product_id in product_ids {
                    require(&mut tx, "SELECT 1 AS found FROM products WHERE project_id = $1 AND id = $2",
                        project_id, product_id, "product").await?;
                    sqlx::query(
                        "INSERT INTO entitlement_products (entitlement_id, product_id, created_at) \
                         VALUES ($1, $2, $3) ON CONFLICT (entitlement_id, product_id) DO NOTHING",
                    )
                    .bind(entitlement_id)
                    .bind(product_id)
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await?;
                }
                insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn detach_entitlement_products(
                &self,
                project_id: &str,
                entitlement_id: &str,
                product_ids: &[String],
                audit: &entitled_core::AuditEntry,
            ) -> Result<(), $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                require(&mut tx, "SELECT 1 AS found FROM entitlements WHERE project_id = $1 AND id = $2",
                    project_id, entitlement_id, "entitlement").await?;
                for product_id in product_ids {
                    sqlx::query("DELETE FROM entitlement_products WHERE entitlement_id = $1 AND product_id = $2")
                        .bind(entitlement_id)
                        .bind(product_id)
                        .execute(&mut *tx)
                        .await?;
                }
                insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_entitlement_products(
                &self,
                project_id: &str,
                entitlement_id: &str,
                page: &$crate::PageRequest,
            ) -> Result<$crate::Page<entitled_core::Product>, $crate::StorageError> {
                if self.get_entitlement(project_id, entitlement_id).await?.is_none() {
                    return Err($crate::StorageError::NotFound("entitlement"));
                }
                $crate::shared::page_of!(self, $crate::shared::Listing::ProductsOfEntitlement, entitlement_id, None::<&str>, page, $crate::shared::product_from_row)
            }

            async fn products_of_entitlements(
                &self,
                project_id: &str,
                entitlement_ids: &[String],
            ) -> Result<Vec<(String, entitled_core::Product)>, $crate::StorageError> {
                let sql = concat!("SELECT entitlement_products.entitlement_id AS owner_id, ",
                    $crate::shared::product_columns!(),
                    " FROM entitlement_products JOIN products ON products.id = entitlement_products.product_id \
                     WHERE products.project_id = $1 AND entitlement_products.entitlement_id IN ",
                    ids_in_param2!(), " ORDER BY entitlement_products.seq");
                let ids = $crate::shared::json_ids(entitlement_ids);
                select_all!(self, sql, [project_id, ids.as_str()], $crate::shared::owned_product_from_row)
            }

            async fn create_offering(
                &self,
                offering: &entitled_core::Offering,
                audit: &entitled_core::AuditEntry,
            ) -> Result<(), $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO offerings (id, project_id, lookup_key, display_name, is_current, metadata, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&offering.id)
                .bind(&offering.project_id)
                .bind(&offering.lookup_key)
                .bind(&offering.display_name)
                .bind(offering.is_current)
                .bind(offering.metadata.as_ref().map(|m| m.to_string()))
                .bind(offering.created_at.0)
                .execute(&mut *tx)
                .await?;
                insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn get_offering(
                &self,
                project_id: &str,
                id: &str,
            ) -> Result<Option<entitled_core::Offering>, $crate::StorageError> {
                let sql = concat!("SELECT ", $crate::shared::offering_columns!(),
                    " FROM offerings WHERE project_id = $1 AND id = $2");
                let found = select_all!(self, sql, [project_id, id], $crate::shared::offering_from_row)?;
                Ok(found.into_iter().next())
            }

            async fn offering_tree(
                &self,
                project_id: &str,
            ) -> Result<std::sync::Arc<$crate::OfferingTree>, $crate::StorageError> {
                read_together!(self, |view| Ok(offering_tree!(view, project_id)))
            }

            async fn list_offerings(
                &self,
                project_id: &str,
                page: &$crate::PageRequest,
            ) -> Result<$crate::Page<entitled_core::Offering>, $crate::StorageError> {
                $crate::shared::page_of!(self, $crate::shared::Listing::Offerings, project_id, None::<&str>, page, $crate::shared::offering_from_row)
            }

            async fn update_offering(
                &self,
                project_id: &str,
                id: &str,
                changes: &$crate::OfferingChanges,
                audit: &entitled_core::AuditEntry,
            ) -> Result<entitled_core::Offering, $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                lock_project(&mut tx, project_id).await?;
                require(&mut tx, "SELECT 1 AS found FROM offerings WHERE project_id = $1 AND id = $2",
                    project_id, id, "offering").await?;
                if let Some(name) = &changes.display_name {
                    sqlx::query("UPDATE offerings SET display_name = $3 WHERE project_id = $1 AND id = $2")
                        .bind(project_id).bind(id).bind(name)
                        .execute(&mut *tx).await?;
                }
                if let Some(metadata) = &changes.metadata {
                    sqlx::query("UPDATE offerings SET metadata = $3 WHERE project_id = $1 AND id = $2")
                        .bind(project_id).bind(id).bind(metadata.as_ref().map(|m| m.to_string()))
                        .execute(&mut *tx).await?;
                }
                if let Some(current) = changes.is_current {
                    if current {
                        sqlx::query("UPDATE offerings SET is_current = FALSE \
                                     WHERE project_id = $1 AND is_current AND id <> $2")
                            .bind(project_id).bind(id)
                            .execute(&mut *tx).await?;
                    }
                    sqlx::query("UPDATE offerings SET is_current = $3 WHERE project_id = $1 AND id = $2")
                        .bind(project_id).bind(id).bind(current)
                        .execute(&mut *tx).await?;
                }
                let sql = concat!("SELECT ", $crate::shared::offering_columns!(),
                    " FROM offerings WHERE project_id = $1 AND id = $2");
                let row = sqlx::query(sql).bind(project_id).bind(id).fetch_one(&mut *tx).await?;
                let offering = $crate::shared::offering_from_row(&row)?;
                insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(offering)
            }

            async fn delete_offering(
                &self,
                project_id: &str,
                id: &str,
                audit: &entitled_core::AuditEntry,
            ) -> Result<(), $crate::StorageError> {
                let tx = self.begin_write().await?;
                let sql = "DELETE FROM offerings WHERE project_id = $1 AND id = $2";
                if !delete_audited(tx, sql, project_id, id, audit).await? {
                    return Err($crate::StorageError::NotFound("offering"));
                }
                Ok(())
            }

            async fn create_package(
                &self,
                package: &entitled_core::Package,
                audit: &entitled_core::AuditEntry,
            ) -> Result<(), $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                require(&mut tx, "SELECT 1 AS found FROM offerings WHERE project_id = $1 AND id = $2",
                    &package.project_id, &package.offering_id, "offering").await?;
                sqlx::query(
                    "INSERT INTO packages (id, project_id, offering_id, lookup_key, display_name, position, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&package.id)
                .bind(&package.project_id)
                .bind(&package.offering_id)
                .bind(&package.lookup_key)
                .bind(&package.display_name)
                .bind(package.position)
                .bind(package.created_at.0)
                .execute(&mut *tx)
                .await?;
                insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn get_package(
                &self,
                project_id: &str,
                id: &str,
            ) -> Result<Option<entitled_core::Package>, $crate::StorageError> {
                let sql = concat!("SELECT ", $crate::shared::package_columns!(),
                    " FROM packages WHERE project_id = $1 AND id = $2");
                let found = select_all!(self, sql, [project_id, id], $crate::shared::package_from_row)?;
                Ok(found.into_iter().next())
            }

            async fn list_packages(
                &self,
                project_id: &str,
                offering_id: &str,
                page: &$crate::PageRequest,
            ) -> Result<$crate::Page<entitled_core::Package>, $crate::StorageError> {
                if self.get_offering(project_id, offering_id).await?.is_none() {
                    return Err($crate::StorageError::NotFound("offering"));
                }
                $crate::shared::page_of!(self, $crate::shared::Listing::PackagesOfOffering, offering_id, None::<&str>, page, $crate::shared::package_from_row)
            }

            async fn packages_of_offerings(
                &self,
                project_id: &str,
                offering_ids: &[String],
            ) -> Result<Vec<entitled_core::Package>, $crate::StorageError> {
                let sql = concat!("SELECT ", $crate::shared::package_columns!(),
                    " FROM packages WHERE project_id = $1 AND offering_id IN ", ids_in_param2!(),
                    " ORDER BY seq");
                select_all!(self, sql, [project_id, $crate::shared::json_ids(offering_ids)], $crate::shared::package_from_row)
            }

            async fn update_package(
                &self,
                project_id: &str,
                id: &str,
                changes: &$crate::PackageChanges,
                audit: &entitled_core::AuditEntry,
            ) -> Result<entitled_core::Package, $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                require(&mut tx, "SELECT 1 AS found FROM packages WHERE project_id = $1 AND id = $2",
                    project_id, id, "package").await?;
                if let Some(name) = &changes.display_name {
                    sqlx::query("UPDATE packages SET display_name = $3 WHERE project_id = $1 AND id = $2")
                        .bind(project_id).bind(id).bind(name)
                        .execute(&mut *tx).await?;
                }
                if let Some(position) = changes.position {
                    sqlx::query("UPDATE packages SET position = $3 WHERE project_id = $1 AND id = $2")
                        .bind(project_id).bind(id).bind(position)
                        .execute(&mut *tx).await?;
                }
                let sql = concat!("SELECT ", $crate::shared::package_columns!(),
                    " FROM packages WHERE project_id = $1 AND id = $2");
                let row = sqlx::query(sql).bind(project_id).bind(id).fetch_one(&mut *tx).await?;
                let package = $crate::shared::package_from_row(&row)?;
                insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(package)
            }

            async fn delete_package(
                &self,
                project_id: &str,
                id: &str,
                audit: &entitled_core::AuditEntry,
            ) -> Result<(), $crate::StorageError> {
                let tx = self.begin_write().await?;
                let sql = "DELETE FROM packages WHERE project_id = $1 AND id = $2";
                if !delete_audited(tx, sql, project_id, id, audit).await? {
                    return Err($crate::StorageError::NotFound("package"));
                }
                Ok(())
            }

            async fn attach_package_products(
                &self,
                project_id: &str,
                package_id: &str,
                products: &[(String, String)],
                now: entitled_core::UnixMillis,
                audit: &entitled_core::AuditEntry,
            ) -> Result<(), $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                require(&mut tx, "SELECT 1 AS found FROM packages WHERE project_id = $1 AND id = $2",
                    project_id, package_id, "package").await?;
                for (product_id, eligibility) in products {
                    let app_id = sqlx::query("SELECT app_id FROM products WHERE project_id = $1 AND id = $2")
                        .bind(project_id)
                        .bind(product_id)
                        .fetch_optional(&mut *tx)
                        .await?
                        .ok_or($crate::StorageError::NotFound("product"))?;
                    let app_id = $crate::shared::RowExt::text(&app_id, "app_id")?;
                    let existing = sqlx::query(
                        "SELECT product_id FROM package_products WHERE package_id = $1 AND app_id = $2",
                    )
                    .bind(package_id)
                    .bind(&app_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(existing) = existing {
                        if $crate::shared::RowExt::text(&existing, "product_id")? == *product_id {
                            continue;
                        }
                        return Err($crate::StorageError::Conflict(
                            "package_products_one_per_app".to_string(),
                        ));
                    }
                    sqlx::query(
                        "INSERT INTO package_products (package_id, product_id, app_id, eligibility_criteria, created_at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(package_id)
                    .bind(product_id)
                    .bind(&app_id)
                    .bind(eligibility)
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await?;
                }
                insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn detach_package_products(
                &self,
                project_id: &str,
                package_id: &str,
                product_ids: &[String],
                audit: &entitled_core::AuditEntry,
            ) -> Result<(), $crate::StorageError> {
                let mut tx = self.begin_write().await?;
                require(&mut tx, "SELECT 1 AS found FROM packages WHERE project_id = $1 AND id = $2",
                    project_id, package_id, "package").await?;
                for product_id in product_ids {
                    sqlx::query("DELETE FROM package_products WHERE package_id = $1 AND product_id = $2")
                        .bind(package_id)
                        .bind(product_id)
                        .execute(&mut *tx)
                        .await?;
                }
                insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_package_products(
                &self,
                project_id: &str,
                package_id: &str,
                page: &$crate::PageRequest,
            ) -> Result<$crate::Page<entitled_core::PackageProduct>, $crate::StorageError> {
                if self.get_package(project_id, package_id).await?.is_none() {
                    return Err($crate::StorageError::NotFound("package"));
                }
                $crate::shared::page_of!(self, $crate::shared::Listing::ProductsOfPackage, package_id, None::<&str>, page, $crate::shared::package_product_from_row)
            }

            async fn products_of_packages(
                &self,
                project_id: &str,
                package_ids: &[String],
            ) -> Result<Vec<(String, entitled_core::PackageProduct)>, $crate::StorageError> {
                let sql = concat!("SELECT package_products.package_id AS owner_id, ",
                    $crate::shared::product_columns!(),
                    ", package_products.eligibility_criteria FROM package_products \
                     JOIN products ON products.id = package_products.product_id \
                     WHERE products.project_id = $1 AND package_products.package_id IN ",
                    ids_in_param2!(), " ORDER BY package_products.seq");
                let ids = $crate::shared::json_ids(package_ids);
                select_all!(self, sql, [project_id, ids.as_str()], $crate::shared::owned_package_product_from_row)
            }
        }

        /// Fails with `NotFound(what)` unless `sql` ($1 project, $2 id) finds a row.
        async fn require(
            tx: &mut sqlx::Transaction<'_, Db>,
            sql: &'static str,
            project_id: &str,
            id: &str,
            what: &'static str,
        ) -> Result<(), $crate::StorageError> {
            let found = sqlx::query(sql)
                .bind(project_id)
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?;
            found.map(|_| ()).ok_or($crate::StorageError::NotFound(what))
        }
    };
}
pub(crate) use impl_catalog_store;
