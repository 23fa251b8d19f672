"""ModelRouter: LLM code actions routed to the cheapest model that can do them."""

__version__ = "0.1.0"
