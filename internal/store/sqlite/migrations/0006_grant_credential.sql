-- What a JWT-bearer connection presents again for each new access token
-- (a workload identity assertion, or an identity provider ID token to
-- exchange), sealed; NULL for other grants.
ALTER TABLE connections ADD COLUMN grant_credential BLOB;
