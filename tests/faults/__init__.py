"""Fault injection: AWS errors, a failing Kubernetes API, a misbehaving LLM, failing
workflow steps. Each test shows what the caller gets and that nothing is lost or doubled."""
