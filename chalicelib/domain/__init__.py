"""Pure domain: models, value objects and rules (no AWS, Kubernetes, LLM or HTTP)."""
