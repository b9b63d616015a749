-- The lake in StarRocks: an external Paimon catalog on the JDBC metastore (PostgreSQL),
-- the same catalog the platform writes through. `paimon.catalog.type = jdbc` is passed
-- through to Paimon with `paimon.option.*` (StarRocks 3.3; see README for the
-- filesystem-catalog fallback). Values are bound by the driver, never formatted in.
CREATE EXTERNAL CATALOG IF NOT EXISTS paimon_lake
COMMENT "Paimon lakehouse (ODS and dimensions), JDBC metastore"
PROPERTIES (
    "type" = "paimon",
    "paimon.catalog.type" = "jdbc",
    "paimon.catalog.warehouse" = %(warehouse)s,
    "paimon.option.uri" = %(jdbc_uri)s,
    "paimon.option.jdbc.user" = %(jdbc_user)s,
    "paimon.option.jdbc.password" = %(jdbc_password)s,
    "paimon.option.catalog-key" = %(catalog_key)s,
    "aws.s3.endpoint" = %(s3_endpoint)s,
    "aws.s3.region" = %(s3_region)s,
    "aws.s3.access_key" = %(s3_access_key)s,
    "aws.s3.secret_key" = %(s3_secret_key)s,
    "aws.s3.enable_path_style_access" = "true"
);
CREATE DATABASE IF NOT EXISTS dwd;
CREATE DATABASE IF NOT EXISTS dws
