"""Provider adapters. `make_backend` builds one from its rules entry."""
