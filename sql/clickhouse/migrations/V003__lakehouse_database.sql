-- The embedded warehouse: DWD/DWS models computed by chDB from the Paimon lake
-- (analytics_assets/resources/warehouse.py); StarRocks holds them in production.
CREATE DATABASE IF NOT EXISTS lakehouse
