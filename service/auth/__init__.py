"""Authentication pieces shared by the HTTP app and the CLI."""
