--
-- PostgreSQL database dump
--

\restrict 6hzlhyHlDfLxzgcyobXQYYBWW9wOsP0ZHdzrMf1qCQ8ToE5ABVe1mJyzjS9jcCN

-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: authz_fixture_v1; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA authz_fixture_v1;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: authz_refresh_families; Type: TABLE; Schema: authz_fixture_v1; Owner: -
--

CREATE TABLE authz_fixture_v1.authz_refresh_families (
    id text NOT NULL,
    subject text NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    revoked_at bigint
);


--
-- Name: authz_refresh_tokens; Type: TABLE; Schema: authz_fixture_v1; Owner: -
--

CREATE TABLE authz_fixture_v1.authz_refresh_tokens (
    hash text NOT NULL,
    family_id text NOT NULL,
    issued_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    used_at bigint
);


--
-- Name: authz_revocations; Type: TABLE; Schema: authz_fixture_v1; Owner: -
--

CREATE TABLE authz_fixture_v1.authz_revocations (
    kind text NOT NULL,
    id text NOT NULL,
    until bigint NOT NULL
);


--
-- Name: authz_subject_marks; Type: TABLE; Schema: authz_fixture_v1; Owner: -
--

CREATE TABLE authz_fixture_v1.authz_subject_marks (
    subject text NOT NULL,
    mark bigint NOT NULL,
    until bigint NOT NULL
);


--
-- Name: authz_throttle; Type: TABLE; Schema: authz_fixture_v1; Owner: -
--

CREATE TABLE authz_fixture_v1.authz_throttle (
    key text NOT NULL,
    failures bigint NOT NULL,
    last_failure bigint NOT NULL
);


--
-- Name: authz_users; Type: TABLE; Schema: authz_fixture_v1; Owner: -
--

CREATE TABLE authz_fixture_v1.authz_users (
    id bigint NOT NULL,
    username text NOT NULL,
    email text,
    password_hash text NOT NULL,
    roles text DEFAULT ''::text NOT NULL,
    scopes text DEFAULT ''::text NOT NULL,
    created_at bigint NOT NULL
);


--
-- Name: authz_users_id_seq; Type: SEQUENCE; Schema: authz_fixture_v1; Owner: -
--

CREATE SEQUENCE authz_fixture_v1.authz_users_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: authz_users_id_seq; Type: SEQUENCE OWNED BY; Schema: authz_fixture_v1; Owner: -
--

ALTER SEQUENCE authz_fixture_v1.authz_users_id_seq OWNED BY authz_fixture_v1.authz_users.id;


--
-- Name: authz_users id; Type: DEFAULT; Schema: authz_fixture_v1; Owner: -
--

ALTER TABLE ONLY authz_fixture_v1.authz_users ALTER COLUMN id SET DEFAULT nextval('authz_fixture_v1.authz_users_id_seq'::regclass);


--
-- Data for Name: authz_refresh_families; Type: TABLE DATA; Schema: authz_fixture_v1; Owner: -
--

INSERT INTO authz_fixture_v1.authz_refresh_families VALUES ('0-mge5AxigKrb6GLKJnGHA', '1', 1764000000, 1765209600, NULL);
INSERT INTO authz_fixture_v1.authz_refresh_families VALUES ('fOTVMpfq-da7sdGl_jSsHg', '1', 1764000000, 1765209600, 1764000000);
INSERT INTO authz_fixture_v1.authz_refresh_families VALUES ('KhncThAFBMvzwHXAD8Gqcw', '1', 1764000000, 1765209600, 1764000010);


--
-- Data for Name: authz_refresh_tokens; Type: TABLE DATA; Schema: authz_fixture_v1; Owner: -
--

INSERT INTO authz_fixture_v1.authz_refresh_tokens VALUES ('96c15972bf295dafc338f469c8d4b3439a28c9501eb47c8fae9c8a62bfb5a4aa', '0-mge5AxigKrb6GLKJnGHA', 1764000000, 1764086400, 1764000000);
INSERT INTO authz_fixture_v1.authz_refresh_tokens VALUES ('ecb2286ea6b2c63a7fccc4303869339bcebc4665547ee9ce6d4399a899795531', '0-mge5AxigKrb6GLKJnGHA', 1764000000, 1764086400, NULL);
INSERT INTO authz_fixture_v1.authz_refresh_tokens VALUES ('bc7245d3e16cfeeefaf94c9d9767b4399bd25596c2953abf944c2042df2b5a6b', 'fOTVMpfq-da7sdGl_jSsHg', 1764000000, 1764086400, NULL);
INSERT INTO authz_fixture_v1.authz_refresh_tokens VALUES ('e57fd9497dd95d7c0e3b85d4350e9e69aa0b3aafd71796976b0b3c20931a2d1f', 'KhncThAFBMvzwHXAD8Gqcw', 1764000000, 1764086400, 1764000000);
INSERT INTO authz_fixture_v1.authz_refresh_tokens VALUES ('b16d0cdf14ef7e9cd6eb597bce7e833fb137e4bb65a3461408636f7369a641d3', 'KhncThAFBMvzwHXAD8Gqcw', 1764000000, 1764086400, NULL);


--
-- Data for Name: authz_revocations; Type: TABLE DATA; Schema: authz_fixture_v1; Owner: -
--

INSERT INTO authz_fixture_v1.authz_revocations VALUES ('jti', '2kaeeu1LlaWsFAPJhDckMw', 1764000360);
INSERT INTO authz_fixture_v1.authz_revocations VALUES ('sid', 'fOTVMpfq-da7sdGl_jSsHg', 1764000360);
INSERT INTO authz_fixture_v1.authz_revocations VALUES ('sid', 'KhncThAFBMvzwHXAD8Gqcw', 1764000370);


--
-- Data for Name: authz_subject_marks; Type: TABLE DATA; Schema: authz_fixture_v1; Owner: -
--

INSERT INTO authz_fixture_v1.authz_subject_marks VALUES ('2', 1764000009, 1764000430);


--
-- Data for Name: authz_throttle; Type: TABLE DATA; Schema: authz_fixture_v1; Owner: -
--

INSERT INTO authz_fixture_v1.authz_throttle VALUES ('ac:192.0.2.7:alice', 3, 1764000010);
INSERT INTO authz_fixture_v1.authz_throttle VALUES ('c:192.0.2.7', 3, 1764000010);
INSERT INTO authz_fixture_v1.authz_throttle VALUES ('a:alice', 3, 1764000010);


--
-- Data for Name: authz_users; Type: TABLE DATA; Schema: authz_fixture_v1; Owner: -
--

INSERT INTO authz_fixture_v1.authz_users VALUES (1, 'alice', 'alice@example.com', '$argon2id$v=19$m=19456,t=2,p=1$jOqCXjnJ2yVF6b7Rp+vkkQ$NEKGp4EAtz2GoLph9R2TYzSYRNlBvM7yBECdpvYo4gI', 'user admin', '', 1764000000);
INSERT INTO authz_fixture_v1.authz_users VALUES (2, 'bob', NULL, '$2b$12$KI2Cisx9l6GerAkKGZ3BjOWiTarDr42wPD68xVIkvVKKMuzRA.EMi', 'user', '', 1764000000);


--
-- Name: authz_users_id_seq; Type: SEQUENCE SET; Schema: authz_fixture_v1; Owner: -
--

SELECT pg_catalog.setval('authz_fixture_v1.authz_users_id_seq', 2, true);


--
-- Name: authz_refresh_families authz_refresh_families_pkey; Type: CONSTRAINT; Schema: authz_fixture_v1; Owner: -
--

ALTER TABLE ONLY authz_fixture_v1.authz_refresh_families
    ADD CONSTRAINT authz_refresh_families_pkey PRIMARY KEY (id);


--
-- Name: authz_refresh_tokens authz_refresh_tokens_pkey; Type: CONSTRAINT; Schema: authz_fixture_v1; Owner: -
--

ALTER TABLE ONLY authz_fixture_v1.authz_refresh_tokens
    ADD CONSTRAINT authz_refresh_tokens_pkey PRIMARY KEY (hash);


--
-- Name: authz_revocations authz_revocations_pkey; Type: CONSTRAINT; Schema: authz_fixture_v1; Owner: -
--

ALTER TABLE ONLY authz_fixture_v1.authz_revocations
    ADD CONSTRAINT authz_revocations_pkey PRIMARY KEY (kind, id);


--
-- Name: authz_subject_marks authz_subject_marks_pkey; Type: CONSTRAINT; Schema: authz_fixture_v1; Owner: -
--

ALTER TABLE ONLY authz_fixture_v1.authz_subject_marks
    ADD CONSTRAINT authz_subject_marks_pkey PRIMARY KEY (subject);


--
-- Name: authz_throttle authz_throttle_pkey; Type: CONSTRAINT; Schema: authz_fixture_v1; Owner: -
--

ALTER TABLE ONLY authz_fixture_v1.authz_throttle
    ADD CONSTRAINT authz_throttle_pkey PRIMARY KEY (key);


--
-- Name: authz_users authz_users_email_key; Type: CONSTRAINT; Schema: authz_fixture_v1; Owner: -
--

ALTER TABLE ONLY authz_fixture_v1.authz_users
    ADD CONSTRAINT authz_users_email_key UNIQUE (email);


--
-- Name: authz_users authz_users_pkey; Type: CONSTRAINT; Schema: authz_fixture_v1; Owner: -
--

ALTER TABLE ONLY authz_fixture_v1.authz_users
    ADD CONSTRAINT authz_users_pkey PRIMARY KEY (id);


--
-- Name: authz_users authz_users_username_key; Type: CONSTRAINT; Schema: authz_fixture_v1; Owner: -
--

ALTER TABLE ONLY authz_fixture_v1.authz_users
    ADD CONSTRAINT authz_users_username_key UNIQUE (username);


--
-- Name: authz_refresh_families_subject; Type: INDEX; Schema: authz_fixture_v1; Owner: -
--

CREATE INDEX authz_refresh_families_subject ON authz_fixture_v1.authz_refresh_families USING btree (subject);


--
-- Name: authz_refresh_tokens_family; Type: INDEX; Schema: authz_fixture_v1; Owner: -
--

CREATE INDEX authz_refresh_tokens_family ON authz_fixture_v1.authz_refresh_tokens USING btree (family_id);


--
-- PostgreSQL database dump complete
--

\unrestrict 6hzlhyHlDfLxzgcyobXQYYBWW9wOsP0ZHdzrMf1qCQ8ToE5ABVe1mJyzjS9jcCN

