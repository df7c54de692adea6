-- Pre-registered OAuth client settings of a server: the token endpoint
-- authentication method ('' = chosen from the authorization server's
-- metadata) and the scopes to request ('{}' = discover them). With
-- private_key_jwt, oauth_client_secret holds the sealed PEM private key.
ALTER TABLE servers
    ADD COLUMN oauth_auth_method text NOT NULL DEFAULT '',
    ADD COLUMN oauth_scopes      text[] NOT NULL DEFAULT '{}';
