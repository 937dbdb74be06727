-- Runs once, when the postgres container initialises an empty volume
-- (/docker-entrypoint-initdb.d). The image has already created the `certreg` role
-- (POSTGRES_USER, SCRAM password from POSTGRES_PASSWORD) and database (POSTGRES_DB).
-- As in anchor/services/postgres.py: only the owner may connect to the registry database.
REVOKE ALL ON DATABASE certreg FROM PUBLIC;
