"""Identity: JWTs per the contract and the users they name."""
