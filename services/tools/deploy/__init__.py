"""Deploy artefacts and their checks: topics, JSON Schemas, the generated reference, compose and k8s."""
