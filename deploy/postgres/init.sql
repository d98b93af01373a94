-- The services' role: it owns sethub's tables but can never bypass row-level security.
CREATE ROLE sethub_app LOGIN PASSWORD 'sethub' NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
CREATE DATABASE sethub OWNER sethub_app;
