-- Two roles, neither able to bypass row-level security. sethub_owner owns the database, its
-- schema and tables, and runs the migrations (`sethub migrate` with database.migrate_url),
-- which grant sethub_app its rights. sethub_app is what the services run as: table rights
-- only, it owns nothing, so it cannot turn row-level security off.
CREATE ROLE sethub_owner LOGIN PASSWORD 'sethub-owner' NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
CREATE ROLE sethub_app LOGIN PASSWORD 'sethub' NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
CREATE DATABASE sethub OWNER sethub_owner;
