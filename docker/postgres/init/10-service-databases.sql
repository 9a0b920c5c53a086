-- Runs once, when the postgres volume is first initialised (docker-entrypoint-initdb.d).
--
-- One database and one login role per service: a service owns its database (ARCHITECTURE.md), and
-- separate roles turn a cross-database query into a permission error instead of a convention.
-- The passwords only protect a local docker-compose stack; docker-compose.yml repeats them in the
-- services' *_DATABASE_URL, and tests/compose.test.ts checks the two agree.

CREATE ROLE orders LOGIN PASSWORD 'orders';
CREATE DATABASE orders OWNER orders;
REVOKE CONNECT ON DATABASE orders FROM PUBLIC;

CREATE ROLE shipping LOGIN PASSWORD 'shipping';
CREATE DATABASE shipping OWNER shipping;
REVOKE CONNECT ON DATABASE shipping FROM PUBLIC;

CREATE ROLE notifier LOGIN PASSWORD 'notifier';
CREATE DATABASE notifier OWNER notifier;
REVOKE CONNECT ON DATABASE notifier FROM PUBLIC;
